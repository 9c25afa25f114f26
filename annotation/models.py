"""The annotation data core: projects, corpora, items, labels and batches.

Labels are append-only `Annotation` rows; `Item.current_annotation` points at
the one in force and moves in the same transaction as the insert. A frozen
`Batch` never changes again: its `content_hash` names its exact export.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

NO_EXTRACTION = "no_extraction"
EXTRACTION = "extraction"
DONT_KNOW = "dont_know"

DEFAULT_INSTRUCTION = (
    "Below is a chat history and a new message from a group chat. Decide whether "
    "answering the new message needs information extracted from the history."
)


def default_options() -> list[dict]:
    """The seed task's options (2405.02817), in the order annotators see them."""
    return [
        {"value": NO_EXTRACTION, "text": "no extraction needed", "key": "j"},
        {"value": EXTRACTION, "text": "needs extraction from the context", "key": "k"},
        {"value": DONT_KNOW, "text": "don't know", "key": "i"},
    ]


def default_abstain_options() -> list[str]:
    return [DONT_KNOW]


# The most of an annotator's items that may be controls: the rest is the work.
CONTROL_RATE_MAX = 0.5
# Bounds of the label check's settings (training.services.label_check).
LABEL_CHECK_MIN_FOLDS, LABEL_CHECK_MAX_FOLDS = 2, 10
LABEL_CHECK_MIN_EPOCHS_FACTOR, LABEL_CHECK_MAX_EPOCHS_FACTOR = 0.1, 10.0


class Project(models.Model):
    """A labelling task: its template, preprocessing rules and workflow settings."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    instruction = models.TextField(default=DEFAULT_INSTRUCTION)
    options = models.JSONField(default=default_options)
    # The option value that counts as the positive class in P/R/F1; blank
    # scores the task by macro-F1 over its options (no single positive).
    positive_option = models.CharField(max_length=64, default=EXTRACTION, blank=True)
    # Letter the options in a per-item shuffled order (the seed's format). Off,
    # every item letters them in the project's order: tiny demo models can
    # learn the task then, but not a permutation of letters as well.
    shuffle_options = models.BooleanField(default=True)
    # Option values that always count as a wrong prediction ("don't know").
    abstain_options = models.JSONField(default=default_abstain_options, blank=True)
    context_window = models.PositiveSmallIntegerField(default=11)
    merge_window_seconds = models.FloatField(default=18.0)
    min_chars = models.PositiveSmallIntegerField(default=7)
    candidate_threshold = models.FloatField(default=0.5)
    guideline_version = models.PositiveIntegerField(default=1)
    # Grows when a lead changes what shapes training data (instruction,
    # options, their order, the metric) after a batch was frozen under it.
    task_version = models.PositiveIntegerField(default=1)
    eval_share = models.FloatField(default=0.1)
    # When the ladder checks every label with cross-fitted fine-tunes (see training.label_check).
    LABEL_CHECK_NOT_MONOTONE = "not-monotone"
    LABEL_CHECK_EVERY_FREEZE = "every-freeze"
    LABEL_CHECK_ON_REQUEST = "on-request"
    LABEL_CHECK_CHOICES = [
        (LABEL_CHECK_NOT_MONOTONE, "when a verdict is not monotone"),
        (LABEL_CHECK_EVERY_FREEZE, "on every freeze"),
        (LABEL_CHECK_ON_REQUEST, "only on request"),
    ]
    label_check = models.CharField(max_length=16, choices=LABEL_CHECK_CHOICES, default=LABEL_CHECK_NOT_MONOTONE)
    # How a check that starts by itself trains, and what a lead's request starts
    # from: folds of the train split, and the judging rungs' epochs as a multiple
    # of the ladder's (fitted well, a judge contradicts fewer correct labels).
    label_check_folds = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(LABEL_CHECK_MIN_FOLDS), MaxValueValidator(LABEL_CHECK_MAX_FOLDS)]
    )
    label_check_epochs_factor = models.FloatField(
        default=2.0,
        validators=[MinValueValidator(LABEL_CHECK_MIN_EPOCHS_FACTOR), MaxValueValidator(LABEL_CHECK_MAX_EPOCHS_FACTOR)],
    )
    lease_seconds = models.PositiveIntegerField(default=600)
    # How many distinct annotators label each item (k > 1 measures agreement).
    overlap = models.PositiveSmallIntegerField(default=1)
    # Items still short of `overlap` labels: a counter kept by item_annotate so
    # the annotator's progress needs no scan; None means "recount".
    open_items = models.PositiveIntegerField(null=True, blank=True, editable=False)
    # Share of each annotator's claims served a control (an item with a known
    # answer, `Item.control`); 0 serves none.
    control_rate = models.FloatField(
        default=0.0, validators=[MinValueValidator(0.0), MaxValueValidator(CONTROL_RATE_MAX)]
    )
    # Queue order: the items the ladder is least sure of first (`Item.suggestion_margin`
    # from the latest run), where a run has scored them; otherwise the usual order.
    informative_first = models.BooleanField(default=False)
    # Show annotators the ladder's suggestion. Off by default: a suggestion
    # anchors people towards it. Leads always see it on the review page.
    suggest_labels = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    @property
    def wants_ladder_opinions(self) -> bool:
        """A finished run scores the open items when the queue or the annotators use its opinion."""
        return self.informative_first or self.suggest_labels

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(control_rate__gte=0.0, control_rate__lte=CONTROL_RATE_MAX),
                name="project_control_rate_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def option_values(self) -> list[str]:
        return [option["value"] for option in self.options]

    @property
    def metric_positive(self) -> str | None:
        """The positive class for scaling.verdict, or None for macro-F1."""
        return self.positive_option or None

    @property
    def metric_name(self) -> str:
        return "F1" if self.positive_option else "macro-F1"

    def option_text(self, value: str) -> str:
        for option in self.options:
            if option["value"] == value:
                return option["text"]
        raise KeyError(value)


class Membership(models.Model):
    ANNOTATOR = "annotator"
    LEAD = "lead"
    ADMIN = "admin"
    ROLES = [(ANNOTATOR, "Annotator"), (LEAD, "Lead"), (ADMIN, "Admin")]

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=ROLES, default=ANNOTATOR)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.project}"


class Guideline(models.Model):
    """One version of a project's labelling guidelines; versions only grow."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="guidelines")
    version = models.PositiveIntegerField()
    text = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="guideline_unique_version"),
        ]


class Corpus(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="corpora")
    name = models.CharField(max_length=200, default="default")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "corpora"
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="corpus_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.project}/{self.name}"


class Chat(models.Model):
    corpus = models.ForeignKey(Corpus, on_delete=models.CASCADE, related_name="chats")
    external_id = models.CharField(max_length=255)
    title = models.CharField(max_length=255, blank=True)
    # The import that created it, so a failed import can remove what it added.
    import_job = models.ForeignKey(
        "ImportJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["corpus", "external_id"], name="chat_unique_id"),
        ]

    def __str__(self) -> str:
        return self.title or self.external_id


class Message(models.Model):
    # Without indexes of their own: message_unique_id and message_chat_time
    # begin with them, and every index is paid for by each imported row.
    # The corpus is its chat's (the importers write it from the chat they
    # resolve in that corpus), and the chat's foreign key keeps that corpus
    # in the database, so a check of this column adds nothing the chat's does
    # not; as a second per-row foreign-key check it cost a quarter of an
    # import's database time.
    corpus = models.ForeignKey(
        Corpus, on_delete=models.CASCADE, related_name="messages", db_index=False,
        db_constraint=False,
    )
    chat = models.ForeignKey(
        Chat, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    external_id = models.CharField(max_length=255)
    sender = models.CharField(max_length=255)
    sent_at = models.DateTimeField()
    text = models.TextField()
    metadata = models.JSONField(default=dict, blank=True)
    # The import that added it, so a failed import can remove what it added.
    # A marker only, never followed, and jobs are deleted through the ORM
    # alone (which sets it to null): without a database check, which PostgreSQL
    # runs for every row even when the column is null (a tenth of an import).
    import_job = models.ForeignKey(
        "ImportJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        db_index=False, db_constraint=False,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["corpus", "external_id"], name="message_unique_id"),
        ]
        indexes = [
            models.Index(fields=["chat", "sent_at", "id"], name="message_chat_time"),
            # Only job imports set it, so the index leaves out the other rows.
            models.Index(
                fields=["import_job"], condition=models.Q(import_job__isnull=False),
                name="message_import_job",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.external_id}: {self.text[:40]}"


class Item(models.Model):
    """A candidate message with its context, as annotators and models see it."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="items")
    # The first message of the (possibly merged) candidate turn.
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="items")
    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="items")
    text = models.TextField()
    sender = models.CharField(max_length=8)
    sent_at = models.DateTimeField()
    # Up to `context_window` earlier turns: [{"username": "A", "content": "...", "sent_at": "..."}]
    context = models.JSONField(default=list)
    score = models.FloatField(default=0.0)
    category = models.CharField(max_length=64, blank=True, default="")
    # Hidden gold label of generated corpora; never shown to annotators.
    gold = models.CharField(max_length=64, blank=True, default="")
    current_annotation = models.ForeignKey(
        "Annotation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Denormalised from current_annotation for the hot list filters.
    label = models.CharField(max_length=64, blank=True, default="", db_index=True)
    annotation_count = models.PositiveIntegerField(default=0)
    reviewed = models.BooleanField(default=False)
    # Sent back by a new guideline version: its label predates the guidelines in force.
    needs_recheck = models.BooleanField(default=False)
    # A control: its reviewed label is the known answer annotators are scored
    # against; served only while reviewed (see assignments, `control_rate`).
    control = models.BooleanField(default=False)
    # The ladder's opinion of the item before it was labelled (training.services.opinions):
    # the option its largest rungs find most probable, that probability, and the
    # margin over the next option (small = unsure). `suggestion_run` is the run's
    # id, kept without a foreign key since runs live in the training app, which
    # builds on this one.
    suggestion = models.CharField(max_length=64, blank=True, default="")
    suggestion_probability = models.FloatField(null=True, blank=True)
    suggestion_margin = models.FloatField(null=True, blank=True)
    suggestion_run = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "message"], name="item_unique_message"),
        ]
        indexes = [
            # Next unlabelled item for the queue.
            models.Index(fields=["project", "annotation_count", "id"], name="item_queue"),
            # The same, the ladder's least certain first (`Project.informative_first`).
            # PostgreSQL's b-tree keeps NULLs last, as the claim orders them.
            models.Index(
                fields=["project", "annotation_count", "suggestion_margin", "id"], name="item_queue_informative"
            ),
            models.Index(fields=["project", "label", "id"], name="item_label"),
            models.Index(fields=["project", "reviewed", "id"], name="item_reviewed"),
            # The lead's browser pages through a project in id order.
            models.Index(fields=["project", "id"], name="item_browse"),
            # A claim's controls: few items of a project, looked up on a control turn.
            models.Index(fields=["project", "id"], condition=Q(control=True), name="item_control"),
        ]

    def __str__(self) -> str:
        return f"item {self.pk}: {self.text[:40]}"


class Annotation(models.Model):
    """One label revision. Rows are never updated or deleted."""

    LABEL = "label"
    REVIEW_ACCEPT = "accept"
    REVIEW_OVERRIDE = "override"
    SIMULATED = "simulated"
    # An annotator's answer to an item served as a control: scored against the
    # reviewed label, never the item's label, never counted towards its overlap.
    CONTROL = "control"
    # A label brought in from another tool's export (Label Studio), by the
    # annotator who gave it there; a label like any other otherwise.
    IMPORTED = "imported"
    KINDS = [
        (LABEL, "Label"),
        (REVIEW_ACCEPT, "Accepted in review"),
        (REVIEW_OVERRIDE, "Overridden in review"),
        (SIMULATED, "Simulated annotator"),
        (CONTROL, "Control answer"),
        (IMPORTED, "Imported label"),
    ]
    LABEL_KINDS = (LABEL, SIMULATED, IMPORTED)
    REVIEW_KINDS = (REVIEW_ACCEPT, REVIEW_OVERRIDE)
    # What an annotator gives a claimed item: a label, or the answer to a control.
    ANSWER_KINDS = (LABEL, SIMULATED, CONTROL)
    # A day: the most time on one item the label form and the API accept.
    SECONDS_SPENT_MAX = 86400

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="annotations")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="annotations"
    )
    option = models.CharField(max_length=64)
    kind = models.CharField(max_length=16, choices=KINDS, default=LABEL)
    guideline_version = models.PositiveIntegerField()
    seconds_spent = models.FloatField(default=0.0)
    reason = models.TextField(blank=True)
    # The revision current when this one was written (the one it replaced, when
    # it became current), for history and reverts.
    previous = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Set when the submit arrived after its lease expired or the item was done.
    late = models.BooleanField(default=False)
    # Where an imported label came from ("labelstudio:<annotation id>"), so a
    # re-import skips it; blank for labels given here.
    imported_from = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["item", "id"]
        indexes = [
            models.Index(fields=["annotator", "created_at"], name="annotation_by_user"),
            models.Index(fields=["item", "annotator", "id"], name="annotation_item_user"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["item", "imported_from"],
                condition=~Q(imported_from=""),
                name="annotation_unique_import",
            ),
        ]


class Assignment(models.Model):
    """A lease on an item for one annotator; it lapses at `expires_at`."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments"
    )
    leased_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    # Served as a control: the label given under this lease is a control answer.
    control = models.BooleanField(default=False)

    class Meta:
        constraints = [
            # One open lease per annotator and item.
            models.UniqueConstraint(
                fields=["item", "annotator"],
                condition=Q(completed_at__isnull=True, released_at__isnull=True),
                name="assignment_one_open_per_user",
            ),
        ]
        indexes = [
            models.Index(fields=["annotator", "completed_at", "expires_at"], name="assignment_open"),
            models.Index(fields=["item", "expires_at"], name="assignment_item"),
        ]


class Batch(models.Model):
    """A set of reviewed items. Frozen batches are immutable, named by hash."""

    DRAFT = "draft"
    FROZEN = "frozen"
    STATUSES = [(DRAFT, "Draft"), (FROZEN, "Frozen")]

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="batches")
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=STATUSES, default=DRAFT)
    eval_share = models.FloatField(default=0.1)
    # sha256 of the batch's exact alpaca export (train then eval); set on freeze.
    content_hash = models.CharField(max_length=64, blank=True, default="", db_index=True)
    train_count = models.PositiveIntegerField(default=0)
    eval_count = models.PositiveIntegerField(default=0)
    # The project's task version the batch's records were rendered under; frozen, they keep it.
    task_version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    frozen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project", "-created_at"]
        verbose_name_plural = "batches"
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="batch_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.short_hash or self.status})"

    @property
    def is_frozen(self) -> bool:
        return self.status == self.FROZEN

    # The moves a batch's status may make; every move goes through a method below.
    TRANSITIONS = {DRAFT: {FROZEN}, FROZEN: set()}

    def check_move(self, status: str) -> None:
        """Refuse (ValidationError) a move the batch's status may not make."""
        if status not in self.TRANSITIONS[self.status]:
            if self.status == self.FROZEN:
                message = f"batch {self.name!r} is already frozen ({self.short_hash})"
            else:
                message = f"batch {self.name!r} cannot go from {self.status} to {status}"
            raise ValidationError({"batch": message})

    def freeze(self, *, content_hash: str, train_count: int, eval_count: int) -> None:
        """Draft → frozen, once.

        The caller holds the row lock (`batches.batch_freeze`), so two freezes
        of one draft cannot both pass the check.
        """
        self.check_move(self.FROZEN)
        self.status = self.FROZEN
        self.content_hash = content_hash
        self.train_count = train_count
        self.eval_count = eval_count
        self.frozen_at = timezone.now()
        self.save(update_fields=["status", "content_hash", "train_count", "eval_count", "frozen_at"])

    @property
    def short_hash(self) -> str:
        return self.content_hash[:12]


class BatchItem(models.Model):
    """An item's label and split as frozen into a batch."""

    TRAIN = "train"
    EVAL = "eval"
    SPLITS = [(TRAIN, "Train"), (EVAL, "Eval")]

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="batch_items")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="batch_items")
    annotation = models.ForeignKey(Annotation, on_delete=models.PROTECT, related_name="+")
    label = models.CharField(max_length=64)
    split = models.CharField(max_length=8, choices=SPLITS)
    # The item's exact alpaca record (one JSON line) and its place in the export,
    # rendered once when the batch is made so exports only stream stored text.
    record = models.TextField(default="")
    # The record's options as [[letter, option value, option text], …] in its
    # order, stored with it: scoring maps the model's choice back to a value.
    choices = models.JSONField(default=list, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["batch", "item"], name="batchitem_unique_item"),
        ]
        indexes = [
            models.Index(fields=["batch", "split"], name="batchitem_split"),
            models.Index(fields=["batch", "split", "position"], name="batchitem_export_order"),
        ]


class ImportJobTransitionError(Exception):
    """An import job was asked to move to a status it cannot reach from its own."""


class ImportJob(models.Model):
    """An import run; the upload form and the command both record one.

    Its status moves only through the transition methods below, which refuse
    an illegal move: pending → running (`start`), running → done (`finish`),
    running → pending (`requeue`: interrupted or orphaned, tried again), and
    pending or running → failed (`fail`). Done and failed are final.
    """

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    STATUSES = [(PENDING, "Pending"), (RUNNING, "Running"), (DONE, "Done"), (FAILED, "Failed")]
    DEFAULT_MAX_ATTEMPTS = 3

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="import_jobs")
    corpus_name = models.CharField(max_length=200, default="default")
    file_name = models.CharField(max_length=255)
    path = models.CharField(max_length=1024)
    format = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=16, choices=STATUSES, default=PENDING)
    bytes_total = models.BigIntegerField(default=0)
    bytes_done = models.BigIntegerField(default=0)
    messages_added = models.PositiveIntegerField(default=0)
    messages_skipped = models.PositiveIntegerField(default=0)
    # Labels an export brought (Label Studio): added as revisions, their choice
    # matching no option, or their message not (yet) an item.
    labels_added = models.PositiveIntegerField(default=0)
    labels_unmapped = models.PositiveIntegerField(default=0)
    labels_waiting = models.PositiveIntegerField(default=0)
    # The first few unmapped choices: ["file: task 12: 'maybe'", …].
    labels_unmapped_examples = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    # Attempts started; a job whose worker dies every time fails at the limit.
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=DEFAULT_MAX_ATTEMPTS)
    # Written while running; a running job whose heartbeat stopped is orphaned.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # When the broker last took its message; null until then (a lost publish).
    enqueued_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="importjob_status_heartbeat")]

    @property
    def is_final(self) -> bool:
        return self.status in {self.DONE, self.FAILED}

    def _move(self, allowed_from: set[str], to: str) -> None:
        if self.status not in allowed_from:
            raise ImportJobTransitionError(
                f"import job {self.pk} is {self.status}; it cannot become {to}"
            )
        self.status = to

    def start(self) -> None:
        """Begin an attempt: pending → running."""
        self._move({self.PENDING}, self.RUNNING)
        now = timezone.now()
        self.attempts += 1
        self.started_at = now
        self.heartbeat_at = now
        self.finished_at = None
        self.bytes_done = 0
        self.save(
            update_fields=[
                "status", "attempts", "started_at", "heartbeat_at", "finished_at", "bytes_done",
            ]
        )

    def finish(self, *, format: str, added: int, skipped: int, labels=None) -> None:
        """The import committed: running → done, with its counts (and `labels`, a `LabelCounts`)."""
        self._move({self.RUNNING}, self.DONE)
        self.format = format
        self.messages_added = added
        self.messages_skipped = skipped
        if labels is not None:
            self.labels_added = labels.added
            self.labels_unmapped = len(labels.unmapped)
            self.labels_waiting = labels.waiting
            self.labels_unmapped_examples = labels.unmapped_examples()
        self.bytes_done = self.bytes_total
        self.error = ""
        self.finished_at = timezone.now()
        self.save(
            update_fields=[
                "status", "format", "messages_added", "messages_skipped", "labels_added",
                "labels_unmapped", "labels_waiting", "labels_unmapped_examples", "bytes_done",
                "error", "finished_at",
            ]
        )

    def fail(self, reason: str) -> None:
        """Give up with `reason`: pending or running → failed."""
        self._move({self.PENDING, self.RUNNING}, self.FAILED)
        self.error = reason
        self.finished_at = timezone.now()
        self.save(update_fields=["status", "error", "finished_at"])

    def requeue(self, reason: str) -> None:
        """Stopped for a reason outside the file; tried again: running → pending."""
        self._move({self.RUNNING}, self.PENDING)
        self.error = reason
        self.heartbeat_at = None
        self.enqueued_at = None
        self.save(update_fields=["status", "error", "heartbeat_at", "enqueued_at"])
