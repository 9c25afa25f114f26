from django.shortcuts import get_object_or_404
from ninja import Router, Status

from annotation import assignments, permissions, review, selectors, services
from annotation.models import Annotation, Assignment, Item
from api.endpoints import ERRORS, project_for
from api.schemas import AnnotationOut, AssignmentOut, LabelIn, ReviewIn, StaleReview

router = Router(tags=["annotations"])


def _assignment(lease: Assignment, project) -> dict:
    item = lease.item
    shown = project.suggest_labels and item.suggestion
    return {
        "id": lease.pk,
        "leased_at": lease.leased_at,
        "expires_at": lease.expires_at,
        "item": item,
        "options": project.options,
        "current_annotation_id": selectors.card_revision_id(lease=lease),
        "suggestion": {"option": item.suggestion, "probability": item.suggestion_probability,
                       "run_id": item.suggestion_run} if shown else None,
    }


def _own_lease(request, project, assignment_id: int) -> Assignment:
    # Another annotator's lease is as unknown to the caller as one that does not exist.
    return get_object_or_404(
        Assignment.objects.select_related("item"),
        pk=assignment_id,
        annotator=request.auth,
        item__project=project,
    )


@router.post("/projects/{project_id}/assignments/next", response={200: AssignmentOut, 204: None, **ERRORS})
def assignment_next(request, project_id: int):
    """Lease the caller's next item (or give back their open lease); 204 when none is left."""
    project, _ = project_for(request, project_id, roles=permissions.MEMBERS)
    lease = assignments.assignment_claim_next(project=project, annotator=request.auth)
    if lease is None:
        return Status(204, None)
    return _assignment(lease, project)


@router.post(
    "/projects/{project_id}/assignments/{assignment_id}/label",
    response={201: AnnotationOut, 409: StaleReview, **ERRORS},
)
def assignment_label(request, project_id: int, assignment_id: int, payload: LabelIn):
    """Label the leased item. A label sent after the lease lapsed is kept and marked `late`.

    With `expected_current_id` (the lease's `current_annotation_id`), a label
    from a stale view is refused: 409 with the revision that came since.
    """
    project, _ = project_for(request, project_id, roles=permissions.MEMBERS)
    lease = _own_lease(request, project, assignment_id)
    if "expected_current_id" in payload.model_fields_set:
        try:
            annotation = services.item_label(
                item=lease.item,
                annotator=request.auth,
                option=payload.option,
                seconds_spent=payload.seconds,
                expected_current_id=payload.expected_current_id,
            )
        except services.StaleRevision as stale:
            return Status(409, {"detail": str(stale), "current": stale.current})
    else:
        annotation = services.item_annotate(
            item=lease.item, annotator=request.auth, option=payload.option, seconds_spent=payload.seconds
        )
    return Status(201, Annotation.objects.select_related("annotator").get(pk=annotation.pk))


@router.post("/projects/{project_id}/assignments/{assignment_id}/skip", response={204: None, **ERRORS})
def assignment_skip(request, project_id: int, assignment_id: int):
    """Give the leased item back unlabelled; it is not offered to the caller again."""
    project, _ = project_for(request, project_id, roles=permissions.MEMBERS)
    assignments.assignment_skip(assignment=_own_lease(request, project, assignment_id))
    return Status(204, None)


@router.post(
    "/projects/{project_id}/items/{item_id}/review",
    response={201: AnnotationOut, 409: StaleReview, **ERRORS},
)
def item_review(request, project_id: int, item_id: int, payload: ReviewIn):
    """Accept the current label (same option) or override it (with a reason).

    `expected_current_id` is the revision the review was based on; if another
    became current meanwhile, nothing is saved and the answer is 409 with it.
    """
    project, _ = project_for(request, project_id, roles=permissions.LEADS)
    item = get_object_or_404(Item, pk=item_id, project=project)
    try:
        annotation = review.item_review(
            item=item,
            lead=request.auth,
            option=payload.option,
            reason=payload.reason,
            expected_current_id=payload.expected_current_id,
        )
    except review.StaleRevision as stale:
        current = (
            Annotation.objects.select_related("annotator").get(pk=stale.current.pk) if stale.current else None
        )
        return Status(409, {"detail": str(stale), "current": current})
    return Status(201, Annotation.objects.select_related("annotator").get(pk=annotation.pk))
