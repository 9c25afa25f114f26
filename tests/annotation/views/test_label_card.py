"""The annotator's card posts the revision it showed; undo only undoes what nothing came after."""

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from annotation import assignments, review, services
from annotation.models import Annotation, Item
from tests.annotation.assignments.test_assignment_claim import (
    make_annotators,
    make_items,
)


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def submit(client, project, lease, option: str, expected: str):
    return client.post(
        reverse("annotation:label_submit", args=[project.pk, lease.pk]),
        {"option": option, "expected_current": expected, "seconds": "1"},
        headers={"HX-Request": "true"},
    )


class TestItemLabel:
    def test_a_review_since_the_card_was_shown_refuses_the_label(self, project, annotator, lead):
        project.overlap = 2
        project.save()
        (item,) = make_items(project, 1)
        (other,) = make_annotators(project, 1)
        first = services.item_annotate(item=item, annotator=other, option="extraction")
        accepted = review.item_review(item=item, lead=lead, option="extraction", expected_current_id=first.pk)
        with pytest.raises(services.StaleRevision) as refused:
            services.item_label(item=item, annotator=annotator, option="no_extraction", expected_current_id=first.pk)
        assert refused.value.current.pk == accepted.pk
        assert not Annotation.objects.filter(item=item, annotator=annotator).exists()

    def test_an_own_label_from_another_window_refuses_the_label(self, project, annotator):
        (item,) = make_items(project, 1)
        services.item_label(item=item, annotator=annotator, option="extraction", expected_current_id=None)
        with pytest.raises(services.StaleRevision):
            services.item_label(item=item, annotator=annotator, option="no_extraction", expected_current_id=None)
        assert Item.objects.get(pk=item.pk).label == "extraction"

    def test_another_annotators_label_does_not_make_the_card_stale(self, project, annotator):
        project.overlap = 2
        project.save()
        (item,) = make_items(project, 1)
        (other,) = make_annotators(project, 1)
        services.item_annotate(item=item, annotator=other, option="extraction")
        mine = services.item_label(item=item, annotator=annotator, option="no_extraction", expected_current_id=None)
        assert Item.objects.get(pk=item.pk).current_annotation_id == mine.pk


class TestTheCard:
    def test_the_card_posts_the_revision_it_shows(self, project, annotator):
        make_items(project, 1)
        page = client_for(annotator).get(reverse("annotation:label", args=[project.pk])).content.decode()
        assert '"expected_current": ""' in page

    def test_a_stale_post_is_409_with_a_fresh_card_and_saves_nothing(self, project, annotator):
        (item,) = make_items(project, 1)
        client = client_for(annotator)
        lease = assignments.assignment_claim_next(project=project, annotator=annotator)
        assert submit(client, project, lease, "extraction", "").status_code == 200
        stale = submit(client, project, lease, "no_extraction", "")
        assert stale.status_code == 409
        body = stale.content.decode()
        mine = Annotation.objects.get(item=item, annotator=annotator)
        assert "Not saved" in body and f'"expected_current": "{mine.pk}"' in body
        assert Item.objects.get(pk=item.pk).label == "extraction"
        again = submit(client, project, lease, "no_extraction", str(mine.pk))
        assert again.status_code == 200 and Item.objects.get(pk=item.pk).label == "no_extraction"

    def test_a_malformed_revision_is_422(self, project, annotator):
        make_items(project, 1)
        lease = assignments.assignment_claim_next(project=project, annotator=annotator)
        for bad in ["abc", "9" * 30, "-1"]:
            assert submit(client_for(annotator), project, lease, "extraction", bad).status_code == 422
        assert not Annotation.objects.exists()


class TestUndo:
    def test_undo_reopens_the_latest_own_label_while_nothing_came_after(self, project, annotator):
        (item,) = make_items(project, 1)
        label = services.item_annotate(item=item, annotator=annotator, option="extraction")
        lease, last = assignments.assignment_reopen_last(project=project, annotator=annotator)
        assert (lease.item_id, last.pk) == (item.pk, label.pk)

    def test_undo_after_a_lead_reviewed_is_refused_and_the_review_stays(self, project, annotator, lead):
        (item,) = make_items(project, 1)
        label = services.item_annotate(item=item, annotator=annotator, option="extraction")
        override = review.item_review(
            item=item, lead=lead, option="no_extraction", reason="no referent", expected_current_id=label.pk
        )
        with pytest.raises(ValidationError, match="a lead has reviewed it since"):
            assignments.assignment_reopen_last(project=project, annotator=annotator)
        page = client_for(annotator).post(reverse("annotation:label_undo", args=[project.pk]))
        assert "can no longer be undone" in page.content.decode()
        item.refresh_from_db()
        assert (item.current_annotation_id, item.reviewed) == (override.pk, True)
        assert not item.assignments.filter(completed_at__isnull=True).exists()

    def test_undo_after_someone_else_labelled_is_refused(self, project, annotator):
        project.overlap = 2
        project.save()
        (item,) = make_items(project, 1)
        (other,) = make_annotators(project, 1)
        services.item_annotate(item=item, annotator=annotator, option="extraction")
        services.item_annotate(item=item, annotator=other, option="extraction")
        with pytest.raises(ValidationError, match="someone else"):
            assignments.assignment_reopen_last(project=project, annotator=annotator)

    def test_nothing_to_undo(self, project, annotator):
        with pytest.raises(ValidationError, match="Nothing to undo"):
            assignments.assignment_reopen_last(project=project, annotator=annotator)
