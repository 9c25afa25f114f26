"""Controls mixed into annotators' claims at the project's rate, each at most once per annotator."""

from collections import Counter

import pytest
from django.contrib.auth import get_user_model

from annotation import agreement, assignments, review, selectors, services
from annotation.batches import batch_create, batch_freeze
from annotation.models import Annotation, Assignment, BatchItem, Item, Project
from tests.annotation.assignments.test_assignment_claim import make_annotators, make_items
from tests.annotation.controls.builders import claim_and_answer, every_claim_a_control_turn, make_controls


def set_rate(project, rate: float) -> None:
    project.control_rate = rate
    project.full_clean()
    project.save(update_fields=["control_rate"])


class TestMixing:
    def test_at_rate_0_no_control_is_served(self, project, annotator, lead):
        items = make_items(project, 5)
        make_controls(project, lead=lead, count=3)
        leases = [claim_and_answer(project, annotator) for _ in range(6)]
        assert [lease.item_id for lease in leases[:5]] == [item.pk for item in items]
        assert leases[5] is None
        assert not Assignment.objects.filter(annotator=annotator, control=True).exists()
        assert not Annotation.objects.filter(annotator=annotator, kind=Annotation.CONTROL).exists()

    def test_at_rate_a_quarter_one_claim_in_four_is_a_control_and_each_control_comes_once(
        self, project, annotator, lead
    ):
        set_rate(project, 0.25)
        make_items(project, 30)
        controls = make_controls(project, lead=lead, count=12)
        leases = [claim_and_answer(project, annotator) for _ in range(40)]
        assert all(lease is not None for lease in leases)
        served = [(position, lease.item_id) for position, lease in enumerate(leases) if lease.control]
        # One in each window of four claims: exactly a quarter.
        assert [position // 4 for position, _ in served] == list(range(10))
        # Where in its window a control falls is drawn, not a fixed beat.
        assert len({position % 4 for position, _ in served}) > 1
        served_items = Counter(item_id for _, item_id in served)
        assert set(served_items) <= {control.pk for control in controls}
        assert max(served_items.values()) == 1
        assert Annotation.objects.filter(annotator=annotator, kind=Annotation.CONTROL).count() == 10

    def test_once_every_control_is_answered_the_queue_goes_on(self, project, annotator, lead):
        set_rate(project, 0.5)
        items = make_items(project, 4)
        (control,) = make_controls(project, lead=lead, count=1)
        leases = [claim_and_answer(project, annotator) for _ in range(6)]
        assert leases[-1] is None
        assert sorted(lease.item_id for lease in leases[:-1]) == sorted([item.pk for item in items] + [control.pk])

    def test_a_skipped_control_is_not_served_again(self, project, annotator, lead, monkeypatch):
        every_claim_a_control_turn(project, monkeypatch)
        (item,) = make_items(project, 1)
        controls = make_controls(project, lead=lead, count=2)
        given = []
        for _ in range(2):
            lease = assignments.assignment_claim_next(project=project, annotator=annotator)
            assert lease.control
            given.append(lease.item_id)
            assignments.assignment_skip(assignment=lease)
        assert sorted(given) == [control.pk for control in controls]
        lease = assignments.assignment_claim_next(project=project, annotator=annotator)
        assert (lease.item_id, lease.control) == (item.pk, False)

    def test_nobody_is_served_a_control_they_labelled_or_reviewed(self, project, lead, monkeypatch):
        every_claim_a_control_turn(project, monkeypatch)
        make_controls(project, lead=lead, count=2)
        labeller = get_user_model().objects.get(username="labeller")
        assert assignments.assignment_claim_next(project=project, annotator=labeller) is None
        assert assignments.assignment_claim_next(project=project, annotator=lead) is None

    def test_a_control_sent_back_by_new_guidelines_pauses_until_reviewed_again(
        self, project, annotator, lead, monkeypatch
    ):
        every_claim_a_control_turn(project, monkeypatch)
        (control,) = make_controls(project, lead=lead, count=1)
        services.guideline_publish(project=project, text="Stricter.", author=lead, recheck=True)
        assert not selectors.controls_in_force(project=project).exists()
        assert assignments.assignment_claim_next(project=project, annotator=annotator) is None
        control.refresh_from_db()
        review.item_review(
            item=control, lead=lead, option="extraction", expected_current_id=control.current_annotation_id
        )
        assert assignments.assignment_claim_next(project=project, annotator=annotator).item_id == control.pk


class TestControlAnswers:
    def test_a_control_answer_changes_nothing_on_the_item_its_batch_or_agreement(
        self, project, annotator, lead, monkeypatch
    ):
        (control,) = make_controls(project, lead=lead, count=1)
        batch = batch_freeze(batch=batch_create(project=project, name="b", items=Item.objects.filter(pk=control.pk)))
        frozen = BatchItem.objects.values("label", "annotation_id").get(batch=batch)
        fields = ["label", "current_annotation_id", "reviewed", "annotation_count", "needs_recheck", "control"]
        before = Item.objects.values(*fields).get(pk=control.pk)
        open_items = services.project_open_items(project=project)
        every_claim_a_control_turn(project, monkeypatch)

        lease = claim_and_answer(project, annotator, option="no_extraction")

        assert lease.control and lease.item_id == control.pk
        answer = Annotation.objects.get(item=control, annotator=annotator)
        assert (answer.kind, answer.option, answer.late) == (Annotation.CONTROL, "no_extraction", False)
        assert Assignment.objects.get(pk=lease.pk).completed_at is not None
        assert Item.objects.values(*fields).get(pk=control.pk) == before
        assert Project.objects.get(pk=project.pk).open_items == open_items
        assert BatchItem.objects.values("label", "annotation_id").get(batch=batch) == frozen
        assert selectors.item_disputes(item=Item.objects.get(pk=control.pk)) == []
        assert not selectors.items_disputed(project=project).exists()
        assert annotator.pk not in agreement.latest_labels(project=project)
        assert selectors.labelling_progress(project=project, user=annotator)["done_today"] == 1

    def test_a_control_answered_is_not_served_again_through_the_queue(self, project, annotator, lead, monkeypatch):
        """Even when the control is still short of its overlap."""
        project.overlap = 3
        project.save(update_fields=["overlap"])
        (control,) = make_controls(project, lead=lead, count=1)
        every_claim_a_control_turn(project, monkeypatch)
        claim_and_answer(project, annotator)
        assert assignments.assignment_claim_next(project=project, annotator=annotator) is None

    def test_the_card_of_a_control_shows_no_revision_and_a_second_window_is_stale(
        self, project, annotator, lead, monkeypatch
    ):
        every_claim_a_control_turn(project, monkeypatch)
        make_controls(project, lead=lead, count=1)
        lease = assignments.assignment_claim_next(project=project, annotator=annotator)
        assert lease.item.current_annotation_id is not None
        assert selectors.card_revision_id(lease=lease) is None
        services.item_label(item=lease.item, annotator=annotator, option="extraction", expected_current_id=None)
        with pytest.raises(services.StaleRevision):
            services.item_label(item=lease.item, annotator=annotator, option="extraction", expected_current_id=None)

    def test_a_review_while_the_card_is_shown_does_not_refuse_the_answer(
        self, project, annotator, lead, monkeypatch
    ):
        every_claim_a_control_turn(project, monkeypatch)
        (control,) = make_controls(project, lead=lead, count=1)
        lease = assignments.assignment_claim_next(project=project, annotator=annotator)
        review.item_review(
            item=control, lead=lead, option="no_extraction", reason="on reflection",
            expected_current_id=control.current_annotation_id,
        )
        answer = services.item_label(
            item=lease.item, annotator=annotator, option="no_extraction", expected_current_id=None
        )
        assert answer.kind == Annotation.CONTROL
        assert Item.objects.get(pk=control.pk).current_annotation.kind == Annotation.REVIEW_OVERRIDE

    def test_undo_reopens_a_control_answer_as_a_control(self, project, annotator, lead, monkeypatch):
        every_claim_a_control_turn(project, monkeypatch)
        (control,) = make_controls(project, lead=lead, count=1)
        (other,) = make_annotators(project, 1)
        claim_and_answer(project, annotator, option="no_extraction")
        # Another annotator's answer since does not stand in the way: answers are each their own.
        claim_and_answer(project, other)
        lease, last = assignments.assignment_reopen_last(project=project, annotator=annotator)
        assert (lease.item_id, lease.control, last.kind) == (control.pk, True, Annotation.CONTROL)
        assert selectors.card_revision_id(lease=lease) == last.pk
        services.item_label(item=lease.item, annotator=annotator, option="extraction", expected_current_id=last.pk)
        kinds = Annotation.objects.filter(item=control, annotator=annotator).values_list("kind", flat=True)
        assert list(kinds) == [Annotation.CONTROL, Annotation.CONTROL]
        assert Item.objects.get(pk=control.pk).annotation_count == 1
