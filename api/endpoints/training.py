from django.shortcuts import get_object_or_404
from ninja import Router, Status

from annotation import permissions
from annotation.models import Batch
from api.endpoints import ERRORS, project_for
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from ninja import Query
from ninja.errors import HttpError

from config.params import ID_MAX
from api.schemas import (
    AnnotatorQualityOut,
    Error,
    LabelCheckIn,
    LadderIn,
    LadderOut,
    LawTrackRecordOut,
    LawTrackRecordQuery,
    PageQuery,
    PlanningOut,
    PlanningQuery,
    RerunIn,
    RunIn,
    RunOut,
    RunSummaryOut,
    SuspectPage,
    VerdictOut,
)
from scaling import selectors as scaling_selectors
from scaling import services as scaling_services
from scaling.models import Verdict
from training import services as training_services
from training.models import InvalidTransition, Ladder, Run, Rung

router = Router(tags=["ladders and runs"])


def _refused_hyperparameters(error: training_services.HyperparameterError) -> Status:
    errors = {f"hyperparameters.{name}": messages for name, messages in error.message_dict.items()}
    return Status(422, {"detail": "; ".join(error.messages), "errors": errors})


def _run(request, project_id: int, run_id: int) -> Run:
    project, _ = project_for(request, project_id, roles=permissions.LEADS)
    return get_object_or_404(Run, pk=run_id, batch__project=project)


@router.get("/projects/{project_id}/ladders", response={200: list[LadderOut], **ERRORS})
def ladder_list(request, project_id: int):
    """The ladders the project's batches run on."""
    project, _ = project_for(request, project_id, roles=permissions.LEADS)
    return project.ladders.order_by("name")


@router.post("/ladders", response={200: LadderOut, 201: LadderOut, **ERRORS})
def ladder_create(request, payload: LadderIn):
    """Register checkpoint directories on the server as a ladder, ordered by parameter count (read
    from the safetensors headers). Admins of every project named, and of every project an existing
    ladder of that name serves, or staff; directories outside CHECKPOINT_ROOTS are for staff
    alone. A directory that is not a causal LM with safetensors weights and a tokenizer is a 422
    naming it; nothing is written then. 201 new, 200 updated."""
    projects = permissions.projects_administered(request.auth, payload.projects)
    permissions.checkpoint_directories_allowed(request.auth, payload.rungs)
    existing = Ladder.objects.filter(name=payload.name).first()
    if existing is not None:
        permissions.projects_administered(request.auth, existing.projects.values_list("pk", flat=True))
    ladder = training_services.ladder_register_checkpoints(
        name=payload.name, directories=payload.rungs, projects=projects, description=payload.description
    )
    return Status(200 if existing else 201, ladder)


@router.get("/projects/{project_id}/runs", response={200: list[RunSummaryOut], **ERRORS})
def run_list(request, project_id: int, batch_id: Query[int | None, {"ge": 0, "le": ID_MAX}] = None):
    project, _ = project_for(request, project_id, roles=permissions.LEADS)
    runs = Run.objects.filter(batch__project=project).select_related("verdict").order_by("-created_at")
    if batch_id is not None:
        runs = runs.filter(batch_id=batch_id)
    return runs


@router.post("/projects/{project_id}/runs", response={202: RunOut, **ERRORS})
def run_start(request, project_id: int, payload: RunIn):
    """Run a ladder on a frozen batch. The same batch, ladder and settings give the same run;
    a failed or cancelled one is retried in place."""
    project, _ = project_for(request, project_id, roles=permissions.LEADS)
    batch = get_object_or_404(Batch, pk=payload.batch_id, project=project)
    ladder = get_object_or_404(project.ladders, pk=payload.ladder_id)
    try:
        run = training_services.run_request(
            batch=batch,
            ladder=ladder,
            hyperparameters=payload.hyperparameters,
            learning_curve=payload.learning_curve,
            requested_by=request.auth,
        )
    except training_services.HyperparameterError as error:
        return _refused_hyperparameters(error)
    return Status(202, run)


@router.post("/projects/{project_id}/runs/{run_id}/rerun", response={202: RunOut, **ERRORS})
def run_rerun(request, project_id: int, run_id: int, payload: RerunIn):
    """Train one rung of a run again with changed hyper-parameters; the other rungs' finished
    results are reused, and the new run gets its own verdict. The same request gives the same run."""
    run = _run(request, project_id, run_id)
    rung = get_object_or_404(Rung, pk=payload.rung_id, ladder=run.ladder)
    try:
        rerun = training_services.rung_rerun(
            run=run, rung=rung, hyperparameters=payload.hyperparameters, requested_by=request.auth
        )
    except training_services.HyperparameterError as error:
        return _refused_hyperparameters(error)
    return Status(202, rerun)


@router.get("/projects/{project_id}/runs/{run_id}", response={200: RunOut, **ERRORS})
def run_status(request, project_id: int, run_id: int):
    """A run's status and each rung job's phase, progress, loss and F1."""
    return _run(request, project_id, run_id)


@router.post("/projects/{project_id}/runs/{run_id}/cancel", response={200: RunOut, 409: Error, **ERRORS})
def run_cancel(request, project_id: int, run_id: int):
    """Cancel a run: pending rung jobs stop at once, running ones at their next step."""
    run = _run(request, project_id, run_id)
    try:
        return training_services.run_cancel(run=run)
    except InvalidTransition as error:
        return Status(409, {"detail": "; ".join(error.messages)})


@router.post("/projects/{project_id}/runs/{run_id}/retry", response={200: RunOut, 409: Error, **ERRORS})
def run_retry(request, project_id: int, run_id: int):
    """Send a failed or cancelled run's unfinished rung jobs back to the queue."""
    run = _run(request, project_id, run_id)
    try:
        return training_services.run_retry(run=run)
    except InvalidTransition as error:
        return Status(409, {"detail": "; ".join(error.messages)})


@router.post("/projects/{project_id}/runs/{run_id}/verdict/retry", response={202: RunOut, 409: Error, **ERRORS})
def run_verdict_retry(request, project_id: int, run_id: int):
    """Compute a finished run's verdict again when its computation failed (`verdict_state` retrying or
    gave_up): the failures are forgotten and it is queued now. 409 for an open run or a stored verdict."""
    run = _run(request, project_id, run_id)
    try:
        return Status(202, scaling_services.verdict_retry(run=run))
    except scaling_services.VerdictRetryRefused as error:
        return Status(409, {"detail": "; ".join(error.messages)})


@router.get("/projects/{project_id}/runs/{run_id}/verdict", response={200: VerdictOut, **ERRORS})
def run_verdict(request, project_id: int, run_id: int):
    """What the finished run says about the data: does F1 rise with model size?"""
    run = _run(request, project_id, run_id)
    verdict = Verdict.objects.filter(run=run).first()
    if verdict is None:
        return Status(404, {"detail": f"run {run.pk} has no verdict yet (it is {run.status})"})
    return verdict


@router.post("/projects/{project_id}/runs/{run_id}/label-check", response={202: RunOut, 409: Error, **ERRORS})
def run_label_check(request, project_id: int, run_id: int, payload: LabelCheckIn):
    """Check every label of a done run's batch: the judging rungs fine-tune on folds of the train split
    and score the fold left out. Returns the checking run (the full fine-tunes are reused from this one);
    the same request gives the same run."""
    run = _run(request, project_id, run_id)
    try:
        checking = training_services.label_check_request(
            run=run, folds=payload.folds, rungs=payload.rungs, epochs_factor=payload.epochs_factor,
            requested_by=request.auth,
        )
    except training_services.RunNotDone as not_done:
        return Status(409, {"detail": "; ".join(not_done.messages)})
    except ValidationError as error:
        errors = error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}
        return Status(422, {"detail": "; ".join(error.messages), "errors": errors})
    return Status(202, checking)


def _verdict_of(run: Run) -> Verdict:
    verdict = Verdict.objects.filter(run=run).first()
    if verdict is None:
        raise HttpError(404, f"run {run.pk} has no verdict yet (it is {run.status})")
    return verdict


@router.get("/projects/{project_id}/runs/{run_id}/suspects", response={200: SuspectPage, **ERRORS})
def run_suspects(request, project_id: int, run_id: int, query: Query[PageQuery]):
    """The run's suspect labels, strongest first, a page at a time: each with the frozen and current
    label, the ladder's answer, each judging rung's probability of the label, a score and a reason.
    They cover the whole batch once the run checked every label, else the eval split."""
    run = _run(request, project_id, run_id)
    verdict = _verdict_of(run)
    rows = scaling_selectors.suspect_queue(verdict=verdict)
    paginator = Paginator(rows, query.page_size)
    page_rows = list(paginator.page(query.page).object_list) if query.page <= paginator.num_pages else []
    return {
        "run_id": run.pk,
        "scope": "batch" if scaling_selectors.label_check_summary(verdict=verdict) else "eval",
        "count": paginator.count,
        "page": query.page,
        "pages": paginator.num_pages,
        "page_size": query.page_size,
        "suspects": [scaling_selectors.suspect_row_plain(row) for row in page_rows],
    }


@router.get("/projects/{project_id}/runs/{run_id}/annotators", response={200: list[AnnotatorQualityOut], **ERRORS})
def run_annotator_quality(request, project_id: int, run_id: int):
    """Per annotator: labels in the run's batch and how many of them the label check holds suspect.
    Empty until the run has checked every label."""
    run = _run(request, project_id, run_id)
    summary = scaling_selectors.label_check_summary(verdict=_verdict_of(run)) or {}
    return summary.get("annotators", [])


@router.get("/projects/{project_id}/runs/{run_id}/planning", response={200: PlanningOut, **ERRORS})
def run_planning(request, project_id: int, run_id: int, query: Query[PlanningQuery]):
    """What the run's learning curves say about the next batch: the rung to train on the full batch
    (and on twice its labels), each rung's loss at 2×, 4× and 8× today's labels and the labels
    `target_loss` needs, and, by the joint law, every rung × label multiple with its loss and training
    seconds and the best within `budget_seconds`. Intervals are 10th–90th percentiles of bootstrap
    refits. 404 for a run without learning curves."""
    run = _run(request, project_id, run_id)
    planning = scaling_selectors.run_planning(
        verdict=_verdict_of(run), target_loss=query.target_loss, budget_seconds=query.budget_seconds
    )
    if planning is None:
        raise HttpError(404, f"run {run.pk} has no learning curves: start a run with learning_curve true")
    return planning


@router.get("/projects/{project_id}/law-track-record", response={200: LawTrackRecordOut, **ERRORS})
def law_track_record(request, project_id: int, query: Query[LawTrackRecordQuery]):
    """Was the law right last time? Each prediction a run's laws stored (loss at 1×, 2×, 4×, 8× its
    labels) that a later batch's run measured on the same rung and about the same train size, with
    the error, and each law's running error. With `run_id`, only that run's points."""
    project, _ = project_for(request, project_id, roles=permissions.LEADS)
    run = None if query.run_id is None else get_object_or_404(Run, pk=query.run_id, batch__project=project)
    return scaling_selectors.law_track_record(project=project, run=run)
