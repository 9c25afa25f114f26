"""A batch's status moves only through its transition method; create-and-freeze is one service."""

import pytest
from django.core.exceptions import ValidationError

from annotation import review, services
from annotation.batches import batch_create, batch_create_frozen, batch_freeze
from annotation.models import Batch, Item
from annotation.preprocessing import items_preprocess
from annotation.signals import batch_frozen
from tests.annotation.factories import make_chat


@pytest.fixture
def items(project, annotator, lead):
    for chat in range(3):
        make_chat(project, f"chat-{chat}", [("ann", 0, f"disk {chat} is full"), ("bob", 30, f"which mount {chat}?")])
    items_preprocess(project=project)
    labelled = list(Item.objects.filter(project=project).order_by("id"))
    labels = [services.item_annotate(item=item, annotator=annotator, option="extraction") for item in labelled]
    review.item_review(item=labelled[0], lead=lead, option="extraction", expected_current_id=labels[0].pk)
    return Item.objects.filter(project=project)


def test_a_frozen_batch_refuses_to_freeze_again(project, items):
    batch = batch_freeze(batch=batch_create(project=project, name="b1", items=items))
    frozen_hash, frozen_at = batch.content_hash, batch.frozen_at
    with pytest.raises(ValidationError, match="already frozen"):
        batch.freeze(content_hash="0" * 64, train_count=0, eval_count=0)
    batch = Batch.objects.get(pk=batch.pk)
    assert (batch.content_hash, batch.frozen_at) == (frozen_hash, frozen_at)


def test_the_transitions_allow_draft_to_frozen_only(project, items):
    batch = batch_create(project=project, name="b1", items=items)
    with pytest.raises(ValidationError, match="cannot go from draft to draft"):
        batch.check_move(Batch.DRAFT)
    batch.check_move(Batch.FROZEN)
    batch = batch_freeze(batch=batch)
    for status in (Batch.DRAFT, Batch.FROZEN):
        with pytest.raises(ValidationError):
            batch.check_move(status)


def test_create_and_freeze_is_one_step(project, items, lead):
    batch = batch_create_frozen(project=project, name="reviewed-1", selection="reviewed", created_by=lead)
    assert batch.is_frozen and batch.train_count + batch.eval_count == 1
    everything = batch_create_frozen(project=project, name="all-1", selection="labelled", created_by=lead)
    assert everything.train_count + everything.eval_count == items.count()


def test_a_refused_create_and_freeze_leaves_no_draft(project, items, lead):
    batch_create_frozen(project=project, name="taken", selection="labelled")
    with pytest.raises(ValidationError, match="already has a batch named"):
        batch_create_frozen(project=project, name="taken", selection="labelled")
    with pytest.raises(ValidationError, match="unknown selection"):
        batch_create_frozen(project=project, name="other", selection="everything")
    assert list(Batch.objects.values_list("name", "status")) == [("taken", Batch.FROZEN)]


def test_a_freeze_refused_after_the_batch_was_made_leaves_no_draft(project, items):
    def refuse(**kwargs):
        raise ValidationError({"ladder": "no worker can run this ladder"})

    batch_frozen.connect(refuse, dispatch_uid="test-refuse")
    try:
        with pytest.raises(ValidationError, match="no worker"):
            batch_create_frozen(project=project, name="b1", selection="labelled")
    finally:
        batch_frozen.disconnect(dispatch_uid="test-refuse")
    assert not Batch.objects.exists()
