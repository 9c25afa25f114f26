"""Run pages and dashboards: what the ladder says, live while it trains."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from annotation import permissions
from annotation.models import Batch
from config import params
from config.polling import render_polled
from scaling import selectors, services
from training import services as training_services
from training.models import InvalidTransition, Ladder, Run, Rung
from training.services.label_check import MAX_EPOCHS_FACTOR, MAX_FOLDS, MIN_EPOCHS_FACTOR, MIN_FOLDS


def _run_for(user, project_id: int, run_id: int):
    project, role = permissions.project_for(user, project_id, roles=permissions.LEADS)
    run = get_object_or_404(
        Run.objects.select_related("batch", "ladder"), pk=run_id, batch__project=project
    )
    return project, run


def run_rows(run: Run) -> list[dict]:
    rows = []
    for job in run.rung_jobs.select_related("rung").order_by("rung__order", "fold", "train_size"):
        progress = job.progress or {}
        losses = [point[1] for point in job.loss_curve][-60:]
        rows.append(
            {
                "job": job,
                "percent": job.progress_percent,
                "phase": progress.get("phase", ""),
                "loss": progress.get("loss"),
                "eta": progress.get("eta_seconds"),
                "tokens_per_second": progress.get("tokens_per_second") or job.tokens_per_second,
                "sparkline": sparkline_points(losses),
                "base_f1": (job.metrics.get("base") or {}).get("f1"),
                "tuned_f1": (job.metrics.get("tuned") or {}).get("f1"),
            }
        )
    return rows


def sparkline_points(values: list[float], width: int = 120, height: int = 24) -> str:
    """SVG polyline points for a loss curve; empty when there is nothing to draw."""
    if len(values) < 2:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = width / (len(values) - 1)
    return " ".join(
        f"{index * step:.1f},{height - (value - low) / span * height:.1f}" for index, value in enumerate(values)
    )


def _run_context(project, run: Run, **extra) -> dict:
    verdict = selectors.run_verdict(run=run)
    return {
        "project": project,
        "run": run,
        "rows": run_rows(run),
        "verdict": verdict,
        "proposals": selectors.rerun_proposals(verdict=verdict) if verdict else [],
        "rungs": run.ladder.rungs.order_by("order"),
        "known_hyperparameters": list(training_services.KNOWN_HYPERPARAMETERS),
        "label_check_cost": selectors.label_check_cost(run=run),
        **extra,
    }


@require_GET
@login_required
def run_detail(request, project_id: int, run_id: int):
    project, run = _run_for(request.user, project_id, run_id)
    return render_polled(
        request, "scaling/run_detail.html", "rungs", _run_context(project, run), finished=run.is_final
    )


@require_POST
@login_required
def run_cancel(request, project_id: int, run_id: int):
    project, run = _run_for(request.user, project_id, run_id)
    try:
        training_services.run_cancel(run=run)
    except InvalidTransition as error:
        context = _run_context(project, run, control_errors=error.messages)
        return render(request, "scaling/run_detail.html", context, status=409)
    return redirect("runs:run_detail", project_id=project_id, run_id=run.pk)


@require_POST
@login_required
def run_retry(request, project_id: int, run_id: int):
    project, run = _run_for(request.user, project_id, run_id)
    try:
        training_services.run_retry(run=run)
    except InvalidTransition as error:
        context = _run_context(project, run, control_errors=error.messages)
        return render(request, "scaling/run_detail.html", context, status=409)
    return redirect("runs:run_detail", project_id=project_id, run_id=run.pk)


@require_POST
@login_required
def run_verdict_retry(request, project_id: int, run_id: int):
    """Compute the verdict again, for a finished run whose verdict failed to compute."""
    project, run = _run_for(request.user, project_id, run_id)
    try:
        services.verdict_retry(run=run)
    except services.VerdictRetryRefused as error:
        context = _run_context(project, run, control_errors=error.messages)
        return render(request, "scaling/run_detail.html", context, status=409)
    return redirect("runs:run_detail", project_id=project_id, run_id=run.pk)


@require_POST
@login_required
def run_label_check(request, project_id: int, run_id: int):
    """Check every label of the run's batch: the judging rungs fine-tune on folds of the train split."""
    project, run = _run_for(request.user, project_id, run_id)
    folds = params.number_param(
        request.POST, "folds", default=float(project.label_check_folds), minimum=MIN_FOLDS, maximum=MAX_FOLDS
    )
    try:
        checking = training_services.label_check_request(
            run=run,
            folds=int(folds) if folds.is_integer() else folds,
            epochs_factor=params.number_param(
                request.POST, "epochs_factor", default=project.label_check_epochs_factor, minimum=MIN_EPOCHS_FACTOR,
                maximum=MAX_EPOCHS_FACTOR,
            ),
            requested_by=request.user,
        )
    except ValidationError as error:
        context = _run_context(project, run, label_check_errors=error.messages)
        status = 409 if isinstance(error, training_services.RunNotDone) else 422
        return render(request, "scaling/run_detail.html", context, status=status)
    return redirect("runs:run_detail", project_id=project_id, run_id=checking.pk)


@require_POST
@login_required
def run_rerun(request, project_id: int, run_id: int):
    """Re-run one rung with the hyper-parameters posted as `name=value` pairs."""
    project, run = _run_for(request.user, project_id, run_id)
    typed = request.POST.get("hyperparameters", "")
    rung = Rung.objects.filter(ladder=run.ladder, pk=params.id_or_none(request.POST.get("rung"))).first()
    try:
        if rung is None:
            raise ValidationError("choose a rung of this run's ladder to re-run")
        rerun = training_services.rung_rerun(
            run=run,
            rung=rung,
            hyperparameters=training_services.hyperparameters_parse(typed),
            requested_by=request.user,
        )
    except ValidationError as error:
        context = _run_context(
            project, run, rerun_errors=error.messages, rerun_draft={"rung": rung, "hyperparameters": typed}
        )
        return render(request, "scaling/run_detail.html", context, status=422)
    return redirect("runs:run_detail", project_id=project.pk, run_id=rerun.pk)


# The planning form's what-if numbers: (least, most) each may be.
PLANNING_INPUTS = {"target_loss": (1e-6, 100.0), "budget_seconds": (1.0, 1e9)}


def _planning_inputs(query) -> tuple[dict, dict]:
    """The planning form's numbers (None when blank) and, for each that is not a number in range, why."""
    values, errors = {}, {}
    for name, (minimum, maximum) in PLANNING_INPUTS.items():
        try:
            values[name] = params.number_param(query, name, default=None, minimum=minimum, maximum=maximum)
        except params.InvalidParameter as error:
            values[name], errors[name] = None, str(error)
    return values, errors


@require_GET
@login_required
def dashboard(request, project_id: int):
    project, _ = permissions.project_for(request.user, project_id, roles=permissions.LEADS)
    values, errors = _planning_inputs(request.GET)
    context = selectors.dashboard(project=project, **values)
    # A bad what-if number still shows the page: the form says which field, the rest uses the defaults.
    context.update(planning_errors=errors, planning_typed={name: request.GET.get(name, "") for name in PLANNING_INPUTS})
    return render(request, "scaling/dashboard.html", context, status=422 if errors else 200)


@require_GET
@login_required
def verdict_banner(request, project_id: int):
    """The banner fragment; htmx polls it until its run is final and judged (then 286)."""
    project, _ = permissions.project_for(request.user, project_id, roles=permissions.LEADS)
    batch = run = None
    run_id, batch_id = params.id_param(request.GET, "run"), params.id_param(request.GET, "batch")
    if run_id is not None:
        run = get_object_or_404(Run, pk=run_id, batch__project=project)
    elif batch_id is not None:
        batch = get_object_or_404(Batch, pk=batch_id, project=project)
    banner = selectors.verdict_banner(project=project, batch=batch, run=run)
    return render_polled(
        request, "scaling/verdict_banner.html", "banner", {"banner": banner}, finished=banner["finished"]
    )


@require_GET
@login_required
def run_suspects(request, project_id: int, run_id: int):
    project, run = _run_for(request.user, project_id, run_id)
    verdict = selectors.run_verdict(run=run)
    rows = selectors.suspect_queue(verdict=verdict) if verdict else []
    context = {
        "project": project, "run": run, "verdict": verdict, "rows": rows,
        "label_check": selectors.label_check_summary(verdict=verdict),
        "can_check": selectors.label_check_cost(run=run)["available"],
    }
    return render(request, "scaling/suspects.html", context)


@require_POST
@login_required
def batch_run_start(request, project_id: int, batch_id: int):
    """Start (or find) a run of a frozen batch on one of the project's ladders."""
    project, _ = permissions.project_for(request.user, project_id, roles=permissions.LEADS)
    batch = get_object_or_404(Batch, pk=batch_id, project=project)
    ladder = Ladder.objects.filter(projects=project, pk=params.id_or_none(request.POST.get("ladder"))).first()
    typed = request.POST.get("hyperparameters", "").strip()
    try:
        if ladder is None:
            raise ValidationError("choose one of this project's ladders")
        run = training_services.run_request(
            batch=batch,
            ladder=ladder,
            hyperparameters=training_services.hyperparameters_parse(typed) if typed else {},
            learning_curve=request.POST.get("learning_curve") == "on",
            label_check=(
                training_services.label_check_config(ladder=ladder, project=project)
                if request.POST.get("label_check") == "on"
                else None
            ),
            requested_by=request.user,
        )
    except ValidationError as error:
        return render(
            request,
            "scaling/run_start_error.html",
            {"project": project, "batch": batch, "errors": error.messages},
            status=422,
        )
    return redirect("runs:run_detail", project_id=project.pk, run_id=run.pk)


@require_GET
@login_required
def run_report(request, project_id: int, run_id: int):
    """The run's report (JSON and charts as SVG and PNG) as a zip download."""
    from scaling import report

    _, run = _run_for(request.user, project_id, run_id)
    response = HttpResponse(report.report_zip(run=run), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{report.report_file_name(run=run)}"'
    return response
