"""Frozen batches and finished runs written straight to the database, for verdict tests.

Each rung's predictions are drawn to hit a chosen accuracy, so a ladder of
accuracies gives a verdict without training anything.
"""

import math
import random

from django.utils import timezone

from annotation.models import Annotation, Batch, BatchItem
from tests.annotation.assignments.test_assignment_claim import make_items
from training.models import Ladder, Prediction, Rung, RungJob, Run

POSITIVE, NEGATIVE = "extraction", "no_extraction"


def make_labelled_items(project, annotator, count: int) -> dict:
    """`count` items labelled alternately negative and positive, in two categories: {item: label}."""
    labels = {}
    for index, item in enumerate(make_items(project, count)):
        label = POSITIVE if index % 2 else NEGATIVE
        annotation = Annotation.objects.create(item=item, annotator=annotator, option=label, guideline_version=1)
        item.category = "easy" if index % 3 else "hard"
        item.current_annotation, item.label = annotation, label
        item.save(update_fields=["category", "current_annotation", "label"])
        labels[item] = label
    return labels


def make_batch(project, labels: dict, *, name: str) -> Batch:
    """A frozen batch holding every item of `labels` in its eval split with that label."""
    batch = Batch.objects.create(
        project=project, name=name, status=Batch.FROZEN, content_hash=f"{name:0>64}"[-64:],
        frozen_at=timezone.now(), eval_count=len(labels),
    )
    for item, label in labels.items():
        annotation = item.current_annotation or Annotation.objects.filter(item=item).first()
        BatchItem.objects.create(batch=batch, item=item, annotation=annotation, label=label, split=BatchItem.EVAL)
    return batch


def make_ladder(name: str, rungs: int) -> Ladder:
    ladder = Ladder.objects.create(name=name)
    for order in range(rungs):
        Rung.objects.create(
            ladder=ladder, order=order, name=f"r{order}", checkpoint_path="/x", parameters=10 ** (6 + order),
            hyperparameters={"lr": 2e-4},
        )
    return ladder


def _option(label: str, right: bool) -> str:
    return label if right else (NEGATIVE if label == POSITIVE else POSITIVE)


def make_run(batch, ladder, *, accuracies, seed=0, wrong_items=(), failed=(), truth=None) -> Run:
    """A finished run whose rung i answers right with probability accuracies[i].

    Right means the batch label, or `truth[item_id]` when given (e.g. the
    items' hidden gold, for a ladder that learned the task despite noisy
    labels). Items in `wrong_items` are answered against it by every rung, confidently.
    """
    rng = random.Random(seed)
    labels = dict(BatchItem.objects.filter(batch=batch).order_by("item_id").values_list("item_id", "label"))
    answers = {item_id: (truth or {}).get(item_id, label) for item_id, label in labels.items()}
    wrong = {item.pk for item in wrong_items}
    run = Run.objects.create(
        batch=batch, ladder=ladder, code_version="t", config_hash=f"{batch.pk}-{ladder.pk}-{seed}".ljust(64, "0"),
        status=Run.DONE, finished_at=timezone.now(),
    )
    for rung, accuracy in zip(ladder.rungs.order_by("order"), accuracies):
        status = RungJob.FAILED if rung.order in failed else RungJob.DONE
        job = RungJob.objects.create(run=run, rung=rung, status=status, hyperparameters={"lr": 2e-4})
        if status != RungJob.DONE:
            continue
        rows = []
        for item_id, label in labels.items():
            for stage, stage_accuracy in ((Prediction.TUNED, accuracy), (Prediction.BASE, 0.5)):
                right = item_id not in wrong and rng.random() < stage_accuracy
                option = _option(answers[item_id], right)
                scores = {POSITIVE: 0.0, NEGATIVE: 0.0, "dont_know": -5.0}
                scores[option] = 4.0 if item_id in wrong else 2.0
                margin = scores[POSITIVE] - max(scores[NEGATIVE], scores["dont_know"])
                rows.append(Prediction(rung_job=job, item_id=item_id, stage=stage, option=option,
                                       label=label, scores=scores, margin=margin))
        Prediction.objects.bulk_create(rows)
    return run


# --- real frozen batches, with jobs finished as a worker would finish them ---------------------


def frozen_noisy_batch(project, corpus_path, *, items: int = 240, noise: float = 0.2) -> Batch:
    """A batch frozen the real way (records, choices, splits) of sample-corpus items, `noise` of them
    labelled against their gold; `batch.planted` holds those items' ids. The project keeps its own
    label-check setting."""
    from annotation.importers import messages_import
    from annotation.preprocessing import items_preprocess
    from annotation.sample_corpus import write_jsonl
    from annotation.simulation import annotators_simulate

    write_jsonl(path=corpus_path, messages=3000, seed=3)
    messages_import(project=project, path=corpus_path)
    items_preprocess(project=project)
    project.eval_share = 0.2
    project.save(update_fields=["eval_share"])
    result = annotators_simulate(project=project, accuracy=1.0, noise=noise, limit=items, seed=2, batch_name="noisy")
    batch = Batch.objects.get(pk=result.batch_id)
    batch.planted = set(result.planted)
    return batch


def gold_answer(item_id: int, gold: dict, sure: float = 3.0) -> dict:
    """Log-likelihoods of a judge that answers the item's gold."""
    scores = {POSITIVE: 0.0, NEGATIVE: 0.0, "dont_know": -6.0}
    scores[gold[item_id]] = sure
    return scores


def job_finish(job: RungJob, item_ids, gold: dict, *, stages=(Prediction.TUNED,), flat: bool = False) -> None:
    """Write `job`'s predictions of `item_ids` as the worker would and mark it done. `flat`: an unsure rung."""
    from training.services import run_refresh_status

    labels = dict(BatchItem.objects.filter(batch=job.run.batch).values_list("item_id", "label"))
    rows = []
    for item_id in item_ids:
        scores = {POSITIVE: 0.0, NEGATIVE: 0.1, "dont_know": -6.0} if flat else gold_answer(item_id, gold)
        option = max(scores, key=scores.get)
        rows.extend(
            Prediction(rung_job=job, item_id=item_id, stage=stage, option=option, label=labels[item_id],
                       scores=scores, margin=0.0)
            for stage in stages
        )
    Prediction.objects.bulk_create(rows)
    metrics = {stage: {"f1": 0.5, "seconds": 1.0} for stage in stages}
    RungJob.objects.filter(pk=job.pk).update(status=RungJob.DONE, metrics=metrics, train_seconds=10.0)
    run_refresh_status(run=job.run)


def finished_flat_run(batch, ladder, gold) -> Run:
    """The batch's ordinary run, done, every rung unsure on the eval split (F1 does not rise)."""
    from training.services import run_request

    run = run_request(batch=batch, ladder=ladder)
    eval_ids = list(BatchItem.objects.filter(batch=batch, split=BatchItem.EVAL).values_list("item_id", flat=True))
    for job in run.rung_jobs.all():
        job_finish(job, eval_ids, gold, stages=(Prediction.BASE, Prediction.TUNED), flat=True)
    return Run.objects.get(pk=run.pk)


def add_learning_curves(verdict, *, loss, seconds_per_example, full_size: int = 1600, halvings: int = 4,
                        eval_seconds: float = 2.0):
    """Give a verdict's run the subset jobs of a learning curve, timed, and store their curves in the verdict.

    `loss(rung, size)` and `seconds_per_example(rung)` say what each rung measured; the batch's train
    split becomes `full_size` and the subsets halve it `halvings` times, as `learning_curve_sizes` would.
    """
    run = verdict.run
    Batch.objects.filter(pk=run.batch_id).update(train_count=full_size)
    Run.objects.filter(pk=run.pk).update(learning_curve=True)
    sizes = [full_size // 2**step for step in range(halvings, -1, -1)]
    curves = {}
    for job in run.rung_jobs.full().select_related("rung"):
        rate = seconds_per_example(job.rung)
        RungJob.objects.filter(pk=job.pk).update(train_seconds=rate * full_size, eval_seconds=eval_seconds)
        for size in sizes[:-1]:
            RungJob.objects.create(run=run, rung=job.rung, train_size=size, status=RungJob.DONE,
                                   hyperparameters=job.hyperparameters, train_seconds=rate * size,
                                   eval_seconds=eval_seconds)
        losses = [loss(job.rung, size) for size in sizes]
        curves[job.rung.name] = {"points": [[size, value] for size, value in zip(sizes, losses)],
                                 "stderr": [0.005 * value for value in losses]}
    verdict.fits = {**verdict.fits, "learning_curves": curves}
    verdict.save(update_fields=["fits"])
    verdict.run.refresh_from_db()
    verdict.run.batch.refresh_from_db()
    return verdict


# --- runs that measured exact losses, for the laws' track record ---------------------------------


def scores_for_loss(label: str, loss: float) -> dict:
    """Two options' log-likelihoods whose negative log-probability of `label` is exactly `loss` (> 0)."""
    other = NEGATIVE if label == POSITIVE else POSITIVE
    return {label: 0.0, other: math.log(math.expm1(loss))}


def make_measured_run(batch, ladder, *, loss, train_count: int, subsets=(), f1: float = 0.8, reused_from=None) -> Run:
    """A done run of `batch`, its train split now `train_count`, whose every job scored each eval item at
    exactly `loss(rung, train size)` of the labelled option: one full fine-tune per rung and, with
    `subsets`, a learning curve on those train sizes. `reused_from`: {rung name: job} whose results
    the full jobs copy, as a re-run or a label check reuses them."""
    Batch.objects.filter(pk=batch.pk).update(train_count=train_count)
    labels = dict(BatchItem.objects.filter(batch=batch, split=BatchItem.EVAL).values_list("item_id", "label"))
    run = Run.objects.create(
        batch=batch, ladder=ladder, code_version="t", learning_curve=bool(subsets), status=Run.DONE,
        config_hash=f"{batch.pk}-{ladder.pk}-m{Run.objects.count()}".ljust(64, "0"), finished_at=timezone.now(),
    )
    for rung in ladder.rungs.order_by("order"):
        for size in (None, *subsets):
            job = RungJob.objects.create(
                run=run, rung=rung, train_size=size, status=RungJob.DONE, hyperparameters={"lr": 2e-4},
                metrics={"tuned": {"f1": f1}}, train_seconds=1.0,
                reused_from=(reused_from or {}).get(rung.name) if size is None else None,
            )
            Prediction.objects.bulk_create([
                Prediction(rung_job=job, item_id=item_id, stage=stage, option=label, label=label,
                           scores=scores_for_loss(label, loss(rung, size or train_count)), margin=0.0)
                for item_id, label in labels.items()
                for stage in (Prediction.TUNED, Prediction.BASE)
            ])
    run.batch.refresh_from_db()
    return run
