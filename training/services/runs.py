"""Runs: requesting one (single-flight), re-running a rung, retry, cancel and the derived status."""

import hashlib
import json

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from annotation.models import Batch
from training.models import InvalidTransition, Ladder, Prediction, Run, Rung, RungJob
from training.services.hyperparameters import effective_hyperparameters, hyperparameters_validate
from training.services.provenance import hashed_provenance, run_provenance
from training.signals import run_finished


def run_config_hash(
    *, batch: Batch, ladder: Ladder, hyperparameters: dict, learning_curve: bool, provenance: dict
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
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


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
    requested_by=None,
) -> Run:
    """The run for this batch, ladder and configuration: found if it exists, else made.

    Single-flight: the batch row is locked, so two requests at once (a double
    click, a freeze racing a button) get one run. A failed or cancelled run is
    retried in place: its unfinished rung jobs go back to the queue.
    """
    batch = Batch.objects.select_for_update().get(pk=batch.pk)
    if not batch.is_frozen:
        raise ValidationError({"batch": f"batch {batch.name!r} is not frozen"})
    rungs = list(ladder.rungs.order_by("order"))
    if not rungs:
        raise ValidationError({"ladder": f"ladder {ladder.name!r} has no rungs"})
    hyperparameters = hyperparameters_validate(hyperparameters or {}, rungs=rungs)
    provenance = run_provenance(ladder=ladder)
    config_hash = run_config_hash(
        batch=batch,
        ladder=ladder,
        hyperparameters=hyperparameters,
        learning_curve=learning_curve,
        provenance=provenance,
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
        code_version=provenance["code_version"],
        provenance=provenance,
        config_hash=config_hash,
        requested_by=requested_by,
    )
    subset_sizes = learning_curve_sizes(batch.train_count) if learning_curve else []
    jobs = []
    for rung in rungs:
        effective = effective_hyperparameters(run_hyperparameters=hyperparameters, rung=rung)
        jobs.append(RungJob(run=run, rung=rung, hyperparameters=effective))
        jobs.extend(
            RungJob(run=run, rung=rung, hyperparameters=effective, train_size=size)
            for size in subset_sizes
        )
    RungJob.objects.bulk_create(jobs)
    for job in run.rung_jobs.all():
        rung_job_enqueue_on_commit(job=job)
    return run


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
    previous = {job.rung_id: job for job in run.rung_jobs.filter(train_size__isnull=True)}
    for ladder_rung in run.ladder.rungs.order_by("order"):
        old = previous.get(ladder_rung.pk)
        settings_before = (
            old.hyperparameters
            if old is not None
            else effective_hyperparameters(run_hyperparameters=run.hyperparameters, rung=ladder_rung)
        )
        if ladder_rung.pk == rung.pk or old is None or old.status != RungJob.DONE:
            changes = hyperparameters if ladder_rung.pk == rung.pk else {}
            job = RungJob.objects.create(
                run=rerun, rung=ladder_rung, hyperparameters={**settings_before, **changes}
            )
            rung_job_enqueue_on_commit(job=job)
            continue
        copy = old.copy_finished(run=rerun)
        Prediction.objects.bulk_create(
            [
                Prediction(rung_job=copy, item_id=item_id, stage=stage, option=option, label=label,
                           scores=scores, margin=margin)
                for item_id, stage, option, label, scores, margin in old.predictions.values_list(
                    "item_id", "stage", "option", "label", "scores", "margin"
                )
            ],
            batch_size=1000,
        )
    run_refresh_status(run=rerun)
    return Run.objects.get(pk=rerun.pk)


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
