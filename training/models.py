"""Ladders of model checkpoints, runs over frozen batches, and their results.

A `Run` is content-addressed within its batch: the same batch, ladder,
hyper-parameters and provenance (code, libraries, checkpoints) give the same run. Each rung of the ladder is one
`RungJob`, the unit a Celery worker executes; its row is the job's state.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

CPU = "cpu"
GPU_SMALL = "gpu-small"
GPU_LARGE = "gpu-large"
SIZE_CLASSES = [(CPU, "CPU"), (GPU_SMALL, "GPU, one device"), (GPU_LARGE, "GPU, FSDP over a machine")]


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

    batch = models.ForeignKey("annotation.Batch", on_delete=models.PROTECT, related_name="runs")
    ladder = models.ForeignKey(Ladder, on_delete=models.PROTECT, related_name="runs")
    # Run-wide hyper-parameters; rung overrides live in each RungJob's effective set.
    hyperparameters = models.JSONField(default=dict, blank=True)
    # Fine-tune each rung on halving subsets of the train split as well.
    learning_curve = models.BooleanField(default=False)
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


class RungJob(models.Model):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    STATUSES = Run.STATUSES
    FINAL_STATUSES = [DONE, FAILED, CANCELLED]

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="rung_jobs")
    rung = models.ForeignKey(Rung, on_delete=models.PROTECT, related_name="jobs")
    # None: the whole train split; else a subset of this many examples (learning curves).
    train_size = models.PositiveIntegerField(null=True, blank=True)
    hyperparameters = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=STATUSES, default=PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=3)
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
        ordering = ["run", "rung__order", "train_size"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "rung"], condition=Q(train_size__isnull=True), name="rungjob_one_full"
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
