"""Rung jobs: claiming one for an attempt, executing it (base score, fine-tune, tuned score), finishing it.

torch is imported only inside the functions that execute a job, so the web
process never loads it.
"""

import json
import logging
import os
import shutil
import threading
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from annotation.models import BatchItem
from training.ml.finetune import TRAINING_RESULT_FILE
from training.models import ItemDynamics, Prediction, RungJob, Superseded
from training.services.provenance import worker_mismatch
from training.services.runs import job_adopt, run_refresh_status, stored_result_for

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL_SECONDS = 2.0
# A running job whose heartbeat is older than this is taken to be orphaned.
STALE_HEARTBEAT = timedelta(seconds=int(os.environ.get("TRAINING_STALE_SECONDS", 120)))


def rung_job_claim(*, job_id: int) -> RungJob | None:
    """Mark the job running for its next attempt, or None when there is nothing to do.

    Nothing to do: the job is final (a redelivered message), another worker
    holds it with a fresh heartbeat, or a done job elsewhere already has its
    result (same result key), which it takes. A job past its attempts fails here. The
    attempt number the claim gets is the job's fencing token.
    """
    with transaction.atomic():
        # The job's row only: with its run's row too, a claim (job, then run) and run_cancel
        # (run, then its jobs) could each wait on the other.
        job = RungJob.objects.select_for_update(of=("self",)).select_related("rung", "run").filter(pk=job_id).first()
        if job is None or job.is_final:
            return None
        if (
            job.status == RungJob.RUNNING
            and job.heartbeat_at
            and timezone.now() - job.heartbeat_at < STALE_HEARTBEAT
        ):
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
        source = stored_result_for(job)
        if source is not None:
            # Another run computed this very result after this job was queued.
            labels = dict(BatchItem.objects.filter(batch_id=job.run.batch_id).values_list("item_id", "label"))
            if job_adopt(job=job, source=source, labels=labels):
                transaction.on_commit(lambda: run_refresh_status(run=job.run))
                return None
        job.start(attempt=job.attempts + 1)
    run_refresh_status(run=job.run)
    return job


def rung_job_finish(*, job: RungJob, status: str, error: str = "") -> None:
    """Record the job's final status; refused (Superseded) once a newer attempt holds it."""
    job.finish(status, error)
    transaction.on_commit(lambda: run_refresh_status(run=job.run))


def _fenced_update(job: RungJob, **fields) -> None:
    """Write fields of the job only while this attempt still holds it, else stop the attempt."""
    if not RungJob.objects.held_by(job).update(**fields):
        raise Superseded(f"rung job {job.pk}: attempt {job.attempts} no longer holds it")


@contextmanager
def _holding(job: RungJob):
    """Hold the job's row lock while this attempt owns it: no newer claim can start meanwhile.

    For work outside the row (files, predictions) that must not happen once
    a newer attempt holds the job.
    """
    with transaction.atomic():
        if not RungJob.objects.select_for_update().held_by(job).exists():
            raise Superseded(f"rung job {job.pk}: attempt {job.attempts} no longer holds it")
        yield


def heartbeat_interval() -> float:
    """Several beats within the stale limit, so one slow write never makes a live job look lost."""
    return max(0.2, min(10.0, STALE_HEARTBEAT.total_seconds() / 4))


@contextmanager
def rung_job_heartbeat(job: RungJob):
    """Beat for the job from a background thread for as long as the block runs.

    Loading a checkpoint, tokenising or starting torchrun report no progress,
    and can take longer than the stale limit; the beat keeps the recovery
    sweep from taking a live job for a lost one. The thread has its own
    database connection, closed when it stops; it stops by itself once a
    newer attempt holds the job.
    """
    stop = threading.Event()
    job_id, attempt = job.pk, job.attempts
    interval = heartbeat_interval()

    def beat() -> None:
        try:
            while not stop.wait(interval):
                held = RungJob.objects.filter(pk=job_id, status=RungJob.RUNNING, attempts=attempt)
                if not held.update(heartbeat_at=timezone.now()):
                    return
        except Exception:
            logger.exception("heartbeat of rung job %s stopped", job_id)
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"heartbeat-rung-job-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


class ProgressRecorder:
    """Writes a job's progress to the database at most every couple of seconds.

    Each write and cancel check is fenced by the job's attempt: once a newer
    attempt holds the job, it raises Superseded and the training stops.
    """

    def __init__(self, job: RungJob, phase: str):
        self.job = job
        self.phase = phase
        self.last_write = 0.0
        self.last_cancel_check = 0.0
        self.cancelled = False

    def __call__(self, progress: dict, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_write < PROGRESS_INTERVAL_SECONDS:
            return
        self.last_write = now
        _fenced_update(self.job, progress={"phase": self.phase, **progress}, heartbeat_at=timezone.now())

    def should_cancel(self) -> bool:
        now = time.monotonic()
        if now - self.last_cancel_check >= PROGRESS_INTERVAL_SECONDS:
            self.last_cancel_check = now
            held = RungJob.objects.held_by(self.job).values_list("cancel_requested", flat=True).first()
            if held is None:
                raise Superseded(f"rung job {self.job.pk}: attempt {self.job.attempts} no longer holds it")
            self.cancelled = held
        return self.cancelled


def adapter_dir_for(job: RungJob) -> Path:
    """Where the job's finished adapter lives; any attempt of the job may reuse it."""
    suffix = "" if job.train_size is None else f"-n{job.train_size}"
    if job.fold is not None:
        suffix += f"-fold{job.fold}"
    return Path(settings.MEDIA_ROOT) / "adapters" / f"run-{job.run_id}" / f"{job.rung.name}{suffix}"


def adapter_work_dir_for(job: RungJob) -> Path:
    """Where this attempt writes its adapter before it is complete: named by the attempt."""
    adapter_dir = adapter_dir_for(job)
    return adapter_dir.with_name(f"{adapter_dir.name}.partial-{job.attempts}")


def predictions_store(*, job: RungJob, stage: str, rows: list[dict]) -> None:
    """Store one stage's predictions; re-storing the same item is a no-op. Refused for a stale attempt."""
    with _holding(job):
        Prediction.objects.bulk_create(
            [Prediction(rung_job=job, stage=stage, **row) for row in rows],
            ignore_conflicts=True,
            batch_size=1000,
        )


def dynamics_store(*, job: RungJob, dynamics: dict[str, list[float]]) -> None:
    """Store a full fine-tune's per-item training dynamics; refused for a stale attempt."""
    with _holding(job):
        ItemDynamics.objects.bulk_create(
            [
                ItemDynamics(rung_job=job, item_id=int(key), area_under_margin=area, confidence=confidence,
                             variability=variability, seen=seen)
                for key, (area, confidence, variability, seen) in dynamics.items()
            ],
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
    without retries, since the same settings would do the same again. An
    attempt that finds a newer one holding the job stops and records nothing.
    """
    job = rung_job_claim(job_id=job_id)
    if job is None:
        return
    try:
        with rung_job_heartbeat(job):
            _execute_claimed(job)
    except Superseded:
        logger.warning("rung job %s: attempt %s stopped, a newer attempt holds the job", job.pk, job.attempts)
        shutil.rmtree(adapter_work_dir_for(job), ignore_errors=True)


def _execute_claimed(job: RungJob) -> None:
    from training.ml.finetune import Cancelled, Diverged

    mismatch = worker_mismatch(job.run.provenance or {})
    if mismatch:
        # Another attempt on this worker would differ the same way: fail now, with what to fix.
        with transaction.atomic():
            rung_job_finish(job=job, status=RungJob.FAILED, error=(
                f"this worker runs {mismatch}: start the workers on the release that requested the run, "
                "then retry the rung"
            ))
        return
    try:
        _train_and_score(job)
    except Superseded:
        raise
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
                job.requeue(error=f"attempt {job.attempts}: {type(error).__name__}: {error}")
        if not final:
            raise
        return
    with transaction.atomic():
        rung_job_finish(job=job, status=RungJob.DONE)


def _option_scores(values: list[str], logprobs: list[float]) -> dict[str, float]:
    return {value: score for value, score in zip(values, logprobs)}


def label_check_folds(job: RungJob) -> tuple[int, int] | None:
    """(held-out fold, folds) of a label-checking job; None for any other."""
    if job.fold is None:
        return None
    return job.fold, int(job.run.label_check["folds"])


def _score_stage(*, job: RungJob, stage: str, adapter_dir: str | None) -> dict:
    """Score the eval split (a fold job: its held-out fold) with the base model or the adapter; store predictions."""
    from training.examples import eval_examples, held_out_examples
    from training.ml.evaluate import score_choices
    from training.ml.ladder import load_model

    batch = job.run.batch
    project = batch.project
    held_out = label_check_folds(job)
    if held_out is None:
        examples, option_values, labels = eval_examples(batch=batch)
    else:
        examples, option_values, labels = held_out_examples(batch=batch, fold=held_out[0], folds=held_out[1])
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
        # A macro-F1 task has no positive option, so no margin to store.
        positive = by_value.get(project.positive_option) if project.metric_positive else None
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
    """P/R/F1 (on the project's positive option, or macro over its options), AUC, accuracy per category.

    Right and wrong are scaling.verdict's, as in the verdict: an abstention
    (a "don't know" option, or an unparseable answer) is always wrong. AUC
    ranks the positive option's margin, so a macro-F1 task has none.
    """
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from annotation.models import Item
    from scaling.verdict import answers_correct, f1_scores, project_abstentions

    positive = project.metric_positive
    abstain = project_abstentions(project.abstain_options)
    labels = np.array([row["label"] for row in rows], dtype=object)
    options = np.array([row["option"] for row in rows], dtype=object)
    scores = f1_scores(labels, options, positive=positive, abstain=abstain)
    correct = answers_correct(labels, options, positive, abstain)
    truth = [label == positive for label in labels]
    margins = [row["margin"] if row["margin"] is not None else -1e9 for row in rows]
    auc = roc_auc_score(truth, margins) if positive is not None and len(set(truth)) == 2 else None
    categories = dict(Item.objects.filter(pk__in=[row["item_id"] for row in rows]).values_list("pk", "category"))
    per_category = {}
    for category in sorted(set(categories.values()) - {""}):
        picked = [index for index, row in enumerate(rows) if categories.get(row["item_id"]) == category]
        per_category[category] = {"items": len(picked), "accuracy": float(correct[picked].mean())}
    return {
        **scores,
        "metric": project.metric_name,
        "auc": None if auc is None else float(auc),
        "items": len(rows),
        "per_category": per_category,
    }


def _train_and_score(job: RungJob) -> None:
    """A fold job has no base stage: its held-out items' opinion comes from the fine-tune alone."""
    metrics = dict(job.metrics or {})
    needs_base = job.fold is None
    has_base = Prediction.objects.filter(rung_job=job, stage=Prediction.BASE).exists() and "base" in metrics
    if needs_base and not has_base:
        metrics["base"] = _score_stage(job=job, stage=Prediction.BASE, adapter_dir=None)
        _fenced_update(job, metrics=metrics)
    adapter_dir = adapter_dir_for(job)
    if not adapter_dir.exists():
        _fine_tune(job, adapter_dir)
    result_file = adapter_dir / TRAINING_RESULT_FILE
    if not job.loss_curve and result_file.exists():
        # Also after a crash between saving the adapter and recording its curve.
        result = json.loads(result_file.read_text())
        _fenced_update(
            job,
            adapter_path=str(adapter_dir),
            loss_curve=result["loss_curve"],
            tokens_per_second=result["tokens_per_second"],
            train_seconds=result["seconds"],
        )
    if job.train_size is None and job.fold is None and result_file.exists() and not job.dynamics.exists():
        dynamics_store(job=job, dynamics=json.loads(result_file.read_text()).get("dynamics") or {})
    metrics["tuned"] = _score_stage(job=job, stage=Prediction.TUNED, adapter_dir=str(adapter_dir))
    _fenced_update(
        job,
        metrics=metrics,
        adapter_path=str(adapter_dir),
        eval_seconds=metrics.get("base", {}).get("seconds", 0.0) + metrics["tuned"]["seconds"],
        progress={"phase": "done", "step": 1, "steps": 1},
    )


def _fine_tune(job: RungJob, adapter_dir: Path) -> None:
    """Train the adapter in this attempt's work directory, then rename it into place.

    Written beside, then renamed: an adapter directory is always complete.
    Work directories of earlier attempts are leftovers of workers that
    stopped; a stale worker only ever touches its own.
    """
    from training.examples import train_examples
    from training.ml import distributed
    from training.ml.finetune import LoraConfigValues, lora_finetune

    work_dir = adapter_work_dir_for(job)
    prefix = f"{adapter_dir.name}.partial-"
    with _holding(job):
        for leftover in adapter_dir.parent.glob(f"{prefix}*"):
            attempt = leftover.name[len(prefix):]
            if attempt.isdigit() and int(attempt) <= job.attempts:
                shutil.rmtree(leftover, ignore_errors=True)
    recorder = ProgressRecorder(job, "fine-tuning")
    examples = train_examples(batch=job.run.batch, limit=job.train_size, held_out=label_check_folds(job))
    processes = int(job.hyperparameters.get("processes", 1))
    if processes > 1:
        # A rung too large for one device: sharded across this machine's processes.
        distributed.launch(
            checkpoint_dir=job.rung.checkpoint_path,
            examples=examples,
            output_dir=work_dir,
            overrides=job.hyperparameters,
            processes=processes,
            progress=recorder,
            should_cancel=recorder.should_cancel,
        )
    else:
        lora_finetune(
            checkpoint_dir=job.rung.checkpoint_path,
            examples=examples,
            output_dir=work_dir,
            config=LoraConfigValues.from_overrides(job.hyperparameters),
            progress=recorder,
            should_cancel=recorder.should_cancel,
        )
    with _holding(job):
        if adapter_dir.exists():
            # An earlier attempt finished the same adapter meanwhile: keep it.
            shutil.rmtree(work_dir, ignore_errors=True)
        else:
            work_dir.rename(adapter_dir)
