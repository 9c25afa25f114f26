"""Request and response shapes of the JSON API; the OpenAPI schema is made from them."""

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema

from annotation.models import (
    LABEL_CHECK_MAX_EPOCHS_FACTOR,
    LABEL_CHECK_MAX_FOLDS,
    LABEL_CHECK_MIN_EPOCHS_FACTOR,
    LABEL_CHECK_MIN_FOLDS,
    Annotation,
)
from config.params import ID_MAX
from scaling.selectors import verdict_state


class Error(Schema):
    detail: str


class FieldErrors(Schema):
    detail: str
    # Field name → its problems; "__all__" for problems of the request as a whole.
    errors: dict[str, list[str]]


class Option(Schema):
    value: str
    text: str
    key: str = ""


class ProjectOut(Schema):
    id: int
    name: str
    description: str
    role: str
    options: list[Option]
    # Blank for a task scored by macro-F1 over its options; `metric` names the score.
    positive_option: str
    metric: str
    task_version: int
    guideline_version: int
    overlap: int
    informative_first: bool
    suggest_labels: bool
    # When every label is checked ("not-monotone", "every-freeze", "on-request") and how.
    label_check: str
    label_check_folds: int
    label_check_epochs_factor: float
    created_at: datetime


class ProjectSettingsIn(Schema):
    """A project's settings as the API changes them; any left out keep their value."""

    name: str | None = None
    description: str | None = None
    instruction: str | None = None
    options: list[Option] | None = None
    positive_option: str | None = None
    abstain_options: list[str] | None = None
    shuffle_options: bool | None = None
    # Their bounds are the service's (annotation.preprocessing.SETTING_BOUNDS), refused with 422 there.
    context_window: int | None = None
    merge_window_seconds: float | None = None
    min_chars: int | None = None
    candidate_threshold: float | None = None
    overlap: int | None = Field(None, ge=1, le=10)
    lease_seconds: int | None = Field(None, ge=30, le=86400)
    informative_first: bool | None = None
    suggest_labels: bool | None = None
    label_check: str | None = None
    label_check_folds: int | None = Field(None, ge=LABEL_CHECK_MIN_FOLDS, le=LABEL_CHECK_MAX_FOLDS)
    label_check_epochs_factor: float | None = Field(None, ge=LABEL_CHECK_MIN_EPOCHS_FACTOR, le=LABEL_CHECK_MAX_EPOCHS_FACTOR)


class ProjectIn(ProjectSettingsIn):
    name: str
    # "context" (the built-in task) or "blank"; what is left out comes from it.
    template: str = "context"


class ProjectChangeOut(Schema):
    project: ProjectOut
    changed: list[str]
    new_task_version: int | None
    flagged_for_recheck: int


class Progress(Schema):
    done_today: int
    left: int


class Counts(Schema):
    items: int
    labelled: int
    reviewed: int
    recheck: int
    by_label: dict[str, int]


class ProjectDetailOut(ProjectOut):
    progress: Progress
    # Only leads see the project's counts, as on the project page.
    counts: Counts | None = None


class ImportJobOut(Schema):
    id: int
    status: str
    file_name: str
    corpus_name: str
    format: str
    bytes_total: int
    bytes_done: int
    messages_added: int
    messages_skipped: int
    labels_added: int
    labels_unmapped: int
    labels_waiting: int
    # The first few unmapped choices, "file: task id: 'choice'".
    labels_unmapped_examples: list[str]
    error: str
    created_at: datetime
    finished_at: datetime | None


class Turn(Schema):
    username: str
    content: str


class ItemOut(Schema):
    """An item as annotators and models see it; the hidden gold label is never sent."""

    id: int
    text: str
    sender: str
    sent_at: datetime
    context: list[Turn]
    category: str
    label: str
    annotation_count: int
    reviewed: bool
    needs_recheck: bool
    control: bool = Field(
        description="used as a control: its reviewed label is the known answer annotators are scored against"
    )
    current_annotation_id: int | None


class ItemPage(Schema):
    count: int
    page: int
    pages: int
    page_size: int
    items: list[ItemOut]


class ItemFilters(Schema):
    """The lead's item browser filters, as query parameters."""

    label: str = Field("", description='an option value, or "none" for unlabelled items')
    annotator: str = Field("", description="username of someone who labelled the item")
    batch: int | None = Field(None, ge=0, le=ID_MAX, description="id of a batch the item is in")
    guideline: int | None = Field(None, ge=0, le=ID_MAX, description="guideline version of the current label")
    disagreement: bool = Field(False, description="only items whose annotators disagree")
    disputed: bool = Field(False, description="only reviewed items an annotator has since labelled differently")
    recheck: bool = Field(False, description="only items sent back by new guidelines")
    reviewed: bool | None = Field(None, description="only reviewed (true) or unreviewed (false) items")
    q: str = Field("", description="text the item contains")
    page: int = Field(1, ge=1)
    page_size: int = Field(50, ge=1, le=500)

    def as_browse_filters(self) -> dict:
        """The string form `selectors.item_browse` reads, as the page's query string gives it."""
        return {
            "label": self.label.strip(),
            "annotator": self.annotator.strip(),
            "batch": "" if self.batch is None else str(self.batch),
            "guideline": "" if self.guideline is None else str(self.guideline),
            "disagreement": "1" if self.disagreement else "",
            "disputed": "1" if self.disputed else "",
            "recheck": "1" if self.recheck else "",
            "reviewed": "" if self.reviewed is None else ("1" if self.reviewed else "0"),
            "q": self.q.strip(),
        }


class ControlAccuracyOut(Schema):
    annotator: str
    answered: int = Field(description="controls in force the annotator answered, each once")
    correct: int = Field(description="of them, answered with the reviewed label")
    accuracy: float = Field(description="correct / answered")


class CardItem(Schema):
    id: int
    text: str
    sender: str
    sent_at: datetime
    context: list[Turn]


class Suggestion(Schema):
    option: str
    probability: float
    run_id: int


class AssignmentOut(Schema):
    id: int
    leased_at: datetime
    expires_at: datetime
    item: CardItem
    options: list[Option]
    current_annotation_id: int | None = Field(
        ..., description="the revision the lease shows, null if none: send it back as the label's expected_current_id"
    )
    suggestion: Suggestion | None = Field(
        None, description="the ladder's suggestion, where the project shows it to annotators (suggest_labels)"
    )


class LabelIn(Schema):
    option: str = Field(..., description="one of the project's option values")
    seconds: float = Field(0.0, ge=0, le=Annotation.SECONDS_SPENT_MAX, description="time spent on the item")
    expected_current_id: int | None = Field(
        None,
        description=(
            "the lease's current_annotation_id (null if none): if a lead reviewed the item or you labelled it "
            "since, nothing is saved and the answer is 409. Left out, the label is saved unchecked "
            "(a lead's review still stays current)."
        ),
    )


class ReviewIn(Schema):
    option: str
    reason: str = Field("", description="required when the option differs from the current label")
    expected_current_id: int | None = Field(
        ..., description="id of the current revision the review was based on (null if none)"
    )


class AnnotationOut(Schema):
    id: int
    item_id: int
    annotator: str
    option: str
    kind: str
    guideline_version: int
    seconds_spent: float
    reason: str
    previous_id: int | None
    late: bool
    created_at: datetime

    @staticmethod
    def resolve_annotator(obj) -> str:
        return obj.annotator.username


class ItemHistoryOut(Schema):
    item_id: int
    current_annotation_id: int | None
    revisions: list[AnnotationOut]
    # Username → that annotator's own labels of the item, oldest first.
    by_annotator: dict[str, list[AnnotationOut]]


class StaleReview(Schema):
    detail: str
    current: AnnotationOut | None


class BatchIn(Schema):
    name: str = Field(..., min_length=1, max_length=200)
    selection: Literal["reviewed", "labelled"] = "reviewed"
    eval_share: float | None = Field(None, ge=0, lt=1, description="defaults to the project's")


class BatchOut(Schema):
    id: int
    name: str
    status: str
    eval_share: float
    content_hash: str
    train_count: int
    eval_count: int
    item_count: int
    # Items left out of a new batch: their label is an abstention ("don't know").
    left_out: int | None = None
    created_at: datetime
    frozen_at: datetime | None

    @staticmethod
    def resolve_item_count(obj) -> int:
        return obj.batch_items.count()

    @staticmethod
    def resolve_left_out(obj) -> int | None:
        return getattr(obj, "left_out", None)


class RungOut(Schema):
    id: int
    order: int
    name: str
    parameters: int
    size_class: str
    hyperparameters: dict


class LadderOut(Schema):
    id: int
    name: str
    description: str
    rungs: list[RungOut]

    @staticmethod
    def resolve_rungs(obj) -> list:
        return list(obj.rungs.order_by("order"))


class LadderIn(Schema):
    name: str = Field(min_length=1, max_length=200, description="an existing ladder of this name is updated")
    rungs: list[str] = Field(min_length=1, description="checkpoint directories on the server, in any order")
    projects: list[int] = Field(default_factory=list, description="ids of projects whose batches run on it")
    description: str = ""


HYPERPARAMETERS_HELP = (
    "known keys only: lr, epochs, warmup_ratio, dropout, weight_decay, r, alpha, batch_tokens, "
    "max_seq_len, seed, processes, scheduler, target_modules; a refused value answers 422 naming it"
)


class RunIn(Schema):
    batch_id: int
    ladder_id: int
    # Any JSON here: the training service judges keys, types and bounds, and names what it refuses.
    hyperparameters: dict[str, Any] = Field(
        default_factory=dict, description=f"run-wide values; a rung's own overrides win; {HYPERPARAMETERS_HELP}"
    )
    learning_curve: bool = Field(False, description="also fine-tune on halving subsets of the train split")


class RerunIn(Schema):
    rung_id: int
    hyperparameters: dict[str, Any] = Field(description=f"what changes for this rung; {HYPERPARAMETERS_HELP}")


class LabelCheckIn(Schema):
    folds: int | None = Field(None, description="folds of the train split (2–10; default 3)")
    rungs: list[str] | None = Field(None, description="judging rungs by name (default: the larger half of the ladder, at least two)")
    epochs_factor: float | None = Field(None, description="judges train this many times their epochs (0–10; default 2)")


class SuspectOut(Schema):
    item_id: int
    text: str
    label: str = Field(description="the label frozen in the batch")
    current_label: str = Field(description="the item's label now (changed once reviewed)")
    answer: str | None = Field(description="the ladder's answer (option value); null for an eval-only suspect")
    score: float = Field(description="0–1, strongest first")
    kind: str = Field(description='"wrong", or "ambiguous" (the label\'s probability falls as the judges grow)')
    reason: str
    split: str
    annotator: str
    probabilities: dict[str, float] = Field(description="each judging rung's probability of the frozen label")


class SuspectPage(Schema):
    run_id: int
    scope: str = Field(description='"batch" (every label checked out of sample) or "eval" (the eval split only)')
    count: int
    page: int
    pages: int
    page_size: int
    suspects: list[SuspectOut]


class PageQuery(Schema):
    page: int = Field(1, ge=1)
    page_size: int = Field(50, ge=1, le=500)


class AnnotatorQualityOut(Schema):
    annotator: str
    labels: int
    suspects: int
    suspect_share: float
    ladder_agreement: float = Field(description="share of the annotator's labels the judges' pooled answer agrees with")


class RungJobOut(Schema):
    id: int
    rung: str
    parameters: int
    train_size: int | None
    fold: int | None = Field(description="the train fold held out and scored (label checking); null: a full or subset fine-tune")
    reused_from: int | None = Field(description="the job whose stored result this one reuses, not trained again")
    status: str
    attempts: int
    phase: str
    step: int
    steps: int
    percent: int
    loss: float | None
    eta_seconds: float | None
    tokens_per_second: float | None
    base_f1: float | None
    tuned_f1: float | None
    error: str
    started_at: datetime | None
    finished_at: datetime | None

    @staticmethod
    def resolve_rung(obj) -> str:
        return obj.rung.name

    @staticmethod
    def resolve_parameters(obj) -> int:
        return obj.rung.parameters

    @staticmethod
    def resolve_reused_from(obj) -> int | None:
        return obj.reused_from_id

    @staticmethod
    def resolve_phase(obj) -> str:
        return (obj.progress or {}).get("phase", "")

    @staticmethod
    def resolve_step(obj) -> int:
        return int((obj.progress or {}).get("step") or 0)

    @staticmethod
    def resolve_steps(obj) -> int:
        return int((obj.progress or {}).get("steps") or 0)

    @staticmethod
    def resolve_percent(obj) -> int:
        return obj.progress_percent

    @staticmethod
    def resolve_loss(obj) -> float | None:
        return (obj.progress or {}).get("loss")

    @staticmethod
    def resolve_eta_seconds(obj) -> float | None:
        return (obj.progress or {}).get("eta_seconds")

    @staticmethod
    def resolve_tokens_per_second(obj) -> float | None:
        return (obj.progress or {}).get("tokens_per_second") or obj.tokens_per_second

    @staticmethod
    def resolve_base_f1(obj) -> float | None:
        return (obj.metrics.get("base") or {}).get("f1")

    @staticmethod
    def resolve_tuned_f1(obj) -> float | None:
        return (obj.metrics.get("tuned") or {}).get("f1")


class RunSummaryOut(Schema):
    id: int
    batch_id: int
    ladder_id: int
    status: str
    hyperparameters: dict
    learning_curve: bool
    label_check: dict
    config_hash: str
    has_verdict: bool
    verdict_state: Literal["training", "computing", "retrying", "gave_up", "done"] = Field(
        description=(
            "training: the run is open; computing: finished, its verdict queued or being computed; "
            "retrying: the last computation failed and is tried again at verdict_retry_at; "
            "gave_up: it failed too often to be tried again by itself (POST …/verdict/retry); done: stored"
        )
    )
    verdict_failures: int = Field(description="failed computations of the verdict since the last stored one")
    verdict_error: str = Field(description="the last failure's error, empty when none")
    verdict_retry_at: datetime | None = Field(description="when the verdict is tried again; null when not planned")
    created_at: datetime
    finished_at: datetime | None

    @staticmethod
    def resolve_has_verdict(obj) -> bool:
        return hasattr(obj, "verdict")

    @staticmethod
    def resolve_verdict_state(obj) -> str:
        return verdict_state(run=obj)


class RunOut(RunSummaryOut):
    rungs: list[RungJobOut]

    @staticmethod
    def resolve_rungs(obj) -> list:
        return list(obj.rung_jobs.select_related("rung").order_by("rung__order", "fold", "train_size"))


class VerdictOut(Schema):
    run_id: int
    kind: str
    summary: str
    message: str
    tuned: dict
    base: dict
    fits: dict
    diagnostics: dict
    suspects: list
    missing_rungs: list
    provenance: dict
    created_at: datetime

    @staticmethod
    def resolve_summary(obj) -> str:
        return obj.get_kind_display()


class PlanningQuery(Schema):
    target_loss: float | None = Field(
        None, gt=0, le=100, description="an eval loss to reach: the labels each rung needs for it"
    )
    budget_seconds: float | None = Field(
        None, ge=1, le=1e9, description="training seconds to spend (default: what the run's full fine-tunes cost)"
    )


class EstimateOut(Schema):
    value: float
    low: float | None = Field(description="10th percentile of the bootstrap refits; null without an interval")
    high: float | None = Field(description="90th percentile of the bootstrap refits")


class RankedRungOut(Schema):
    name: str
    predicted: EstimateOut = Field(description="eval loss the rung's rectified law predicts at the target size")
    accept_then_stop: float | None = Field(description="the same by Accept then Stop (arXiv 2402.02314)")
    chance_best: float | None = Field(description="share of refits in which this rung is the lowest")
    backtested_bend: float | None = Field(
        description="the same by Accept then Stop with the bend backtested on every rung's curve "
        "(scaling.selection.backtested_bend)"
    )


class RecommendedRungOut(RankedRungOut):
    size: str


class UnrankedRungOut(Schema):
    name: str
    reason: str


class RankingOut(Schema):
    target_size: float
    recommended: RecommendedRungOut | None
    ranked: list[RankedRungOut] = Field(description="best first")
    ats_order: list[str] = Field(description="rung names by Accept then Stop, best first")
    agrees: bool | None = Field(description="whether Accept then Stop ranks the recommended rung first")
    bend_order: list[str] = Field(description="rung names by the backtested bend, best first")
    bend_agrees: bool | None = Field(description="whether the backtested bend ranks the recommended rung first")
    unranked: list[UnrankedRungOut]
    reason: str | None = Field(description="why nothing is recommended")


class RecommendationOut(Schema):
    full: RankingOut = Field(description="at the batch's train size")
    double: RankingOut = Field(description="at twice it")


class LossAtOut(Schema):
    multiple: int
    train_size: float
    loss: EstimateOut | None


class LabelsNeededOut(Schema):
    target_loss: float
    reachable: bool = Field(description="false when the fitted floor is at or above the target")
    size: float | None = Field(description="train examples the rung needs")
    low: float | None
    high: float | None = Field(description="null when the upper refits never reach the target")
    floor: float
    reason: str | None
    extra_labels: int | None = Field(description="labels to add beyond today's, counting the eval share")


class RungForecastOut(Schema):
    name: str
    size: str
    answered: bool
    reason: str | None = Field(description="why the rung has no forecast")
    interval_source: str | None = Field(description='"residuals" or "standard errors": what the refits redraw with')
    interval_reason: str | None
    params: dict[str, float] | None = Field(description="B, E, D_l, beta of L(D) = B / (D_l + D^beta) + E")
    rmse_log: float | None
    at: list[LossAtOut] = Field(description="predicted eval loss at 1, 2, 4 and 8 times today's train size")
    labels_needed: LabelsNeededOut | None = Field(description="null without target_loss")


class JointLawOut(Schema):
    params: dict[str, float] | None = Field(description="A, alpha, beta, E of L(X, D) = A X^-alpha D^-beta + E")
    reason: str | None
    rmse_log: float | None
    n_points: int


class PlanOptionOut(Schema):
    name: str
    size: str
    model_size: float
    multiple: int = Field(description="times today's train size")
    data_size: float
    extra_examples: float
    extra_labels: int = Field(description="labels to add, counting the eval share")
    predicted: EstimateOut
    seconds: float | None = Field(
        description="training and scoring seconds at the rung's measured speed; null: not measured"
    )
    within_budget: bool
    best: bool


class PlanOptionsOut(Schema):
    budget_seconds: float
    reason: str | None
    best: PlanOptionOut | None
    rows: list[PlanOptionOut]


class PlanningOut(Schema):
    run_id: int
    full_train_size: float
    train_share: float
    target_loss: float | None
    run_cost_seconds: float | None = Field(description="what the run's full fine-tunes cost: the default budget")
    recommendation: RecommendationOut
    rungs: list[RungForecastOut]
    joint: JointLawOut
    options: PlanOptionsOut | None
    options_reason: str | None


LAW_NAMES = Literal["rectified", "joint", "accept_then_stop"]


class TrackedPointOut(Schema):
    law: LAW_NAMES
    law_label: str
    rung: str
    predicting_run_id: int
    predicting_batch: str
    measuring_run_id: int
    measuring_batch: str
    multiple: int = Field(description="times the predicting run's train size")
    predicted_train_size: int
    measured_train_size: int
    predicted_loss: float
    interval_low: float | None = Field(description="10th percentile of the law's refits; null without an interval")
    interval_high: float | None
    measured_loss: float = Field(description="mean NLL of the labelled option on the measuring run's eval split")
    error: float = Field(description="measured − predicted loss; above 0: the law was too hopeful")
    within_interval: bool | None
    predicted_f1: float | None
    measured_f1: float | None


class LawErrorOut(Schema):
    law: LAW_NAMES
    label: str
    count: int
    mean_absolute_error: float
    mean_signed_error: float
    with_interval: int
    within_interval: int


class NextMeasurementOut(Schema):
    run_id: int
    batch: str
    rung: str
    law: LAW_NAMES
    law_label: str
    multiple: int
    train_size: int = Field(description="train examples a later batch would need to measure this prediction")
    predicted_loss: float
    interval_low: float | None
    interval_high: float | None


class LawTrackRecordQuery(Schema):
    run_id: int | None = Field(None, description="only the points this run predicted or measured")


class LawTrackRecordOut(Schema):
    tolerance: float = Field(description="how far, as a share, a measured train size may be from the predicted one")
    predictions: int = Field(description="predictions stored")
    rows: list[TrackedPointOut] = Field(description="each stored prediction a later run measured")
    laws: list[LawErrorOut] = Field(description="each law's running error over the measured points")
    next_measurement: NextMeasurementOut | None = Field(
        description="with nothing measured yet: the point a later batch could measure"
    )
