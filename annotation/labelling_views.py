"""The annotator's screen: one item at a time, keyboard first, htmx swaps."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST

from annotation import assignments, permissions, selectors, services
from annotation.models import Annotation, Assignment, Project
from config import params


def _project_for_labelling(request, project_id: int) -> Project:
    project, _ = permissions.project_for(request.user, project_id, roles=permissions.MEMBERS)
    return project


def _card(request, project: Project, lease: Assignment | None, *, notice: str = ""):
    # Only a reopened item (undo) can carry this annotator's own label.
    mine = (
        Annotation.objects.filter(item=lease.item, annotator=request.user).order_by("-id").first()
        if lease and lease.item.current_annotation_id
        else None
    )
    context = {
        "project": project,
        "lease": lease,
        "item": lease.item if lease else None,
        "current_text": project.option_text(mine.option) if mine else "",
        "progress": selectors.labelling_progress(project=project, user=request.user),
        "notice": notice,
    }
    template = "annotation/label.html#card" if request.htmx else "annotation/label.html"
    return render(request, template, context)


@require_GET
@login_required
def label(request, project_id: int):
    project = _project_for_labelling(request, project_id)
    lease = assignments.assignment_claim_next(project=project, annotator=request.user)
    return _card(request, project, lease)


@require_POST
@login_required
def label_submit(request, project_id: int, assignment_id: int):
    project = _project_for_labelling(request, project_id)
    lease = get_object_or_404(
        Assignment.objects.select_related("item"),
        pk=assignment_id,
        annotator=request.user,
        item__project=project,
    )
    seconds = params.number_param(
        request.POST, "seconds", default=0.0, minimum=0.0, maximum=Annotation.SECONDS_SPENT_MAX
    )
    try:
        annotation = services.item_annotate(
            item=lease.item,
            annotator=request.user,
            option=request.POST.get("option", ""),
            seconds_spent=seconds,
        )
    except ValidationError as error:
        return HttpResponseBadRequest("; ".join(error.messages))
    notice = (
        "Saved — your lease had expired or the item was already done; the label is kept for review."
        if annotation.late
        else ""
    )
    nxt = assignments.assignment_claim_next(project=project, annotator=request.user)
    return _card(request, project, nxt, notice=notice)


@require_POST
@login_required
def label_skip(request, project_id: int, assignment_id: int):
    project = _project_for_labelling(request, project_id)
    lease = get_object_or_404(
        Assignment, pk=assignment_id, annotator=request.user, item__project=project
    )
    assignments.assignment_skip(assignment=lease)
    nxt = assignments.assignment_claim_next(project=project, annotator=request.user)
    return _card(request, project, nxt, notice="Skipped.")


@require_POST
@login_required
def label_undo(request, project_id: int):
    project = _project_for_labelling(request, project_id)
    last = selectors.last_label_by(project=project, user=request.user)
    if last is None:
        lease = assignments.assignment_claim_next(project=project, annotator=request.user)
        return _card(request, project, lease, notice="Nothing to undo.")
    lease = assignments.assignment_reopen(project=project, annotator=request.user, item=last.item)
    return _card(
        request,
        project,
        lease,
        notice=f"Reopened your last label ({project.option_text(last.option)}): press a key to change it.",
    )
