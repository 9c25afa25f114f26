from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from ninja import Router, Status

from annotation import permissions, review, selectors
from annotation.models import Item
from api.endpoints import ERRORS, project_for
from api.schemas import ControlAccuracyOut, Error, ItemOut

router = Router(tags=["controls"])


@router.get("/projects/{project_id}/controls", response={200: list[ControlAccuracyOut], **ERRORS})
def control_accuracy(request, project_id: int):
    """Per annotator: controls answered, how many with the reviewed label, and the share, by username.

    Only controls in force count (used as controls and reviewed), each by the
    annotator's latest answer, against the reviewed label as it is now.
    """
    project, _ = project_for(request, project_id, roles=permissions.LEADS)
    return selectors.control_accuracy(project=project)


def _item(request, project_id: int, item_id: int) -> Item:
    project, _ = project_for(request, project_id, roles=permissions.LEADS)
    return get_object_or_404(Item, pk=item_id, project=project)


@router.post("/projects/{project_id}/items/{item_id}/control", response={200: ItemOut, 409: Error, **ERRORS})
def item_control_mark(request, project_id: int, item_id: int):
    """Use a reviewed item as a control: annotators are served it at the project's control rate and
    scored against its reviewed label. 409 when the item is not reviewed; a control already is a no-op."""
    item = _item(request, project_id, item_id)
    try:
        return review.item_control_set(item=item, control=True)
    except ValidationError as error:
        # Refused for the item's state, not for the request's shape.
        return Status(409, {"detail": "; ".join(error.messages)})


@router.delete("/projects/{project_id}/items/{item_id}/control", response={200: ItemOut, **ERRORS})
def item_control_unmark(request, project_id: int, item_id: int):
    """Stop using an item as a control; its answers no longer count. A no-op for any other item."""
    return review.item_control_set(item=_item(request, project_id, item_id), control=False)
