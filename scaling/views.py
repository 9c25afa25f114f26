"""Run pages and dashboards: what the ladder says, live while it trains."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_GET, require_POST

from annotation import permissions
from config.polling import render_polled
from training import services as training_services
from training.models import Run


def _run_for(user, project_id: int, run_id: int):
    project, role = permissions.project_for(user, project_id, roles=permissions.LEADS)
    run = get_object_or_404(
        Run.objects.select_related("batch", "ladder"), pk=run_id, batch__project=project
    )
    return project, run


def run_rows(run: Run) -> list[dict]:
    rows = []
    for job in run.rung_jobs.select_related("rung").order_by("rung__order", "train_size"):
        progress = job.progress or {}
        steps = progress.get("steps") or 0
        losses = [point[1] for point in job.loss_curve][-60:]
        rows.append(
            {
                "job": job,
                "percent": int(100 * progress.get("step", 0) / steps) if steps else (100 if job.is_final else 0),
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


@require_GET
@login_required
def run_detail(request, project_id: int, run_id: int):
    project, run = _run_for(request.user, project_id, run_id)
    context = {"project": project, "run": run, "rows": run_rows(run)}
    return render_polled(request, "scaling/run_detail.html", "rungs", context, finished=run.is_final)


@require_POST
@login_required
def run_cancel(request, project_id: int, run_id: int):
    _, run = _run_for(request.user, project_id, run_id)
    training_services.run_cancel(run=run)
    return redirect("scaling:run_detail", project_id=project_id, run_id=run.pk)


@require_POST
@login_required
def run_retry(request, project_id: int, run_id: int):
    _, run = _run_for(request.user, project_id, run_id)
    training_services.run_retry(run=run)
    return redirect("scaling:run_detail", project_id=project_id, run_id=run.pk)
