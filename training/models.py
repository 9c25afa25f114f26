"""Ladders of model checkpoints, runs over frozen batches, and their results.

A `Run` is content-addressed within its batch: the same batch, ladder,
hyper-parameters and provenance (code, libraries, checkpoints) give the same run. Each rung of the ladder is one
`RungJob`, the unit a Celery worker executes; its row is the job's state.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

CPU = "cpu"
GPU_SMALL = "gpu-small"
GPU_LARGE = "gpu-large"
SIZE_CLASSES = [(CPU, "CPU"), (GPU_SMALL, "GPU, one device"), (GPU_LARGE, "GPU, FSDP over a machine")]


class InvalidTransition(ValidationError):
    """A status change the state's table of allowed moves does not have."""


class Superseded(Exception):
    """A newer attempt holds the job: this attempt must write, record and remove nothing more."""


def _refuse(kind: str, pk, current: str, wanted: str, allowed) -> InvalidTransition:
    allowed_text = ", ".join(sorted(allowed)) or "nothing (it is final)"
    return InvalidTransition(f"{kind} {pk} is {current}; it cannot become {wanted} (from {current}: {allowed_text})")


class Ladder(models.Model):
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    # Projects whose frozen batches start a run on this ladder.
    projects = models.ManyToManyField("annotation.Project", blank=True, related_name="ladders")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Rung(models.Model):
    ladder = models.ForeignKey(Ladder, on_delete=models.CASCADE, related_name="rungs")
    order = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=100)
    checkpoint_path = models.CharField(max_length=1024)
    parameters = models.BigIntegerField()
    size_class = models.CharField(max_length=16, choices=SIZE_CLASSES, default=CPU)
    # Per-rung overrides of the run's hyper-parameters, e.g. {"lr": 2e-5}.
    hyperparameters = models.JSONField(default=dict, blank=True)
    # What was read from the checkpoint, kept until its files change:
    # {"files": {name: [size, mtime_ns]}, "digest", "modules"}.
    checkpoint_facts = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        ordering = ["ladder", "order"]
        constraints = [
            models.UniqueConstraint(fields=["ladder", "order"], name="rung_unique_order"),
            models.UniqueConstraint(fields=["ladder", "name"], name="rung_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.ladder}/{self.name}"

    @property
    def queue(self) -> str:
        return self.size_class


class Run(models.Model):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    STATUSES = [
        (PENDING, "Pending"),
        (RUNNING, "Running"),
        (DONE, "Done"),
        (FAILED, "Failed"),
        (CANCELLED, "Cancelled"),
    ]
    OPEN_STATUSES = [PENDING, RUNNING]
    RETRYABLE_STATUSES = [FAILED, CANCELLED]
    # A run's status follows its jobs; a done run is final, a failed or cancelled one may be retried.
    ALLOWED_MOVES = {
        PENDING: {RUNNING, DONE, FAILED, CANCELLED},
        RUNNING: {PENDING, DONE, FAILED, CANCELLED},
        FAILED: {PENDING, CANCELLED},
        CANCELLED: {PENDING, FAILED},
        DONE: set(),
    }

    batch = models.ForeignKey("annotation.Batch", on_delete=models.PROTECT, related_name="runs")
    ladder = models.ForeignKey(Ladder, on_delete=models.PROTECT, related_name="runs")
    # Run-wide hyper-parameters; rung overrides live in each RungJob's effective set.
    hyperparameters = models.JSONField(default=dict, blank=True)
    # Fine-tune each rung on halving subsets of the train split as well.
    learning_curve = models.BooleanField(default=False)
    # Cross-fitted label checking: {} off, else {"folds", "rungs", "hyperparameters"}
    # (training.label_check); the judging rungs also fine-tune on folds of the train split.
    label_check = models.JSONField(default=dict, blank=True)
    # Scoring the project's open items once the run finished (training.services.opinions):
    # {} not asked for, else {"state", "items", "rungs", "step", "steps", "seconds", "error"}.
    opinions = models.JSONField(default=dict, blank=True)
    code_version = models.CharField(max_length=64)
    # Code digests, library versions, checkpoint digests and git commit at request time.
    provenance = models.JSONField(default=dict, blank=True)
    # sha256 of batch hash + ladder rungs + hyper-parameters + provenance; unique per batch.
    config_hash = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=STATUSES, default=PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # A re-run of one rung: the run it started from and {rung name: changed hyper-parameters}.
    rerun_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns"
    )
    rung_overrides = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Failed computations of the run's verdict since the last stored one (scaling.services.verdict_attempt):
    # how many, the last error, and when the recovery sweep may try again (None once it has given up).
    verdict_failures = models.PositiveSmallIntegerField(default=0)
    verdict_error = models.TextField(blank=True)
    verdict_retry_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "config_hash"], name="run_unique_config_per_batch"),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.ladder} on {self.batch}"

    @property
    def is_final(self) -> bool:
        return self.status not in self.OPEN_STATUSES

    def _move(self, status: str) -> None:
        if status not in self.ALLOWED_MOVES[self.status]:
            raise _refuse("run", self.pk, self.status, status, self.ALLOWED_MOVES[self.status])
        self.status = status
        self.finished_at = timezone.now() if status not in self.OPEN_STATUSES else None
        self.save(update_fields=["status", "finished_at"])

    def settle(self, status: str) -> bool:
        """Take the status derived from the jobs; True when it changed. The caller holds the row lock."""
        if status == self.status:
            return False
        self._move(status)
        return True

    def retry(self) -> None:
        """Back to pending for another try; only a failed or cancelled run is retried."""
        if self.status not in self.RETRYABLE_STATUSES:
            raise InvalidTransition(
                f"run {self.pk} is {self.status}; only a failed or cancelled run is retried"
            )
        self._move(self.PENDING)


class RungJobQuerySet(models.QuerySet):
    def full(self) -> "RungJobQuerySet":
        """Jobs trained on the whole train split: the ones a verdict measures."""
        return self.filter(train_size__isnull=True, fold__isnull=True)

    def subsets(self) -> "RungJobQuerySet":
        """Jobs of a learning curve: the whole train split and its halving subsets, no folds."""
        return self.filter(fold__isnull=True)

    def folds(self) -> "RungJobQuerySet":
        """Cross-fitted label-checking jobs: each trained without one fold and scoring it."""
        return self.filter(fold__isnull=False)

    def held_by(self, job: "RungJob") -> "RungJobQuerySet":
        """The job's row while `job`'s attempt still owns it: running, and no newer claim."""
        return self.filter(pk=job.pk, status=RungJob.RUNNING, attempts=job.attempts)


class RungJob(models.Model):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    STATUSES = Run.STATUSES
    FINAL_STATUSES = [DONE, FAILED, CANCELLED]
    DEFAULT_MAX_ATTEMPTS = 3
    # Running to running: a newer attempt claims a job whose worker stopped beating.
    ALLOWED_MOVES = {
        PENDING: {RUNNING, FAILED, CANCELLED},
        RUNNING: {RUNNING, PENDING, DONE, FAILED, CANCELLED},
        FAILED: {PENDING},
        CANCELLED: {PENDING},
        DONE: set(),
    }

    objects = RungJobQuerySet.as_manager()

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="rung_jobs")
    rung = models.ForeignKey(Rung, on_delete=models.PROTECT, related_name="jobs")
    # None: the whole train split; else a subset of this many examples (learning curves).
    train_size = models.PositiveIntegerField(null=True, blank=True)
    # None: trained on the whole train split (or a subset); else the fold of the train split
    # held out of training and scored (cross-fitted label checking).
    fold = models.PositiveSmallIntegerField(null=True, blank=True)
    hyperparameters = models.JSONField(default=dict, blank=True)
    # sha256 of exactly what the result depends on (training rows, scored prompts, rung,
    # settings, code): a done job with the same key anywhere is reused, not trained again.
    result_key = models.CharField(max_length=64, blank=True, db_index=True)
    reused_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reused_by"
    )
    status = models.CharField(max_length=16, choices=STATUSES, default=PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=DEFAULT_MAX_ATTEMPTS)
    cancel_requested = models.BooleanField(default=False)
    # {"phase", "step", "steps", "loss", "tokens_per_second", "eta_seconds"}
    progress = models.JSONField(default=dict, blank=True)
    loss_curve = models.JSONField(default=list, blank=True)
    # {"base": {...}, "tuned": {...}}: precision, recall, f1, auc, per-category scores.
    metrics = models.JSONField(default=dict, blank=True)
    tokens_per_second = models.FloatField(null=True, blank=True)
    train_seconds = models.FloatField(null=True, blank=True)
    eval_seconds = models.FloatField(null=True, blank=True)
    adapter_path = models.CharField(max_length=1024, blank=True)
    error = models.TextField(blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "rung__order", "fold", "train_size"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "rung"], condition=Q(train_size__isnull=True, fold__isnull=True),
                name="rungjob_one_full",
            ),
            models.UniqueConstraint(
                fields=["run", "rung", "fold"], condition=Q(fold__isnull=False), name="rungjob_unique_fold"
            ),
            models.UniqueConstraint(
                fields=["run", "rung", "train_size"], name="rungjob_unique_subset"
            ),
        ]
        indexes = [models.Index(fields=["status", "enqueued_at"], name="rungjob_pending")]

    def __str__(self) -> str:
        return f"{self.rung.name} in run {self.run_id}"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES

    @property
    def progress_percent(self) -> int:
        """How far the current phase is, 0–100; a final job without steps counts as through."""
        progress = self.progress or {}
        steps = progress.get("steps") or 0
        if not steps:
            return 100 if self.is_final else 0
        return max(0, min(100, int(100 * (progress.get("step") or 0) / steps)))

    def copy_finished(self, *, run: Run) -> "RungJob":
        """A copy of this done job in `run` (a result reused, not trained again), done as well."""
        if self.status != self.DONE:
            raise InvalidTransition(f"rung job {self.pk} is {self.status}; only a done job is copied")
        return RungJob.objects.create(
            run=run,
            rung=self.rung,
            train_size=self.train_size,
            fold=self.fold,
            hyperparameters=self.hyperparameters,
            result_key=self.result_key,
            reused_from=self.reused_from or self,
            status=self.DONE,
            progress=self.progress,
            loss_curve=self.loss_curve,
            metrics=self.metrics,
            tokens_per_second=self.tokens_per_second,
            train_seconds=self.train_seconds,
            eval_seconds=self.eval_seconds,
            adapter_path=self.adapter_path,
            started_at=self.started_at,
            finished_at=self.finished_at,
        )

    def _move(self, status: str, **fields) -> None:
        """Compare-and-set: written only while the row still has the status and attempt this object read.

        A worker's copy of its job is its fencing token: once a newer attempt
        has claimed the row, the update matches nothing and `Superseded` stops
        the stale worker before it records anything.
        """
        if status not in self.ALLOWED_MOVES[self.status]:
            raise _refuse("rung job", self.pk, self.status, status, self.ALLOWED_MOVES[self.status])
        written = RungJob.objects.filter(pk=self.pk, status=self.status, attempts=self.attempts).update(
            status=status, **fields
        )
        if not written:
            raise Superseded(f"rung job {self.pk}: attempt {self.attempts} no longer holds it")
        self.status = status
        for name, value in fields.items():
            setattr(self, name, value)

    def start(self, attempt: int) -> None:
        """Claim the job for `attempt`, the next attempt number. The caller holds the row lock."""
        if attempt != self.attempts + 1:
            raise InvalidTransition(f"rung job {self.pk}: attempt {attempt} after {self.attempts}")
        now = timezone.now()
        self._move(
            self.RUNNING, attempts=attempt, started_at=self.started_at or now, heartbeat_at=now,
            progress={"phase": "starting", "attempt": attempt},
        )

    def finish(self, status: str, error: str = "") -> None:
        if status not in self.FINAL_STATUSES:
            raise InvalidTransition(f"rung job {self.pk}: {status} is not a final status")
        self._move(status, error=error, finished_at=timezone.now())

    def requeue(self, error: str) -> None:
        """Back on the queue after a failed attempt that has attempts left."""
        self._move(self.PENDING, error=error)

    def cancel(self) -> None:
        """A pending job stops at once (a running one is asked to, through `cancel_requested`)."""
        self._move(self.CANCELLED, cancel_requested=True, finished_at=timezone.now())

    def retry(self, *, extra_attempts: int) -> None:
        """A failed or cancelled job goes back on the queue with `extra_attempts` more tries.

        Attempt numbers keep counting up, so a worker of an earlier attempt
        can never pass for a new one.
        """
        self._move(
            self.PENDING, max_attempts=self.attempts + extra_attempts, cancel_requested=False, error="",
            finished_at=None,
        )


class Prediction(models.Model):
    BASE = "base"
    TUNED = "tuned"
    STAGES = [(BASE, "Base"), (TUNED, "Tuned")]

    rung_job = models.ForeignKey(RungJob, on_delete=models.CASCADE, related_name="predictions")
    item = models.ForeignKey("annotation.Item", on_delete=models.CASCADE, related_name="predictions")
    stage = models.CharField(max_length=8, choices=STAGES)
    # The project's option value the model chose; "" when unparseable.
    option = models.CharField(max_length=64, blank=True)
    # The label the item had in the frozen batch, kept beside the prediction.
    label = models.CharField(max_length=64)
    # Log-likelihood per option value, and positive-minus-best-other margin.
    scores = models.JSONField(default=dict)
    margin = models.FloatField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["rung_job", "item", "stage"], name="prediction_unique_item_stage"
            ),
        ]
        indexes = [models.Index(fields=["item", "stage"], name="prediction_item")]


class ItemDynamics(models.Model):
    """How a full fine-tune saw one train item while learning it (training.ml.finetune.TrainingDynamics).

    The area under the margin (2001.10528): the label's logit over the best
    other choice's, averaged over every step that trained on the item; and
    dataset cartography's confidence and variability (2009.10795): the mean
    and spread of the label's probability among the choices. A low area or a
    low confidence marks a label the model keeps resisting.
    """

    rung_job = models.ForeignKey(RungJob, on_delete=models.CASCADE, related_name="dynamics")
    item = models.ForeignKey("annotation.Item", on_delete=models.CASCADE, related_name="dynamics")
    area_under_margin = models.FloatField()
    confidence = models.FloatField()
    variability = models.FloatField()
    seen = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rung_job", "item"], name="itemdynamics_unique_item")]
