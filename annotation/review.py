"""A lead's review of an item: accept or override, with optimistic concurrency.

The review form posts the revision it showed. If another revision became
current meanwhile, the save is refused with `StaleRevision` (the view answers
409 with a merge view showing both); nothing is written and nothing is lost.

A reviewed item can also be made a control: its reviewed label becomes the
known answer annotators are scored against (`selectors.control_accuracy`).
"""

from django.core.exceptions import ValidationError
from django.db import transaction

from annotation.models import Annotation, Item
from annotation.services import StaleRevision, item_annotate

__all__ = ["StaleRevision", "item_control_set", "item_review"]


@transaction.atomic
def item_review(
    *, item: Item, lead, option: str, reason: str = "", expected_current_id: int | None
) -> Annotation:
    """Accept the current label (same option) or override it (a reason is required)."""
    locked = (
        Item.objects.select_for_update(of=("self",)).select_related("current_annotation").get(pk=item.pk)
    )
    if locked.current_annotation_id != expected_current_id:
        raise StaleRevision(
            item=locked, expected_id=expected_current_id, current=locked.current_annotation
        )
    accepting = locked.current_annotation is not None and locked.current_annotation.option == option
    return item_annotate(
        item=locked,
        annotator=lead,
        option=option,
        kind=Annotation.REVIEW_ACCEPT if accepting else Annotation.REVIEW_OVERRIDE,
        reason=reason,
    )


@transaction.atomic
def item_control_set(*, item: Item, control: bool) -> Item:
    """Use a reviewed item as a control, or stop; a no-op when it already is so.

    Only a reviewed item has a known answer: making any other one a control
    is refused (ValidationError). Stopping is always allowed, and its answers
    no longer count towards anyone's accuracy.
    """
    locked = Item.objects.select_for_update().get(pk=item.pk)
    if control and not locked.reviewed:
        raise ValidationError(
            {"control": f"item {locked.pk} is not reviewed: only a reviewed label can be a control's known answer"}
        )
    if locked.control != control:
        locked.control = control
        locked.save(update_fields=["control"])
    return locked
