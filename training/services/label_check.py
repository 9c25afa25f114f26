"""Cross-fitted label checking: settings, the jobs it adds, and the content address of every job's result.

A label check fine-tunes the judging rungs (by default the larger half of the
ladder, at least two) on K folds of the train split, each time without one
fold, and scores the fold left out: every train item gets an opinion from
models that never saw its label. Eval items keep the full fine-tune's.

Judges are trained longer than the verdict's rungs (`epochs_factor`): the
queue's precision is bounded by how often the judges themselves are wrong,
and on the demo ladder doubling the epochs lifted the share of planted
errors in the top of the queue from about half to three quarters.

Every job's result is content-addressed (`job_result_key`): the exact
training rows, the prompts it scores, the rung's checkpoint, the settings
and the code. A job whose key a done job already has is copied, not trained
again, so a re-freeze that leaves a fold's training rows alone reuses that
fold's job.
"""

import hashlib
import json
import math
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from annotation.exports import frozen_records
from annotation.models import LABEL_CHECK_MAX_EPOCHS_FACTOR as MAX_EPOCHS_FACTOR
from annotation.models import LABEL_CHECK_MAX_FOLDS as MAX_FOLDS
from annotation.models import LABEL_CHECK_MIN_EPOCHS_FACTOR as MIN_EPOCHS_FACTOR
from annotation.models import LABEL_CHECK_MIN_FOLDS as MIN_FOLDS
from annotation.models import Batch, BatchItem, Project
from training.examples import train_folds
from training.models import Ladder, Rung


def judging_rungs_default(rungs: list[Rung]) -> list[Rung]:
    """The larger half of the ladder, at least two (all of a ladder of two or fewer)."""
    count = max(2, math.ceil(len(rungs) / 2))
    return rungs[-count:]


def label_check_config(
    *,
    ladder: Ladder,
    project: Project,
    folds: int | None = None,
    rungs: list[str] | None = None,
    epochs_factor: float | None = None,
) -> dict:
    """Validated label-check settings for `ladder`: {"folds", "rungs", "epochs_factor"}.

    Folds and epochs factor left out are `project`'s settings.

    Refused (ValidationError naming each field) for a fold count out of
    2…10, an unknown rung, or an epochs factor out of [0.1, 10].
    """
    ladder_rungs = list(ladder.rungs.order_by("order"))
    errors: dict[str, list[str]] = {}
    folds = project.label_check_folds if folds is None else folds
    if isinstance(folds, bool) or not isinstance(folds, int) or not MIN_FOLDS <= folds <= MAX_FOLDS:
        errors["folds"] = [f"folds: {folds!r} is not a whole number from {MIN_FOLDS} to {MAX_FOLDS}"]
    by_name = {rung.name: rung for rung in ladder_rungs}
    if rungs is None:
        names = [rung.name for rung in judging_rungs_default(ladder_rungs)]
    else:
        unknown = [name for name in rungs if name not in by_name]
        if unknown:
            errors["rungs"] = [f"rungs: {', '.join(map(repr, unknown))} not on ladder {ladder.name!r}"]
        elif not rungs:
            errors["rungs"] = ["rungs: name at least one judging rung"]
        names = [rung.name for rung in ladder_rungs if rung.name in set(rungs)]
    factor = project.label_check_epochs_factor if epochs_factor is None else epochs_factor
    if (
        isinstance(factor, bool)
        or not isinstance(factor, (int, float))
        or not math.isfinite(factor)
        or not MIN_EPOCHS_FACTOR <= factor <= MAX_EPOCHS_FACTOR
    ):
        errors["epochs_factor"] = [f"epochs_factor: {factor!r} is out of range; allowed: [{MIN_EPOCHS_FACTOR:g}, {MAX_EPOCHS_FACTOR:g}]"]
    if errors:
        raise ValidationError(errors)
    return {"folds": folds, "rungs": names, "epochs_factor": float(factor)}


def judge_hyperparameters(effective: dict, *, config: dict) -> dict:
    """A judging rung's settings: its own, with the epochs scaled by the check's factor."""
    from training.ml.finetune import LoraConfigValues

    epochs = float(effective.get("epochs", LoraConfigValues.epochs))
    return {**effective, "epochs": epochs * config["epochs_factor"]}


def _digest(lines) -> str:
    digest = hashlib.sha256()
    for line in lines:
        digest.update(json.dumps(line, ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()


@dataclass(frozen=True)
class BatchDigests:
    """Digests of a batch's rows, from which each job's result key is made.

    Training rows are (instruction, output) in export order; scored rows are
    (item id, instruction, choices), which no label changes.
    """

    train: str
    eval_scored: str
    folds: int | None
    # fold → (digest of the other folds' training rows, digest of the fold's scored rows)
    by_fold: dict[int, tuple[str, str]]


def batch_digests(*, batch: Batch, folds: int | None) -> BatchDigests | None:
    """None for a batch frozen before records were stored: its jobs have no address, and its
    training fails with that reason on the worker."""
    try:
        train = list(frozen_records(batch=batch, split=BatchItem.TRAIN))
        evaluated = list(frozen_records(batch=batch, split=BatchItem.EVAL))
    except ValueError:
        return None
    by_fold = {}
    if folds:
        fold_of = train_folds(batch=batch, folds=folds)
        for fold in range(folds):
            by_fold[fold] = (
                _digest([r.instruction, r.output] for r in train if fold_of[r.item_id] != fold),
                _digest([r.item_id, r.instruction, r.choices] for r in train if fold_of[r.item_id] == fold),
            )
    return BatchDigests(
        train=_digest([r.instruction, r.output] for r in train),
        eval_scored=_digest([r.item_id, r.instruction, r.choices] for r in evaluated),
        folds=folds,
        by_fold=by_fold,
    )


def job_result_key(
    *,
    digests: BatchDigests | None,
    rung: Rung,
    hyperparameters: dict,
    train_size: int | None,
    fold: int | None,
    provenance: dict,
) -> str:
    """sha256 of everything a rung job's stored result depends on, and nothing else ("" without digests)."""
    if digests is None:
        return ""
    if fold is None:
        rows, scored = digests.train, digests.eval_scored
    else:
        rows, scored = digests.by_fold[fold]
    payload = {
        "rows": rows,
        "scored": scored,
        "base_scored": fold is None,
        "train_size": train_size,
        "fold": None if fold is None else [fold, digests.folds],
        "checkpoint": [rung.name, rung.checkpoint_path, provenance["checkpoints"].get(rung.name, "")],
        "hyperparameters": hyperparameters,
        "sources": provenance["sources"],
        "libraries": provenance["libraries"],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def train_split_folds_check(*, batch: Batch, folds: int) -> None:
    """Refuse a label check whose folds would leave one empty (fewer train chats than folds)."""
    sizes = [0] * folds
    for fold in train_folds(batch=batch, folds=folds).values():
        sizes[fold] += 1
    empty = [str(fold + 1) for fold, size in enumerate(sizes) if size == 0]
    if empty:
        raise ValidationError(
            {"folds": f"folds: fold {', '.join(empty)} of {folds} holds no train item of batch {batch.name!r}; "
                      "use fewer folds or a batch with more chats"}
        )
