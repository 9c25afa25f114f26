"""Writes for the scaling app: a finished run's verdict, fits and diagnostics.

Rows become arrays here; the maths lives in laws.py, verdict.py, selection.py
and diagnostics.py, which know nothing of Django.
"""

import logging
import math
from collections import defaultdict
from datetime import timedelta

import numpy as np
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from annotation.models import BatchItem, Project
from scaling import diagnostics, laws, selection, verdict
from scaling.models import LawPrediction, Verdict
from scaling.selectors import gold_loss, label_check_arrays, law_predictions
from scaling.tasks import verdict_compute_task
from training.ml.finetune import DEFAULT_LEARNING_RATE
from training import services as training_services
from training.models import Prediction, Run, RungJob

logger = logging.getLogger(__name__)

MIN_RUNGS_FOR_A_VERDICT = 2
# A bug or bad data fails a verdict every time: the sweep tries again after a
# doubling wait (10, 20, 40, 80 minutes) and gives up after the fifth failure.
VERDICT_RETRY_AFTER = timedelta(minutes=10)
VERDICT_ATTEMPTS = 5


def larger_half(rungs: int) -> int:
    """How many of the largest rungs must agree against a label to make it a suspect.

    The larger half of the ladder, at least two: on a three-rung ladder the
    smallest rung, which may not have learned the task at all, has no say.
    """
    return max(2, math.ceil(rungs / 2))


def _as_answer(option: str, *, positive: str | None, abstain: tuple):
    """What verdict.py scores: True/False for the positive class, or the option itself for macro-F1
    (`positive` None); None, an abstention to verdict.py (always wrong), for abstentions."""
    if option in abstain:
        return None
    return option if positive is None else option == positive


def _chosen_probability(scores: dict) -> float:
    """Softmax probability of the best option: how sure the rung was."""
    values = np.array(list(scores.values()), dtype=float)
    if values.size == 0 or not np.all(np.isfinite(values)):
        return 0.0
    values = np.exp(values - values.max())
    return float(values.max() / values.sum())


def run_eval_arrays(*, run: Run) -> dict:
    """Eval items of the run's batch with labels, categories and each rung's predictions."""
    project = run.batch.project
    eval_rows = list(
        BatchItem.objects.filter(batch=run.batch, split=BatchItem.EVAL)
        .order_by("item_id")
        .values_list("item_id", "label", "item__category")
    )
    item_ids = [row[0] for row in eval_rows]
    labels = {row[0]: row[1] for row in eval_rows}
    jobs = list(
        run.rung_jobs.full().select_related("rung").order_by("rung__order")
    )
    by_job: dict[int, dict[str, dict[int, tuple]]] = defaultdict(lambda: defaultdict(dict))
    for job_id, stage, item_id, option, scores, margin in Prediction.objects.filter(
        rung_job__in=[job for job in jobs if job.status == RungJob.DONE]
    ).values_list("rung_job_id", "stage", "item_id", "option", "scores", "margin"):
        by_job[job_id][stage][item_id] = (option, scores, margin)
    return {
        "project": project,
        "item_ids": item_ids,
        "labels": labels,
        "categories": [row[2] for row in eval_rows],
        "jobs": jobs,
        "predictions": by_job,
    }


def _stage_result(arrays: dict, jobs: list[RungJob], stage: str) -> dict:
    project = arrays["project"]
    abstain = verdict.project_abstentions(project.abstain_options)
    positive = project.metric_positive
    item_ids = arrays["item_ids"]
    labels = arrays["labels"]
    y_true = [labels[item] if positive is None else labels[item] == positive for item in item_ids]
    sizes = [float(job.rung.parameters) for job in jobs]
    names = [job.rung.name for job in jobs]
    predicted, confidence, margins = [], [], []
    for job in jobs:
        rows = arrays["predictions"][job.pk][stage]
        predicted.append(
            [_as_answer(rows.get(item, ("",))[0], positive=positive, abstain=abstain) for item in item_ids]
        )
        confidence.append([_chosen_probability(rows[item][1]) if item in rows else 0.0 for item in item_ids])
        margins.append(
            [rows[item][2] if item in rows and rows[item][2] is not None else -math.inf for item in item_ids]
        )
    scored_positive = None if positive is None else True
    result = verdict.monotonicity(sizes, y_true, predicted, positive=scored_positive, names=names)
    # AUC ranks the positive option's margin: a macro-F1 task has none.
    auc = {} if positive is None else verdict.auc_by_size(sizes, y_true, margins, positive=True)
    return {
        "result": result,
        "sizes": sizes,
        "names": names,
        "y_true": y_true,
        "predicted": predicted,
        "positive": scored_positive,
        "confidence": confidence,
        "auc": {name: auc.get(size) for name, size in zip(names, sizes)},
    }


def _learning_curves(run: Run, arrays: dict) -> dict:
    """Per rung: loss (NLL of the labelled option on eval) by train size, its standard error, fits, AtS."""
    if not run.learning_curve:
        return {}
    curves: dict[str, dict] = {}
    errors: dict[str, dict] = {}
    jobs = run.rung_jobs.subsets().filter(status=RungJob.DONE).select_related("rung")
    for job in jobs:
        size = job.train_size or run.batch.train_count
        losses = np.array([
            gold_loss(scores, arrays["labels"][item])
            for item, scores in Prediction.objects.filter(
                rung_job=job, stage=Prediction.TUNED
            ).values_list("item_id", "scores")
            if item in arrays["labels"]
        ], dtype=float)
        losses = losses[np.isfinite(losses)]
        if len(losses):
            curves.setdefault(job.rung.name, {})[size] = float(losses.mean())
            # The mean's standard error over eval items: what planning's bootstrap redraws a point with.
            errors.setdefault(job.rung.name, {})[size] = (
                float(losses.std(ddof=1) / math.sqrt(len(losses))) if len(losses) > 1 else None
            )
    out = {}
    for name, points in curves.items():
        sizes = sorted(points)
        entry = {"points": [[size, points[size]] for size in sizes],
                 "stderr": [errors[name][size] for size in sizes]}
        if len(sizes) >= 4:
            entry["rectified"] = laws.fit_rectified(sizes, [points[s] for s in sizes]).to_dict()
            ats = selection.accept_then_stop(points, target_size=max(sizes) * 2)
            entry["accept_then_stop"] = ats.to_dict()
        out[name] = entry
    return out


def batch_suspects(*, run: Run) -> dict | None:
    """The whole batch's label issues, each with its split and annotator; None without a finished label check."""
    arrays = label_check_arrays(run=run)
    if arrays is None:
        return None
    issues = diagnostics.label_issues(
        arrays["item_ids"], arrays["labels"], arrays["classes"], arrays["probabilities"], arrays["judges"],
        annotators=[arrays["annotators"][item_id] for item_id in arrays["item_ids"]],
    )
    suspects = [
        {**issue.to_dict(), "split": arrays["splits"][issue.item_id], "annotator": arrays["annotators"][issue.item_id]}
        for issue in issues
    ]
    answers = diagnostics.ladder_answers(arrays["labels"], arrays["classes"], arrays["probabilities"])
    agrees = {
        item_id: answer == label for item_id, label, answer in zip(arrays["item_ids"], arrays["labels"], answers)
    }
    by_annotator: dict[str, dict] = {}
    for item_id, annotator in arrays["annotators"].items():
        entry = by_annotator.setdefault(
            annotator, {"annotator": annotator, "labels": 0, "suspects": 0, "agreeing": 0}
        )
        entry["labels"] += 1
        entry["agreeing"] += agrees[item_id]
    for suspect in suspects:
        by_annotator[suspect["annotator"]]["suspects"] += 1
    annotators = sorted(by_annotator.values(), key=lambda entry: (-entry["suspects"], entry["annotator"]))
    for entry in annotators:
        entry["suspect_share"] = entry["suspects"] / entry["labels"] if entry["labels"] else 0.0
        # How often the judges' pooled answer, as the queue weighs them, is the annotator's label.
        entry["ladder_agreement"] = entry.pop("agreeing") / entry["labels"] if entry["labels"] else 0.0
    return {
        "suspects": suspects,
        "scope": {"items": len(arrays["item_ids"]), "judges": arrays["judges"], "folds": run.label_check["folds"]},
        "annotators": annotators,
    }


def _suspect_summary(suspects: list, checked: dict | None) -> str:
    """How many suspects, their share of the batch, and whether one annotator gave most of them."""
    if checked is None:
        return f"{len(suspects)} suspect labels queued for review."
    if not suspects:
        return (
            f"the judging rungs ({', '.join(checked['scope']['judges'])}) find no label to doubt among "
            f"{checked['scope']['items']} items: the labels look clean."
        )
    share = len(suspects) / max(1, checked["scope"]["items"])
    text = f"{len(suspects)} suspect labels (about {share:.0%} of the batch)"
    top = checked["annotators"][0]
    if len(checked["annotators"]) > 1 and top["suspects"] > len(suspects) / 2:
        text += f", {top['suspects']} of them from one annotator ({top['annotator']})"
    return text + " — review the queue."


# The stored kind for each verdict of scaling.verdict.monotonicity.
KIND_FOR_VERDICT = {
    verdict.MONOTONE: Verdict.MONOTONE,
    verdict.BREAK: Verdict.BREAK,
    verdict.FLAT: Verdict.FLAT,
    verdict.TOO_FEW_ITEMS: Verdict.TOO_FEW_ITEMS,
}


def _message(
    kind: str, tuned, diagnosis, suspects: list, missing: list[str], checked: dict | None = None,
    checking: bool = False,
) -> str:
    """The banner sentence for `kind`; the diagnosis follows the same verdict, so they agree."""
    parts = []
    if missing:
        parts.append(f"Missing rungs: {', '.join(missing)} (failed or cancelled).")
    if kind == Verdict.INCOMPLETE:
        parts.append("Too few rungs finished for a verdict.")
        return " ".join(parts)
    if kind == Verdict.MONOTONE:
        parts.append(
            f"{diagnostics.metric_label(tuned.metric)} rises with size: {tuned.f1[0]:.2f} at {tuned.names[0]} to {tuned.f1[-1]:.2f} at {tuned.names[-1]}."
        )
        if checked is not None:
            parts.append(f"Labels: {_suspect_summary(suspects, checked)}")
    elif kind == Verdict.FLAT:
        queued = (
            _suspect_summary(suspects, checked)
            if suspects or checked is not None
            else (
                "no label stands out in the eval split; the judging rungs are now checking every label."
                if checking
                else "no label stands out in the eval split: check every label from the run page."
            )
        )
        parts.append(f"{diagnostics.metric_label(tuned.metric)} is flat or falling from {tuned.names[0]} to {tuned.names[-1]}: likely the data — {queued}")
    else:
        parts.append(diagnosis.message)
        if checked is not None:
            parts.append(f"Labels: {_suspect_summary(suspects, checked)}")
    return " ".join(parts)


def verdict_attempt(*, run_id: int, now=None) -> Verdict | None:
    """`verdict_compute` as a worker runs it: a failure is recorded on the run, then raised again.

    The run keeps the error, which its page shows, and when the recovery
    sweep (`selectors.runs_missing_a_verdict`) may try again: VERDICT_RETRY_AFTER
    after the first failure, twice as long after each next one, and never
    after VERDICT_ATTEMPTS. A verdict stored clears the record.
    """
    try:
        return verdict_compute(run_id=run_id)
    except Exception as error:
        _verdict_failure_record(run_id=run_id, error=error, now=now or timezone.now())
        raise


class VerdictRetryRefused(ValidationError):
    """A verdict that cannot be computed again: the run is still open, or its verdict is stored."""


@transaction.atomic
def verdict_retry(*, run: Run) -> Run:
    """Compute a finished run's missing verdict again, now, with the failures forgotten.

    For a verdict that failed, after the sweep gave up or before its next try:
    the attempts start over (the sweep again tries VERDICT_ATTEMPTS times)
    and the task is queued once this commits. Refused (VerdictRetryRefused)
    for a run still open or one whose verdict is stored.
    """
    run = Run.objects.select_for_update().get(pk=run.pk)
    if not run.is_final:
        raise VerdictRetryRefused(f"run {run.pk} is {run.status}; its verdict is computed once it has finished")
    if Verdict.objects.filter(run=run).exists():
        raise VerdictRetryRefused(f"run {run.pk} already has its verdict")
    run.verdict_failures, run.verdict_error, run.verdict_retry_at = 0, "", None
    run.save(update_fields=["verdict_failures", "verdict_error", "verdict_retry_at"])
    run_id = run.pk
    transaction.on_commit(lambda: verdict_compute_task.delay(run_id))
    return run


@transaction.atomic
def _verdict_failure_record(*, run_id: int, error: Exception, now) -> None:
    run = Run.objects.select_for_update().filter(pk=run_id).first()
    if run is None:  # deleted since the task was queued
        return
    run.verdict_failures += 1
    run.verdict_error = f"{type(error).__name__}: {error}"
    run.verdict_retry_at = (
        now + VERDICT_RETRY_AFTER * 2 ** (run.verdict_failures - 1)
        if run.verdict_failures < VERDICT_ATTEMPTS
        else None
    )
    run.save(update_fields=["verdict_failures", "verdict_error", "verdict_retry_at"])


@transaction.atomic
def verdict_compute(*, run_id: int) -> Verdict | None:
    """Compute and store the run's verdict; recomputing replaces it (idempotent)."""
    run = Run.objects.select_related("batch__project", "ladder").get(pk=run_id)
    arrays = run_eval_arrays(run=run)
    jobs = arrays["jobs"]
    done = [job for job in jobs if job.status == RungJob.DONE]
    missing = [job.rung.name for job in jobs if job.status in {RungJob.FAILED, RungJob.CANCELLED}]
    provenance = {
        "batch": run.batch.content_hash,
        "batch_name": run.batch.name,
        "ladder": run.ladder.name,
        "code_version": run.code_version,
        "rungs": [
            {"name": job.rung.name, "parameters": job.rung.parameters, "hyperparameters": job.hyperparameters}
            for job in jobs
        ],
    }
    fields = {"missing_rungs": missing, "provenance": provenance}
    if len(done) < MIN_RUNGS_FOR_A_VERDICT or not arrays["item_ids"]:
        fields.update(kind=Verdict.INCOMPLETE, message=_message(Verdict.INCOMPLETE, None, None, [], missing))
        fields.update(tuned={}, base={}, fits={}, diagnostics={}, suspects=[])
    else:
        tuned = _stage_result(arrays, done, Prediction.TUNED)
        base = _stage_result(arrays, done, Prediction.BASE)
        result = tuned["result"]
        learning_rates = [job.hyperparameters.get("lr", DEFAULT_LEARNING_RATE) for job in done]
        diagnosis = diagnostics.diagnose_rungs(result, learning_rates=learning_rates)
        checked = batch_suspects(run=run)
        suspects = (
            [suspect.to_dict() for suspect in diagnostics.suspect_items(
                arrays["item_ids"], tuned["y_true"], tuned["predicted"], tuned["confidence"],
                top_sizes=larger_half(len(done)),
            )]
            if checked is None
            else checked["suspects"]
        )
        growth = (
            diagnostics.category_growth(
                tuned["sizes"], tuned["y_true"], tuned["predicted"], arrays["categories"],
                positive=tuned["positive"], names=tuned["names"],
            ).to_dict()
            if any(arrays["categories"])
            else None
        )
        fits = {}
        if len(done) >= 3:
            power = laws.fit_power(tuned["sizes"], [1 - f for f in result.f1])
            next_size = tuned["sizes"][-1] * 2
            fits["power"] = {
                **power.to_dict(),
                "next_size": next_size,
                "next_f1": float(1 - power.predict(next_size)),
            }
        curves = _learning_curves(run, arrays)
        if curves:
            fits["learning_curves"] = curves
        kind = KIND_FOR_VERDICT[result.verdict]
        checking = label_check_is_due(run=run, kind=kind)
        fields.update(
            kind=kind,
            message=_message(kind, result, diagnosis, suspects, missing, checked, checking),
            tuned={**result.to_dict(), "auc": tuned["auc"]},
            base={**base["result"].to_dict(), "auc": base["auc"]},
            fits=fits,
            diagnostics={
                "rungs": diagnosis.to_dict(),
                "categories": growth,
                "label_check": None if checked is None else {
                    "scope": checked["scope"], "annotators": checked["annotators"],
                },
            },
            suspects=suspects,
        )
    found, _ = Verdict.objects.update_or_create(run=run, defaults=fields)
    law_predictions_record(verdict=found)
    if run.verdict_failures:
        # Stored at last: the sweep has nothing left to try, the run page no error to show.
        Run.objects.filter(pk=run.pk).update(verdict_failures=0, verdict_error="", verdict_retry_at=None)
    if label_check_is_due(run=run, kind=found.kind):
        label_check_start(run=run)
    return found


@transaction.atomic
def law_predictions_record(*, verdict: Verdict) -> list[LawPrediction]:
    """Store what the verdict's laws predict for later batches (`selectors.law_predictions`), with their inputs.

    One row per run, rung, law and train size: recomputing the verdict updates
    them in place, and drops those its learning curves no longer predict.
    """
    run = verdict.run
    rungs = {rung.name: rung for rung in run.ladder.rungs.all()}
    stored = []
    for row in law_predictions(verdict=verdict):
        rung = rungs[row.pop("rung")]
        prediction, _ = LawPrediction.objects.update_or_create(
            run=run, rung=rung, law=row.pop("law"), train_size=row.pop("train_size"), defaults=row
        )
        stored.append(prediction)
    LawPrediction.objects.filter(run=run).exclude(pk__in=[prediction.pk for prediction in stored]).delete()
    return stored


# Verdicts that send every label of the batch to the judging rungs, where the project asks for it.
NOT_MONOTONE_KINDS = (Verdict.FLAT, Verdict.BREAK)


def label_check_is_due(*, run: Run, kind: str) -> bool:
    """A verdict that is not monotone starts a label check, unless the run is one or the project says no."""
    return (
        kind in NOT_MONOTONE_KINDS
        and not run.label_check
        and run.rerun_of_id is None
        and run.batch.project.label_check == Project.LABEL_CHECK_NOT_MONOTONE
    )


def label_check_start(*, run: Run) -> Run | None:
    """Request the label-checking run of `run`; None when the batch cannot be split into folds."""
    try:
        return training_services.label_check_request(run=run, requested_by=run.requested_by)
    except ValidationError as error:
        logger.warning("run %s: no label check: %s", run.pk, "; ".join(error.messages))
        return None
