"""The annotator's screen: one item at a time, keyboard first, htmx swaps."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST

from annotation import assignments, permissions, selectors, services
from annotation.models import Annotation, Assignment, Project
from config import params


def _project_for_labelling(request, project_id: int) -> Project:
    project, _ = permissions.project_for(request.user, project_id, roles=permissions.MEMBERS)
    return project


def _invalid(message: str) -> HttpResponse:
    # Plain text: the message may quote what was posted, which is never markup here.
    return HttpResponse(message, status=422, content_type="text/plain; charset=utf-8")


def _card(request, project: Project, lease: Assignment | None, *, notice: str = "", status: int = 200):
    # Only a reopened item (undo) or one sent back as stale can carry this annotator's own label.
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
        "expected_current": selectors.card_revision_id(lease=lease) if lease else None,
        "progress": selectors.labelling_progress(project=project, user=request.user),
        "notice": notice,
    }
    template = "annotation/label.html#card" if request.htmx else "annotation/label.html"
    return render(request, template, context, status=status)


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
    shown = request.POST.get("expected_current", "")
    if shown and not (shown.isdigit() and len(shown) <= 18):
        return _invalid("expected_current must be a revision id")
    try:
        annotation = services.item_label(
            item=lease.item,
            annotator=request.user,
            option=request.POST.get("option", ""),
            seconds_spent=seconds,
            expected_current_id=int(shown) if shown else None,
        )
    except services.StaleRevision as stale:
        lease.item.refresh_from_db()
        why = (
            "a lead reviewed it"
            if stale.current.kind in Annotation.REVIEW_KINDS
            else "you labelled it in another window"
        )
        notice = f"Not saved: this item changed while it was on your screen ({why}). Here it is as it is now."
        return _card(request, project, lease, notice=notice, status=409)
    except ValidationError as error:
        return _invalid("; ".join(error.messages))
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
    try:
        lease, last = assignments.assignment_reopen_last(project=project, annotator=request.user)
    except ValidationError as refused:
        lease = assignments.assignment_claim_next(project=project, annotator=request.user)
        return _card(request, project, lease, notice=" ".join(refused.messages))
    return _card(
        request,
        project,
        lease,
        notice=f"Reopened your last label ({project.option_text(last.option)}): press a key to change it.",
    )
