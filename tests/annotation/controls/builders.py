"""Controls as a lead leaves them: labelled by someone, reviewed, then used as controls."""

from django.contrib.auth import get_user_model

from annotation import assignments, review, selectors, services
from annotation.models import CONTROL_RATE_MAX, Assignment, Item, Membership, Project
from tests.annotation.assignments.test_assignment_claim import make_items


def make_controls(project, *, lead, count: int, answer: str = "extraction") -> list[Item]:
    """`count` items at their overlap, reviewed with `answer` by `lead` and used as controls."""
    labeller, _ = get_user_model().objects.get_or_create(username="labeller")
    services.membership_set(project=project, user=labeller, role=Membership.ANNOTATOR)
    items = make_items(project, count)
    for item in items:
        label = services.item_annotate(item=item, annotator=labeller, option=answer)
        review.item_review(item=item, lead=lead, option=answer, expected_current_id=label.pk)
        review.item_control_set(item=item, control=True)
    return list(Item.objects.filter(pk__in=[item.pk for item in items]).order_by("id"))


def claim_and_answer(project, annotator, option: str = "extraction") -> Assignment | None:
    """Claim the annotator's next item and label it from its card, as the labelling page does."""
    lease = assignments.assignment_claim_next(project=project, annotator=annotator)
    if lease is not None:
        services.item_label(
            item=lease.item,
            annotator=annotator,
            option=option,
            expected_current_id=selectors.card_revision_id(lease=lease),
        )
    return lease


def every_claim_a_control_turn(project, monkeypatch) -> None:
    """Serve a control on every claim while one is left: controls on, every turn a control's."""
    Project.objects.filter(pk=project.pk).update(control_rate=CONTROL_RATE_MAX)
    project.refresh_from_db()
    monkeypatch.setattr(assignments, "control_turn", lambda **kwargs: True)
