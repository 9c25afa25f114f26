"""A lead uses reviewed items as controls, and stops."""

import pytest
from django.core.exceptions import ValidationError

from annotation import review, services
from annotation.models import Item, Project
from tests.annotation.assignments.test_assignment_claim import make_items


def test_a_reviewed_item_becomes_a_control_and_stops_being_one(project, annotator, lead):
    (item,) = make_items(project, 1)
    label = services.item_annotate(item=item, annotator=annotator, option="extraction")
    review.item_review(item=item, lead=lead, option="extraction", expected_current_id=label.pk)
    assert review.item_control_set(item=item, control=True).control
    assert Item.objects.get(pk=item.pk).control
    # Again: nothing changes.
    assert review.item_control_set(item=item, control=True).control
    assert not review.item_control_set(item=item, control=False).control
    assert not Item.objects.get(pk=item.pk).control


def test_an_unreviewed_item_is_refused_with_the_field_named(project, annotator):
    (item,) = make_items(project, 1)
    services.item_annotate(item=item, annotator=annotator, option="extraction")
    with pytest.raises(ValidationError) as refused:
        review.item_control_set(item=item, control=True)
    assert "not reviewed" in refused.value.message_dict["control"][0]
    assert not Item.objects.get(pk=item.pk).control


def test_stopping_an_item_that_is_no_control_changes_nothing(project):
    (item,) = make_items(project, 1)
    assert not review.item_control_set(item=item, control=False).control


@pytest.mark.parametrize("rate", [-0.1, 0.51])
def test_a_control_rate_outside_0_to_a_half_is_refused_with_the_field_named(project, rate):
    project.control_rate = rate
    with pytest.raises(ValidationError) as refused:
        project.full_clean()
    assert set(refused.value.message_dict) == {"control_rate"}
    assert Project.objects.get(pk=project.pk).control_rate == 0.0
