"""A lead's review stays current: later annotator labels are kept and shown as disputes."""

from datetime import timedelta

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from annotation import assignments, review, selectors, services
from annotation.models import Annotation, Assignment, Item
from tests.annotation.assignments.test_assignment_claim import (
    make_annotators,
    make_items,
)


def lead_client(lead) -> Client:
    client = Client()
    client.force_login(lead)
    return client


def overridden_item(project, annotator, lead) -> tuple[Item, Annotation]:
    (item,) = make_items(project, 1)
    label = services.item_annotate(item=item, annotator=annotator, option="extraction")
    override = review.item_review(
        item=item, lead=lead, option="no_extraction", reason="no referent", expected_current_id=label.pk
    )
    return item, override


class TestALaterLabel:
    def test_a_late_submit_is_kept_but_the_override_stays_current_and_reviewed(self, project, annotator, lead):
        (item,) = make_items(project, 1)
        lease = assignments.assignment_claim_next(project=project, annotator=annotator)
        Assignment.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        other = make_annotators(project, 1)[0]
        first = services.item_annotate(item=item, annotator=other, option="extraction")
        override = review.item_review(
            item=item, lead=lead, option="no_extraction", reason="no referent", expected_current_id=first.pk
        )
        late = services.item_annotate(item=item, annotator=annotator, option="extraction")
        assert late.late and late.pk > override.pk
        item.refresh_from_db()
        assert (item.current_annotation_id, item.label, item.reviewed) == (override.pk, "no_extraction", True)
        assert Annotation.objects.filter(item=item).count() == 3

    def test_a_label_that_differs_from_the_review_is_a_dispute(self, project, annotator, lead):
        item, _ = overridden_item(project, annotator, lead)
        relabel = services.item_annotate(item=item, annotator=annotator, option="extraction")
        assert list(selectors.items_disputed(project=project)) == [item]
        assert selectors.item_disputes(item=Item.objects.get(pk=item.pk)) == [relabel]

    def test_a_label_that_agrees_with_the_review_is_no_dispute(self, project, annotator, lead):
        item, _ = overridden_item(project, annotator, lead)
        services.item_annotate(item=item, annotator=annotator, option="no_extraction")
        assert not selectors.items_disputed(project=project).exists()
        assert selectors.item_disputes(item=Item.objects.get(pk=item.pk)) == []

    def test_only_each_annotators_latest_label_counts(self, project, annotator, lead):
        item, _ = overridden_item(project, annotator, lead)
        services.item_annotate(item=item, annotator=annotator, option="extraction")
        services.item_annotate(item=item, annotator=annotator, option="no_extraction")
        assert not selectors.items_disputed(project=project).exists()

    def test_reviewing_again_settles_the_dispute(self, project, annotator, lead):
        item, override = overridden_item(project, annotator, lead)
        services.item_annotate(item=item, annotator=annotator, option="extraction")
        again = review.item_review(item=item, lead=lead, option="no_extraction", expected_current_id=override.pk)
        assert again.kind == Annotation.REVIEW_ACCEPT
        assert not selectors.items_disputed(project=project).exists()
        assert Item.objects.get(pk=item.pk).current_annotation_id == again.pk


class TestTheLeadSeesIt:
    def test_the_review_page_lists_the_disputing_label(self, project, annotator, lead):
        item, _ = overridden_item(project, annotator, lead)
        url = reverse("annotation:item_review", args=[project.pk, item.pk])
        assert 'id="disputes"' not in lead_client(lead).get(url).content.decode()
        services.item_annotate(item=item, annotator=annotator, option="extraction")
        page = lead_client(lead).get(url).content.decode()
        assert 'id="disputes"' in page and f"by {annotator.username}" in page

    def test_the_item_browser_filters_disputed_items(self, project, annotator, lead):
        item, _ = overridden_item(project, annotator, lead)
        make_items(project, 2)
        url = reverse("annotation:item_list", args=[project.pk])
        assert "0 items" in lead_client(lead).get(url, {"disputed": "1"}).content.decode()
        services.item_annotate(item=item, annotator=annotator, option="extraction")
        assert "1 items" in lead_client(lead).get(url, {"disputed": "1"}).content.decode()

    def test_the_agreement_page_counts_disputed_items(self, project, annotator, lead):
        item, _ = overridden_item(project, annotator, lead)
        services.item_annotate(item=item, annotator=annotator, option="extraction")
        page = lead_client(lead).get(reverse("annotation:agreement", args=[project.pk])).content.decode()
        assert 'id="disputed"' in page and "1 reviewed item</a>" in page
