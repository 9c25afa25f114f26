"""Runs: requesting one (single-flight), checking its labels, re-running a rung, retry, cancel and the derived status."""

import hashlib
import json

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from annotation.models import Batch, BatchItem
from training.models import InvalidTransition, ItemDynamics, Ladder, Prediction, Run, Rung, RungJob
from training.services.hyperparameters import effective_hyperparameters, hyperparameters_validate
from training.services.label_check import (
    batch_digests,
    job_result_key,
    judge_hyperparameters,
    label_check_config,
    train_split_folds_check,
)
from training.services.provenance import hashed_provenance, run_provenance
from training.signals import run_finished


def run_config_hash(
    *,
    batch: Batch,
    ladder: Ladder,
    hyperparameters: dict,
    learning_curve: bool,
    provenance: dict,
    label_check: dict | None = None,
) -> str:
    rungs = [
        [rung.name, rung.checkpoint_path, rung.hyperparameters]
        for rung in ladder.rungs.order_by("order")
    ]
    payload = {
        "batch": batch.content_hash,
        "ladder": ladder.name,
        "rungs": rungs,
        "hyperparameters": hyperparameters,
        "learning_curve": learning_curve,
        "provenance": hashed_provenance(provenance),
    }
    if label_check:
        payload["label_check"] = label_check
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class RunNotDone(ValidationError):
    """The request is well formed but the run's state refuses it for now: a conflict (409), not a bad field."""


def learning_curve_sizes(train_count: int, *, smallest: int = 50) -> list[int]:
    """Halving subsets of the train split, largest first, down to `smallest`."""
    sizes = []
    size = train_count // 2
    while size >= smallest:
        sizes.append(size)
        size //= 2
    return sizes


@transaction.atomic
def run_request(
    *,
    batch: Batch,
    ladder: Ladder,
    hyperparameters: dict | None = None,
    learning_curve: bool = False,
    label_check: dict | None = None,
    requested_by=None,
) -> Run:
    """The run for this batch, ladder and configuration: found if it exists, else made.

    Single-flight: the batch row is locked, so two requests at once (a double
    click, a freeze racing a button) get one run. A failed or cancelled run is
    retried in place: its unfinished rung jobs go back to the queue. With
    `label_check` (settings from `label_check_config`), the judging rungs also
    fine-tune on folds of the train split. A job whose result is already
    stored (same rows, rung, settings and code) is reused, not trained again.
    """
    batch = Batch.objects.select_for_update().get(pk=batch.pk)
    if not batch.is_frozen:
        raise ValidationError({"batch": f"batch {batch.name!r} is not frozen"})
    rungs = list(ladder.rungs.order_by("order"))
    if not rungs:
        raise ValidationError({"ladder": f"ladder {ladder.name!r} has no rungs"})
    hyperparameters = hyperparameters_validate(hyperparameters or {}, rungs=rungs)
    label_check = label_check or {}
    if label_check:
        train_split_folds_check(batch=batch, folds=label_check["folds"])
    provenance = run_provenance(ladder=ladder)
    config_hash = run_config_hash(
        batch=batch,
        ladder=ladder,
        hyperparameters=hyperparameters,
        learning_curve=learning_curve,
        provenance=provenance,
        label_check=label_check,
    )
    # Scoped to the batch: another project's batch with the same export has runs of its own.
    run = Run.objects.filter(batch=batch, config_hash=config_hash).first()
    if run is not None:
        if run.status in {Run.FAILED, Run.CANCELLED}:
            run_retry(run=run)
        return run
    run = Run.objects.create(
        batch=batch,
        ladder=ladder,
        hyperparameters=hyperparameters,
        learning_curve=learning_curve,
        label_check=label_check,
        code_version=provenance["code_version"],
        provenance=provenance,
        config_hash=config_hash,
        requested_by=requested_by,
    )
    subset_sizes = learning_curve_sizes(batch.train_count) if learning_curve else []
    judges = set(label_check.get("rungs", []))
    jobs = []
    for rung in rungs:
        effective = effective_hyperparameters(run_hyperparameters=hyperparameters, rung=rung)
        jobs.append(RungJob(run=run, rung=rung, hyperparameters=effective))
        jobs.extend(
            RungJob(run=run, rung=rung, hyperparameters=effective, train_size=size)
            for size in subset_sizes
        )
        if rung.name in judges:
            judging = judge_hyperparameters(effective, config=label_check)
            jobs.extend(
                RungJob(run=run, rung=rung, hyperparameters=judging, fold=fold)
                for fold in range(label_check["folds"])
            )
    jobs_start(run=run, jobs=jobs, provenance=provenance)
    return Run.objects.get(pk=run.pk)


def jobs_start(*, run: Run, jobs: list[RungJob], provenance: dict) -> None:
    """Store the run's new jobs, each under its result key; reuse stored results, queue the rest."""
    digests = batch_digests(batch=run.batch, folds=(run.label_check or {}).get("folds"))
    for job in jobs:
        job.result_key = job_result_key(
            digests=digests, rung=job.rung, hyperparameters=job.hyperparameters,
            train_size=job.train_size, fold=job.fold, provenance=provenance,
        )
    RungJob.objects.bulk_create(jobs)
    labels = dict(BatchItem.objects.filter(batch=run.batch).values_list("item_id", "label"))
    reused = False
    # The new jobs are the run's pending ones: a re-run's copied neighbours are done.
    for job in run.rung_jobs.filter(status=RungJob.PENDING).select_related("rung"):
        source = stored_result_for(job)
        if source is None:
            rung_job_enqueue_on_commit(job=job)
        else:
            reused |= job_adopt(job=job, source=source, labels=labels)
    if reused:
        run_refresh_status(run=run)


def predictions_copy(*, source: RungJob, target: RungJob, labels: dict[int, str] | None = None) -> None:
    """Copy `source`'s predictions to `target`; with `labels`, each with the label it has in target's batch."""
    Prediction.objects.bulk_create(
        [
            Prediction(rung_job=target, item_id=item_id, stage=stage, option=option,
                       label=label if labels is None else labels.get(item_id, label),
                       scores=scores, margin=margin)
            for item_id, stage, option, label, scores, margin in source.predictions.values_list(
                "item_id", "stage", "option", "label", "scores", "margin"
            )
        ],
        batch_size=1000,
    )


def dynamics_copy(*, source: RungJob, target: RungJob) -> None:
    """Copy `source`'s training dynamics to `target`: the same rows trained the same way."""
    ItemDynamics.objects.bulk_create(
        [
            ItemDynamics(rung_job=target, item_id=item_id, area_under_margin=area, confidence=confidence,
                         variability=variability, seen=seen)
            for item_id, area, confidence, variability, seen in source.dynamics.values_list(
                "item_id", "area_under_margin", "confidence", "variability", "seen"
            )
        ],
        batch_size=1000,
    )


def job_adopt(*, job: RungJob, source: RungJob, labels: dict[int, str]) -> bool:
    """Give a new pending job the stored result of a done job with the same result key.

    The predictions are the source's; their labels are those of the job's own
    batch, which may differ where the scored prompts do not (a relabelled
    eval item is scored the same).
    """
    fields = {
        name: getattr(source, name)
        for name in ("progress", "loss_curve", "metrics", "tokens_per_second", "train_seconds",
                     "eval_seconds", "adapter_path", "started_at", "finished_at")
    }
    adopted = RungJob.objects.filter(pk=job.pk, status=job.status, attempts=job.attempts).update(
        status=RungJob.DONE, reused_from=source.reused_from or source, **fields
    )
    if adopted:
        predictions_copy(source=source, target=job, labels=labels)
        dynamics_copy(source=source, target=job)
    return bool(adopted)


def stored_result_for(job: RungJob) -> RungJob | None:
    """A done job elsewhere with `job`'s result key: its result is `job`'s, already computed."""
    if not job.result_key:
        return None
    return (
        RungJob.objects.filter(result_key=job.result_key, status=RungJob.DONE)
        .exclude(run_id=job.run_id)
        .order_by("pk")
        .first()
    )


def _rerun_config_hash(*, run: Run, rung: Rung, hyperparameters: dict, provenance: dict) -> str:
    payload = {
        "rerun_of": run.config_hash,
        "rung": rung.name,
        "hyperparameters": hyperparameters,
        "provenance": hashed_provenance(provenance),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@transaction.atomic
def rung_rerun(*, run: Run, rung: Rung, hyperparameters: dict, requested_by=None) -> Run:
    """A new run of `run`'s batch and ladder where only `rung` trains again, with changed hyper-parameters.

    The other rungs' finished jobs are copied with their predictions, so the
    new run's verdict compares the re-trained rung against the same
    neighbours; rungs that had not finished train again with their old
    settings. The same request again returns the same run (retried in place
    if it failed or was cancelled).
    """
    run = Run.objects.select_for_update().select_related("batch", "ladder").get(pk=run.pk)
    if rung.ladder_id != run.ladder_id:
        raise ValidationError({"rung": f"rung {rung.name!r} is not on ladder {run.ladder.name!r}"})
    if not hyperparameters:
        raise ValidationError({"hyperparameters": "give at least one hyper-parameter to change"})
    hyperparameters = hyperparameters_validate(hyperparameters, rungs=[rung])
    provenance = run_provenance(ladder=run.ladder)
    config_hash = _rerun_config_hash(
        run=run, rung=rung, hyperparameters=hyperparameters, provenance=provenance
    )
    existing = Run.objects.filter(batch=run.batch, config_hash=config_hash).first()
    if existing is not None:
        if existing.status in {Run.FAILED, Run.CANCELLED}:
            run_retry(run=existing)
        return existing
    rerun = Run.objects.create(
        batch=run.batch,
        ladder=run.ladder,
        hyperparameters=run.hyperparameters,
        code_version=provenance["code_version"],
        provenance=provenance,
        config_hash=config_hash,
        requested_by=requested_by,
        rerun_of=run,
        rung_overrides={rung.name: hyperparameters},
    )
    previous = {job.rung_id: job for job in run.rung_jobs.full()}
    new_jobs = []
    for ladder_rung in run.ladder.rungs.order_by("order"):
        old = previous.get(ladder_rung.pk)
        settings_before = (
            old.hyperparameters
            if old is not None
            else effective_hyperparameters(run_hyperparameters=run.hyperparameters, rung=ladder_rung)
        )
        if ladder_rung.pk == rung.pk or old is None or old.status != RungJob.DONE:
            changes = hyperparameters if ladder_rung.pk == rung.pk else {}
            new_jobs.append(RungJob(run=rerun, rung=ladder_rung, hyperparameters={**settings_before, **changes}))
            continue
        copy = old.copy_finished(run=rerun)
        predictions_copy(source=old, target=copy)
        dynamics_copy(source=old, target=copy)
    jobs_start(run=rerun, jobs=new_jobs, provenance=provenance)
    run_refresh_status(run=rerun)
    return Run.objects.get(pk=rerun.pk)


def label_check_request(
    *, run: Run, folds: int | None = None, rungs: list[str] | None = None,
    epochs_factor: float | None = None, requested_by=None,
) -> Run:
    """The run that checks every label of `run`'s batch: `run`'s settings plus the judging rungs' fold jobs.

    Its full fine-tunes have `run`'s result keys, so they are reused from
    `run` and only the fold jobs train. The same request again returns the
    same run. A run that already checks labels is its own answer when no
    other settings are asked for.
    """
    if run.label_check and folds is None and rungs is None and epochs_factor is None:
        return run
    if run.rerun_of_id is not None:
        raise ValidationError(
            {"run": f"run {run.pk} re-runs one rung of run {run.rerun_of_id}; check the labels on that run"}
        )
    if run.status != Run.DONE:
        # Its unfinished fine-tunes would train a second time in the checking run.
        raise RunNotDone({"run": f"run {run.pk} is {run.status}; check its labels once it is done"})
    config = label_check_config(
        ladder=run.ladder, project=run.batch.project, folds=folds, rungs=rungs, epochs_factor=epochs_factor)
    return run_request(
        batch=run.batch, ladder=run.ladder, hyperparameters=run.hyperparameters,
        learning_curve=run.learning_curve, label_check=config, requested_by=requested_by,
    )


def rung_job_enqueue_on_commit(*, job: RungJob) -> None:
    job_id, queue = job.pk, job.rung.queue

    def enqueue():
        from training.tasks import rung_job_run

        # Marked sent only once the broker took it: a failed publish leaves the
        # job for jobs_recover.
        rung_job_run.apply_async(args=[job_id], queue=queue)
        RungJob.objects.filter(pk=job_id).update(enqueued_at=timezone.now())

    transaction.on_commit(enqueue)


@transaction.atomic
def run_retry(*, run: Run) -> Run:
    """Send a failed or cancelled run's unfinished rung jobs back to the queue.

    Refused (InvalidTransition) for a run that is done or still open: a done
    run has nothing to retry, an open one is still on its way.
    """
    run = Run.objects.select_for_update().get(pk=run.pk)
    run.retry()
    for job in run.rung_jobs.select_for_update().exclude(status=RungJob.DONE).select_related("rung"):
        if job.is_final:
            job.retry(extra_attempts=RungJob.DEFAULT_MAX_ATTEMPTS)
        elif job.cancel_requested:
            RungJob.objects.filter(pk=job.pk).update(cancel_requested=False)
        rung_job_enqueue_on_commit(job=job)
    return run


@transaction.atomic
def run_cancel(*, run: Run) -> Run:
    """Cancel a run: pending jobs stop at once, running ones at their next step.

    Refused (InvalidTransition) for a run that has already ended.
    """
    run = Run.objects.select_for_update().get(pk=run.pk)
    if run.is_final:
        raise InvalidTransition(f"run {run.pk} has already ended ({run.status})")
    for job in run.rung_jobs.select_for_update().filter(status=RungJob.PENDING):
        job.cancel()
    run.rung_jobs.filter(status=RungJob.RUNNING).update(cancel_requested=True)
    return run_refresh_status(run=run)


def run_status_from_jobs(*, run: Run) -> str:
    """The run's status as its jobs say: open while any is, else done, cancelled or failed."""
    statuses = set(run.rung_jobs.values_list("status", flat=True))
    if statuses & {RungJob.PENDING, RungJob.RUNNING}:
        status = Run.RUNNING if RungJob.RUNNING in statuses or RungJob.DONE in statuses else Run.PENDING
        if run.rung_jobs.filter(cancel_requested=True).exists() and RungJob.RUNNING not in statuses:
            status = Run.CANCELLED
        return status
    if statuses <= {RungJob.DONE}:
        return Run.DONE
    if RungJob.CANCELLED in statuses and RungJob.FAILED not in statuses:
        return Run.CANCELLED
    return Run.FAILED


@transaction.atomic
def run_refresh_status(*, run: Run) -> Run:
    """Derive the run's status from its jobs; enqueue the verdict when all are final."""
    run = Run.objects.select_for_update().get(pk=run.pk)
    if run.settle(run_status_from_jobs(run=run)) and run.is_final:
        run_id = run.pk
        transaction.on_commit(lambda: run_finished.send(sender=Run, run_id=run_id))
    return run
