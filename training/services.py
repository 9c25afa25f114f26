"""Writes for the training app: requesting runs and executing rung jobs.

Fine-tuning and evaluation (`training.ml`) take plain data; this module maps
rows to that data and results back to rows. torch is imported only inside the
functions that execute a job, so the web process never loads it.
"""

import hashlib
import json
import logging
import math
import os
import shutil
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from annotation.models import Batch
from training.ml.finetune import TRAINING_RESULT_FILE
from training.models import Ladder, Prediction, Run, Rung, RungJob
from training.signals import run_finished

logger = logging.getLogger(__name__)

ML_SOURCE_DIR = Path(__file__).resolve().parent / "ml"
PROGRESS_INTERVAL_SECONDS = 2.0
# A running job whose heartbeat is older than this is taken to be orphaned.
STALE_HEARTBEAT = timedelta(seconds=int(os.environ.get("TRAINING_STALE_SECONDS", 120)))
# A job sent this recently may not be visible on its queue yet.
PENDING_GRACE = timedelta(seconds=5)
# Sent again after this long even when the queue looks full, as a backstop.
PENDING_RESEND = timedelta(hours=1)


def code_version() -> str:
    """A digest of the training code, so changed code makes a new run."""
    digest = hashlib.sha256()
    for path in sorted(ML_SOURCE_DIR.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def effective_hyperparameters(*, run_hyperparameters: dict, rung: Rung) -> dict:
    """Run-wide values, overridden by the rung's own (e.g. a lower lr for one size)."""
    return {**run_hyperparameters, **rung.hyperparameters}


def run_config_hash(
    *, batch: Batch, ladder: Ladder, hyperparameters: dict, learning_curve: bool, version: str
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
        "code_version": version,
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
    hyperparameters = dict(hyperparameters or {})
    version = code_version()
    config_hash = run_config_hash(
        batch=batch,
        ladder=ladder,
        hyperparameters=hyperparameters,
        learning_curve=learning_curve,
        version=version,
    )
    run = Run.objects.filter(config_hash=config_hash).first()
    if run is not None:
        if run.status in {Run.FAILED, Run.CANCELLED}:
            run_retry(run=run)
        return run
    run = Run.objects.create(
        batch=batch,
        ladder=ladder,
        hyperparameters=hyperparameters,
        learning_curve=learning_curve,
        code_version=version,
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


# Hyper-parameters a lead may change when re-running a rung, and their types:
# the numeric fields of training.ml.finetune.LoraConfigValues.
RERUN_HYPERPARAMETERS: dict[str, type] = {
    "lr": float,
    "epochs": float,
    "warmup_ratio": float,
    "dropout": float,
    "weight_decay": float,
    "r": int,
    "alpha": int,
    "batch_tokens": int,
    "max_seq_len": int,
    "seed": int,
}
# Zero is a meaningful value for these; every other one must be above zero.
ZERO_ALLOWED_HYPERPARAMETERS = {"warmup_ratio", "dropout", "weight_decay", "seed"}


def hyperparameters_parse(text: str) -> dict:
    """`lr=2e-5, epochs=2` (commas or new lines) as {"lr": 2e-05, "epochs": 2.0}.

    Raises ValidationError naming every unknown key and bad value at once.
    """
    values: dict = {}
    errors = []
    for part in text.replace("\n", ",").split(","):
        part = part.strip()
        if not part:
            continue
        key, equals, raw = (piece.strip() for piece in part.partition("="))
        if not equals or not key or not raw:
            errors.append(f"{part!r}: write each hyper-parameter as name=value")
            continue
        kind = RERUN_HYPERPARAMETERS.get(key)
        if kind is None:
            errors.append(f"unknown hyper-parameter {key!r}; known: {', '.join(RERUN_HYPERPARAMETERS)}")
            continue
        try:
            value = float(raw)
        except ValueError:
            errors.append(f"{key}: {raw!r} is not a number")
            continue
        if kind is int and not value.is_integer():
            errors.append(f"{key}: {raw!r} is not a whole number")
        elif not math.isfinite(value) or value < 0 or (value == 0 and key not in ZERO_ALLOWED_HYPERPARAMETERS):
            errors.append(f"{key}: {raw!r} must be a finite number above zero")
        elif key in values:
            errors.append(f"{key}: given twice")
        else:
            values[key] = kind(value)
    if errors:
        raise ValidationError(errors)
    if not values:
        raise ValidationError("give at least one hyper-parameter, e.g. lr=2e-5")
    return values


def _rerun_config_hash(*, run: Run, rung: Rung, hyperparameters: dict) -> str:
    payload = {"rerun_of": run.config_hash, "rung": rung.name, "hyperparameters": hyperparameters}
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
    config_hash = _rerun_config_hash(run=run, rung=rung, hyperparameters=hyperparameters)
    existing = Run.objects.filter(config_hash=config_hash).first()
    if existing is not None:
        if existing.status in {Run.FAILED, Run.CANCELLED}:
            run_retry(run=existing)
        return existing
    rerun = Run.objects.create(
        batch=run.batch,
        ladder=run.ladder,
        hyperparameters=run.hyperparameters,
        code_version=code_version(),
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
        copy = RungJob.objects.create(
            run=rerun,
            rung=ladder_rung,
            hyperparameters=old.hyperparameters,
            status=RungJob.DONE,
            progress=old.progress,
            loss_curve=old.loss_curve,
            metrics=old.metrics,
            tokens_per_second=old.tokens_per_second,
            train_seconds=old.train_seconds,
            eval_seconds=old.eval_seconds,
            adapter_path=old.adapter_path,
            started_at=old.started_at,
            finished_at=old.finished_at,
        )
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
    """Send a failed or cancelled run's unfinished rung jobs back to the queue."""
    run = Run.objects.select_for_update().get(pk=run.pk)
    for job in run.rung_jobs.exclude(status=RungJob.DONE).select_related("rung"):
        job.status = RungJob.PENDING
        job.attempts = 0
        job.cancel_requested = False
        job.error = ""
        job.save(update_fields=["status", "attempts", "cancel_requested", "error"])
        rung_job_enqueue_on_commit(job=job)
    run.status = Run.PENDING
    run.finished_at = None
    run.save(update_fields=["status", "finished_at"])
    return run


@transaction.atomic
def run_cancel(*, run: Run) -> Run:
    """Cancel a run: pending jobs stop at once, running ones at their next step."""
    run = Run.objects.select_for_update().get(pk=run.pk)
    now = timezone.now()
    run.rung_jobs.filter(status=RungJob.PENDING).update(
        status=RungJob.CANCELLED, finished_at=now, cancel_requested=True
    )
    run.rung_jobs.filter(status=RungJob.RUNNING).update(cancel_requested=True)
    return run_refresh_status(run=run)


@transaction.atomic
def run_refresh_status(*, run: Run) -> Run:
    """Derive the run's status from its jobs; enqueue the verdict when all are final."""
    run = Run.objects.select_for_update().get(pk=run.pk)
    statuses = set(run.rung_jobs.values_list("status", flat=True))
    if statuses & {RungJob.PENDING, RungJob.RUNNING}:
        status = Run.RUNNING if RungJob.RUNNING in statuses or RungJob.DONE in statuses else Run.PENDING
        if run.rung_jobs.filter(cancel_requested=True).exists() and RungJob.RUNNING not in statuses:
            status = Run.CANCELLED
    elif statuses <= {RungJob.DONE}:
        status = Run.DONE
    elif RungJob.CANCELLED in statuses and RungJob.FAILED not in statuses:
        status = Run.CANCELLED
    else:
        status = Run.FAILED
    if status != run.status:
        run.status = status
        run.finished_at = timezone.now() if status not in Run.OPEN_STATUSES else None
        run.save(update_fields=["status", "finished_at"])
        if run.is_final:
            run_id = run.pk
            transaction.on_commit(lambda: run_finished.send(sender=Run, run_id=run_id))
    return run


def rung_job_claim(*, job_id: int) -> RungJob | None:
    """Mark the job running for this attempt, or None when there is nothing to do.

    Nothing to do: the job is final (a redelivered message), or another worker
    holds it with a fresh heartbeat. A job past its attempts fails here.
    """
    now = timezone.now()
    with transaction.atomic():
        job = RungJob.objects.select_for_update().select_related("rung", "run").filter(pk=job_id).first()
        if job is None or job.is_final:
            return None
        if job.status == RungJob.RUNNING and job.heartbeat_at and now - job.heartbeat_at < STALE_HEARTBEAT:
            return None
        if job.cancel_requested:
            rung_job_finish(job=job, status=RungJob.CANCELLED)
            return None
        if job.attempts >= job.max_attempts:
            rung_job_finish(
                job=job,
                status=RungJob.FAILED,
                error=job.error or f"gave up after {job.attempts} attempts",
            )
            return None
        job.attempts += 1
        job.status = RungJob.RUNNING
        job.started_at = job.started_at or now
        job.heartbeat_at = now
        job.progress = {"phase": "starting", "attempt": job.attempts}
        job.save(update_fields=["attempts", "status", "started_at", "heartbeat_at", "progress"])
    run_refresh_status(run=job.run)
    return job


def rung_job_finish(*, job: RungJob, status: str, error: str = "") -> None:
    job.status = status
    job.error = error
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "error", "finished_at"])
    transaction.on_commit(lambda: run_refresh_status(run=job.run))


class ProgressRecorder:
    """Writes a job's progress to the database at most every couple of seconds."""

    def __init__(self, job: RungJob, phase: str):
        self.job_id = job.pk
        self.phase = phase
        self.last_write = 0.0
        self.last_cancel_check = 0.0
        self.cancelled = False

    def __call__(self, progress: dict, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_write < PROGRESS_INTERVAL_SECONDS:
            return
        self.last_write = now
        RungJob.objects.filter(pk=self.job_id).update(
            progress={"phase": self.phase, **progress}, heartbeat_at=timezone.now()
        )

    def should_cancel(self) -> bool:
        now = time.monotonic()
        if now - self.last_cancel_check >= PROGRESS_INTERVAL_SECONDS:
            self.last_cancel_check = now
            self.cancelled = RungJob.objects.filter(pk=self.job_id, cancel_requested=True).exists()
        return self.cancelled


def queued_messages(queue: str) -> int:
    """Messages waiting on a broker queue; 0 for a queue the broker no longer knows."""
    from config.celery import app

    with app.connection_for_read() as connection:
        try:
            _, count, _ = connection.default_channel.queue_declare(queue=queue, passive=True)
        except connection.channel_errors:
            # A restarted broker that keeps nothing has forgotten the queue itself.
            return 0
    return count


def jobs_recover(*, stale_after: timedelta = STALE_HEARTBEAT) -> list[int]:
    """Re-enqueue jobs the broker may have lost: the database knows what is pending.

    Pending jobs go back on their queue when it holds fewer messages than
    there are pending jobs for it (a broker that restarted and kept nothing,
    a publish that failed), or when they were sent over PENDING_RESEND ago;
    running jobs go back when their worker stopped beating. Re-delivery is
    harmless: the claim step skips jobs that are final or held by a live
    worker. Runs when a worker starts and every TRAINING_RECOVER_SECONDS
    from the beat schedule.
    """
    now = timezone.now()
    settled = now - PENDING_GRACE
    pending = list(
        RungJob.objects.filter(status=RungJob.PENDING)
        .filter(Q(enqueued_at__lt=settled) | Q(enqueued_at__isnull=True))
        .select_related("rung")
    )
    by_queue: dict[str, list[RungJob]] = {}
    for job in pending:
        by_queue.setdefault(job.rung.queue, []).append(job)
    lost = []
    for queue, jobs in by_queue.items():
        if queued_messages(queue) < len(jobs):
            lost.extend(jobs)
        else:
            lost.extend(job for job in jobs if job.enqueued_at is None or job.enqueued_at < now - PENDING_RESEND)
    stale = list(
        RungJob.objects.filter(status=RungJob.RUNNING, heartbeat_at__lt=now - stale_after).select_related("rung")
    )
    recovered = []
    with transaction.atomic():
        for job in lost + stale:
            rung_job_enqueue_on_commit(job=job)
            recovered.append(job.pk)
    if recovered:
        logger.warning("re-enqueued %d rung jobs: %s", len(recovered), recovered)
    return recovered


def adapter_dir_for(job: RungJob) -> Path:
    suffix = "" if job.train_size is None else f"-n{job.train_size}"
    return Path(settings.MEDIA_ROOT) / "adapters" / f"run-{job.run_id}" / f"{job.rung.name}{suffix}"


def predictions_store(*, job: RungJob, stage: str, rows: list[dict]) -> None:
    """Store one stage's predictions; re-storing the same item is a no-op."""
    Prediction.objects.bulk_create(
        [Prediction(rung_job=job, stage=stage, **row) for row in rows],
        ignore_conflicts=True,
        batch_size=1000,
    )


OUT_OF_MEMORY = (
    "out of memory — the same settings would run out again: lower batch_tokens or max_seq_len, "
    "or give the rung more processes"
)


def _out_of_memory(error: Exception) -> bool:
    """Host memory, or a device's (torch.OutOfMemoryError is a RuntimeError)."""
    import torch

    return isinstance(error, (MemoryError, torch.OutOfMemoryError))


def rung_job_execute(*, job_id: int) -> None:
    """Baseline-score, fine-tune and score one rung on the job's batch.

    Each phase skips what an earlier attempt finished: stored base predictions,
    a saved adapter, stored tuned predictions. A cancel request stops the job
    at its next step; a diverged loss or running out of memory fails it
    without retries, since the same settings would do the same again.
    """
    from training.ml.finetune import Cancelled, Diverged

    job = rung_job_claim(job_id=job_id)
    if job is None:
        return
    try:
        _train_and_score(job)
    except Cancelled:
        with transaction.atomic():
            rung_job_finish(job=job, status=RungJob.CANCELLED, error="cancelled by request")
        return
    except Diverged as error:
        with transaction.atomic():
            rung_job_finish(job=job, status=RungJob.FAILED, error=f"diverged: {error}")
        return
    except Exception as error:
        if _out_of_memory(error):
            with transaction.atomic():
                rung_job_finish(job=job, status=RungJob.FAILED, error=f"{OUT_OF_MEMORY}: {error}")
            return
        logger.exception("rung job %s failed on attempt %s", job.pk, job.attempts)
        final = job.attempts >= job.max_attempts
        with transaction.atomic():
            if final:
                rung_job_finish(job=job, status=RungJob.FAILED, error=f"{type(error).__name__}: {error}")
            else:
                RungJob.objects.filter(pk=job.pk).update(
                    status=RungJob.PENDING, error=f"attempt {job.attempts}: {type(error).__name__}: {error}"
                )
        if not final:
            raise
        return
    with transaction.atomic():
        rung_job_finish(job=job, status=RungJob.DONE)


def _option_scores(values: list[str], logprobs: list[float]) -> dict[str, float]:
    return {value: score for value, score in zip(values, logprobs)}


def _score_stage(*, job: RungJob, stage: str, adapter_dir: str | None) -> dict:
    """Score the eval split with the base model or the adapter; store predictions."""
    from training.examples import eval_examples
    from training.ml.evaluate import score_choices
    from training.ml.ladder import load_model

    batch = job.run.batch
    project = batch.project
    examples, option_values, labels = eval_examples(batch=batch)
    started = time.monotonic()
    recorder = ProgressRecorder(job, f"scoring {stage}")
    model, tokenizer = load_model(job.rung.checkpoint_path, adapter_dir=adapter_dir)
    scores = score_choices(
        model=model,
        tokenizer=tokenizer,
        examples=examples,
        progress=lambda done, total: recorder({"step": done, "steps": total}),
    )
    rows = []
    for score in scores:
        values = option_values[score.key]
        by_value = _option_scores(values, score.logprobs)
        positive = by_value.get(project.positive_option)
        others = [value for key, value in by_value.items() if key != project.positive_option]
        rows.append(
            {
                "item_id": int(score.key),
                "option": values[score.choice_index],
                "label": labels[score.key],
                "scores": by_value,
                "margin": positive - max(others) if positive is not None and others else None,
            }
        )
    predictions_store(job=job, stage=stage, rows=rows)
    return {**stage_metrics(rows=rows, project=project), "seconds": time.monotonic() - started}


def stage_metrics(*, rows: list[dict], project) -> dict:
    """P/R/F1 (positive = the project's positive option; abstentions are wrong), AUC, per category."""
    from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

    from annotation.models import Item

    positive = project.positive_option
    truth = [row["label"] == positive for row in rows]
    # An abstention ("don't know") never counts as the right answer.
    predicted = [
        (row["option"] == positive) if row["option"] not in project.abstain_options else not truth[index]
        for index, row in enumerate(rows)
    ]
    precision, recall, f1, _ = precision_recall_fscore_support(
        truth, predicted, average="binary", zero_division=0
    )
    margins = [row["margin"] if row["margin"] is not None else -1e9 for row in rows]
    auc = roc_auc_score(truth, margins) if len(set(truth)) == 2 else None
    categories = dict(Item.objects.filter(pk__in=[row["item_id"] for row in rows]).values_list("pk", "category"))
    per_category = {}
    for category in sorted(set(categories.values()) - {""}):
        picked = [index for index, row in enumerate(rows) if categories.get(row["item_id"]) == category]
        correct = sum(predicted[index] == truth[index] for index in picked)
        per_category[category] = {"items": len(picked), "accuracy": correct / len(picked)}
    return {
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "auc": None if auc is None else float(auc),
        "items": len(rows),
        "per_category": per_category,
    }


def _train_and_score(job: RungJob) -> None:
    from training.examples import train_examples
    from training.ml import distributed
    from training.ml.finetune import LoraConfigValues, lora_finetune

    metrics = dict(job.metrics or {})
    if not Prediction.objects.filter(rung_job=job, stage=Prediction.BASE).exists() or "base" not in metrics:
        metrics["base"] = _score_stage(job=job, stage=Prediction.BASE, adapter_dir=None)
        RungJob.objects.filter(pk=job.pk).update(metrics=metrics)
    adapter_dir = adapter_dir_for(job)
    result_file = adapter_dir / TRAINING_RESULT_FILE
    if not adapter_dir.exists():
        recorder = ProgressRecorder(job, "fine-tuning")
        # Written beside, then renamed: an adapter directory is always complete.
        partial = adapter_dir.with_name(adapter_dir.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        examples = train_examples(batch=job.run.batch, limit=job.train_size)
        processes = int(job.hyperparameters.get("processes", 1))
        if processes > 1:
            # A rung too large for one device: sharded across this machine's processes.
            distributed.launch(
                checkpoint_dir=job.rung.checkpoint_path,
                examples=examples,
                output_dir=partial,
                overrides=job.hyperparameters,
                processes=processes,
                progress=recorder,
                should_cancel=recorder.should_cancel,
            )
        else:
            lora_finetune(
                checkpoint_dir=job.rung.checkpoint_path,
                examples=examples,
                output_dir=partial,
                config=LoraConfigValues.from_overrides(job.hyperparameters),
                progress=recorder,
                should_cancel=recorder.should_cancel,
            )
        partial.rename(adapter_dir)
    if not job.loss_curve and result_file.exists():
        # Also after a crash between saving the adapter and recording its curve.
        result = json.loads(result_file.read_text())
        RungJob.objects.filter(pk=job.pk).update(
            adapter_path=str(adapter_dir),
            loss_curve=result["loss_curve"],
            tokens_per_second=result["tokens_per_second"],
            train_seconds=result["seconds"],
        )
    metrics["tuned"] = _score_stage(job=job, stage=Prediction.TUNED, adapter_dir=str(adapter_dir))
    RungJob.objects.filter(pk=job.pk).update(
        metrics=metrics,
        adapter_path=str(adapter_dir),
        eval_seconds=metrics["base"]["seconds"] + metrics["tuned"]["seconds"],
        progress={"phase": "done", "step": 1, "steps": 1},
    )


@transaction.atomic
def ladder_register(*, name: str, rungs: list[dict], projects=(), description: str = "") -> Ladder:
    """Create or update a ladder from [{"name", "path", "parameters", "size_class", "hyperparameters"?}]."""
    if not rungs:
        raise ValidationError({"rungs": "a ladder needs at least one rung"})
    ladder, _ = Ladder.objects.get_or_create(name=name, defaults={"description": description})
    ordered = sorted(rungs, key=lambda rung: rung["parameters"])
    for order, spec in enumerate(ordered):
        if not Path(spec["path"]).is_dir():
            raise ValidationError({"path": f"rung {spec['name']!r}: {spec['path']} is not a directory"})
        Rung.objects.update_or_create(
            ladder=ladder,
            name=spec["name"],
            defaults={
                "order": order + 1000,
                "checkpoint_path": spec["path"],
                "parameters": spec["parameters"],
                "size_class": spec.get("size_class", "cpu"),
                "hyperparameters": spec.get("hyperparameters", {}),
            },
        )
    # Two passes keep (ladder, order) unique while orders shift.
    for order, spec in enumerate(ordered):
        Rung.objects.filter(ladder=ladder, name=spec["name"]).update(order=order)
    for project in projects:
        ladder.projects.add(project)
    return ladder
