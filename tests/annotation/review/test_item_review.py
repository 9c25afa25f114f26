import pytest
from django.core.exceptions import ValidationError

from annotation import review, services
from annotation.models import Annotation, Item
from tests.annotation.assignments.test_assignment_claim import make_items


class TestItemReview:
    def test_accepting_keeps_the_option_and_marks_the_item_reviewed(self, project, annotator, lead):
        (item,) = make_items(project, 1)
        label = services.item_annotate(item=item, annotator=annotator, option="extraction")
        accepted = review.item_review(item=item, lead=lead, option="extraction", expected_current_id=label.pk)
        assert accepted.kind == Annotation.REVIEW_ACCEPT
        item.refresh_from_db()
        assert item.reviewed and item.current_annotation_id == accepted.pk

    def test_an_override_is_a_new_revision_with_its_reason(self, project, annotator, lead):
        (item,) = make_items(project, 1)
        label = services.item_annotate(item=item, annotator=annotator, option="extraction")
        override = review.item_review(
            item=item, lead=lead, option="no_extraction", reason="the referent is not in the history",
            expected_current_id=label.pk,
        )
        assert override.kind == Annotation.REVIEW_OVERRIDE
        assert override.previous_id == label.pk
        assert Annotation.objects.filter(item=item).count() == 2
        assert Item.objects.get(pk=item.pk).label == "no_extraction"

    def test_an_override_needs_a_reason(self, project, annotator, lead):
        (item,) = make_items(project, 1)
        label = services.item_annotate(item=item, annotator=annotator, option="extraction")
        with pytest.raises(ValidationError):
            review.item_review(item=item, lead=lead, option="no_extraction", expected_current_id=label.pk)
        assert Annotation.objects.filter(item=item).count() == 1

    def test_the_second_of_two_leads_saving_the_same_revision_is_refused(self, project, annotator, lead):
        (item,) = make_items(project, 1)
        other_lead = services.user_get_or_create(username="lead2", password="lead2-pass-123")
        label = services.item_annotate(item=item, annotator=annotator, option="extraction")
        first = review.item_review(
            item=item, lead=lead, option="no_extraction", reason="no referent", expected_current_id=label.pk
        )
        with pytest.raises(review.StaleRevision) as refused:
            review.item_review(item=item, lead=other_lead, option="extraction", expected_current_id=label.pk)
        assert refused.value.current.pk == first.pk
        assert Annotation.objects.filter(item=item).count() == 2
