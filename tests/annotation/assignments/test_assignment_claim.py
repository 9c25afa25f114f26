"""Leases: atomic claims, expiry, overlap k, and late submits that are kept."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from annotation import assignments, services
from annotation.models import Annotation, Assignment, Chat, Corpus, Item, Membership, Message


def make_items(project, count: int) -> list[Item]:
    corpus = Corpus.objects.create(project=project, name=f"c{Corpus.objects.count()}")
    chat = Chat.objects.create(corpus=corpus, external_id="chat-1")
    now = timezone.now()
    items = []
    for n in range(count):
        message = Message.objects.create(
            corpus=corpus, chat=chat, external_id=f"m{n}", sender="x", sent_at=now, text=f"q {n}?"
        )
        items.append(
            Item.objects.create(
                project=project, message=message, chat=chat, text=message.text, sender="A", sent_at=now
            )
        )
    return items


def make_annotators(project, count: int):
    users = []
    for n in range(count):
        user = services.user_get_or_create(username=f"ann{n}", password="x-pass-123")
        services.membership_set(project=project, user=user, role=Membership.ANNOTATOR)
        users.append(user)
    return users


class TestClaim:
    def test_claims_in_order_and_resumes_the_open_lease(self, project, annotator):
        items = make_items(project, 3)
        first = assignments.assignment_claim_next(project=project, annotator=annotator)
        assert first.item_id == items[0].pk
        again = assignments.assignment_claim_next(project=project, annotator=annotator)
        assert again.pk == first.pk

    def test_two_annotators_never_get_the_same_item(self, project):
        items = make_items(project, 2)
        alice, bob = make_annotators(project, 2)
        a = assignments.assignment_claim_next(project=project, annotator=alice)
        b = assignments.assignment_claim_next(project=project, annotator=bob)
        assert {a.item_id, b.item_id} == {items[0].pk, items[1].pk}
        carol = make_annotators(project, 3)[2]
        assert assignments.assignment_claim_next(project=project, annotator=carol) is None

    def test_an_expired_lease_returns_the_item_to_the_pool(self, project):
        (item,) = make_items(project, 1)
        alice, bob = make_annotators(project, 2)
        lease = assignments.assignment_claim_next(project=project, annotator=alice)
        assert assignments.assignment_claim_next(project=project, annotator=bob) is None
        later = lease.expires_at + timedelta(seconds=1)
        taken = assignments.assignment_claim_next(project=project, annotator=bob, now=later)
        assert taken.item_id == item.pk

    def test_a_labelled_item_is_done(self, project, annotator):
        items = make_items(project, 2)
        lease = assignments.assignment_claim_next(project=project, annotator=annotator)
        services.item_annotate(item=lease.item, annotator=annotator, option="extraction")
        nxt = assignments.assignment_claim_next(project=project, annotator=annotator)
        assert nxt.item_id == items[1].pk

    def test_a_skipped_item_is_not_offered_to_the_same_annotator_again(self, project):
        items = make_items(project, 2)
        alice, bob = make_annotators(project, 2)
        lease = assignments.assignment_claim_next(project=project, annotator=alice)
        assignments.assignment_skip(assignment=lease)
        assert assignments.assignment_claim_next(project=project, annotator=alice).item_id == items[1].pk
        assert assignments.assignment_claim_next(project=project, annotator=bob).item_id == items[0].pk


class TestLapsedOwnLease:
    def test_the_item_of_an_own_lapsed_lease_is_served_again_on_the_same_lease(self, project, annotator):
        (item,) = make_items(project, 1)
        lease = assignments.assignment_claim_next(project=project, annotator=annotator)
        later = lease.expires_at + timedelta(seconds=1)
        again = assignments.assignment_claim_next(project=project, annotator=annotator, now=later)
        assert (again.pk, again.item_id) == (lease.pk, item.pk)
        assert (again.leased_at, again.expires_at) == (later, later + timedelta(seconds=project.lease_seconds))
        assert Assignment.objects.filter(item=item, annotator=annotator).count() == 1
        services.item_annotate(item=item, annotator=annotator, option="extraction")
        assert not Annotation.objects.get(item=item).late

    def test_an_undo_over_a_lapsed_reopened_lease_comes_before_later_leases(self, project, annotator):
        first, _ = make_items(project, 2)
        services.item_annotate(item=first, annotator=annotator, option="extraction")
        reopened, _ = assignments.assignment_reopen_last(project=project, annotator=annotator)
        later = reopened.expires_at + timedelta(seconds=1)
        nxt = assignments.assignment_claim_next(project=project, annotator=annotator, now=later)
        assert nxt.item_id != first.pk
        undo_at = later + timedelta(seconds=1)
        again, _ = assignments.assignment_reopen_last(project=project, annotator=annotator, now=undo_at)
        assert (again.pk, again.leased_at) == (reopened.pk, undo_at)
        resumed = assignments.assignment_claim_next(project=project, annotator=annotator, now=undo_at)
        assert resumed.pk == reopened.pk


class TestOverlap:
    def test_exactly_k_distinct_annotators_get_each_item(self, project):
        project.overlap = 2
        project.save()
        (item,) = make_items(project, 1)
        users = make_annotators(project, 3)
        first = assignments.assignment_claim_next(project=project, annotator=users[0])
        second = assignments.assignment_claim_next(project=project, annotator=users[1])
        assert first.item_id == second.item_id == item.pk
        assert assignments.assignment_claim_next(project=project, annotator=users[2]) is None
        services.item_annotate(item=item, annotator=users[0], option="extraction")
        services.item_annotate(item=item, annotator=users[1], option="no_extraction")
        assert assignments.assignment_claim_next(project=project, annotator=users[2]) is None
        assert Item.objects.get(pk=item.pk).annotation_count == 2


class TestLateSubmit:
    def test_a_submit_after_the_lease_expired_is_kept_and_flagged(self, project, annotator):
        (item,) = make_items(project, 1)
        lease = assignments.assignment_claim_next(project=project, annotator=annotator)
        Assignment.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        annotation = services.item_annotate(item=item, annotator=annotator, option="extraction")
        assert annotation.late
        assert Item.objects.get(pk=item.pk).label == "extraction"

    def test_a_submit_for_an_item_someone_else_finished_is_kept(self, project):
        (item,) = make_items(project, 1)
        alice, bob = make_annotators(project, 2)
        services.item_annotate(item=item, annotator=alice, option="extraction")
        late = services.item_annotate(item=item, annotator=bob, option="no_extraction")
        assert late.late
        assert Annotation.objects.filter(item=item).count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_from_many_threads_never_double_assign(project):
    make_items(project, 40)
    users = make_annotators(project, 8)
    claimed: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(user):
        try:
            for _ in range(5):
                lease = assignments.assignment_claim_next(project=project, annotator=user)
                if lease is None:
                    break
                with lock:
                    claimed.append((user.pk, lease.item_id))
                services.item_annotate(item=lease.item, annotator=user, option="extraction")
        except BaseException as error:  # surfaced below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    item_ids = [item_id for _, item_id in claimed]
    assert len(item_ids) == 40
    assert len(set(item_ids)) == 40
    assert Annotation.objects.count() == 40
