"""Freezing: deterministic leak-guarded split, immutability, content hash."""

import hashlib

import pytest
from django.core.exceptions import ValidationError

from annotation import exports, services
from annotation.batches import batch_create, batch_freeze, batch_preview, chat_fraction, eval_chats
from annotation.models import BatchItem, Item
from annotation.preprocessing import items_preprocess
from tests.annotation.factories import make_chat


@pytest.fixture
def labelled(project, annotator):
    """20 chats of 3 questions each, all labelled."""
    for chat in range(20):
        make_chat(project, f"chat-{chat:02d}", [
            ("ann", 0, f"kafka topic {chat} lags behind"),
            ("bob", 30, f"is it the consumer group {chat}?"),
            ("ann", 60, "yes, rebalancing all the time"),
            ("cat", 90, "does it happen after deploys?"),
            ("bob", 120, "what does the broker log say?"),
        ])
    items_preprocess(project=project)
    for n, item in enumerate(Item.objects.filter(project=project).order_by("id")):
        services.item_annotate(item=item, annotator=annotator, option="extraction" if n % 2 else "no_extraction")
    return Item.objects.filter(project=project)


def splits_by_chat(batch):
    chats: dict[str, set[str]] = {}
    for chat, split in BatchItem.objects.filter(batch=batch).values_list("item__chat__external_id", "split"):
        chats.setdefault(chat, set()).add(split)
    return chats


def test_no_chat_is_in_both_splits_and_eval_is_not_empty(project, labelled):
    batch = batch_freeze(batch=batch_create(project=project, name="b1", items=labelled, eval_share=0.2))
    chats = splits_by_chat(batch)
    assert all(len(splits) == 1 for splits in chats.values())
    assert batch.eval_count > 0 and batch.train_count > 0
    assert batch.train_count + batch.eval_count == 60
    expected_eval = {chat for chat in chats if chat_fraction(chat) < 0.2}
    assert {chat for chat, splits in chats.items() if splits == {"eval"}} == expected_eval


def test_the_same_chat_lands_in_the_same_split_in_every_batch(project, labelled):
    first = batch_freeze(batch=batch_create(project=project, name="b1", items=labelled))
    subset = labelled.filter(chat__external_id__in=[f"chat-{n:02d}" for n in range(0, 20, 2)])
    second = batch_freeze(batch=batch_create(project=project, name="b2", items=subset))
    first_splits, second_splits = splits_by_chat(first), splits_by_chat(second)
    for chat, splits in second_splits.items():
        if len(second_splits) > 1 and splits == first_splits[chat]:
            continue
        assert splits == first_splits[chat] or chat == min(second_splits, key=chat_fraction)


def test_refreezing_the_same_items_gives_the_same_hash(project, labelled):
    first = batch_freeze(batch=batch_create(project=project, name="b1", items=labelled))
    again = batch_freeze(batch=batch_create(project=project, name="b2", items=labelled))
    assert first.content_hash == again.content_hash
    assert len(first.content_hash) == 64


def test_the_hash_names_the_exact_export(project, labelled):
    batch = batch_freeze(batch=batch_create(project=project, name="b1", items=labelled))
    train = b"".join(exports.alpaca_chunks(batch=batch, split="train"))
    eval_ = b"".join(exports.alpaca_chunks(batch=batch, split="eval"))
    assert batch.content_hash == hashlib.sha256(b"train\n" + train + b"eval\n" + eval_).hexdigest()


def test_a_frozen_batch_cannot_be_frozen_again_nor_change(project, labelled, lead):
    batch = batch_freeze(batch=batch_create(project=project, name="b1", items=labelled))
    before = batch.content_hash
    with pytest.raises(ValidationError):
        batch_freeze(batch=batch)
    item = labelled.first()
    services.item_annotate(item=item, annotator=lead, option="dont_know", kind="override", reason="unclear")
    batch.refresh_from_db()
    assert exports.content_hash(batch=batch) == before
    assert BatchItem.objects.get(batch=batch, item=item).label != "dont_know"


def test_dont_know_is_left_out_and_unlabelled_items_are_refused(project, labelled, annotator):
    services.item_annotate(item=labelled.first(), annotator=annotator, option="dont_know")
    batch = batch_create(project=project, name="b1", items=labelled)
    assert batch.left_out == 1
    make_chat(project, "fresh", [("zed", 0, "why does it hang?")])
    items_preprocess(project=project)
    with pytest.raises(ValidationError, match="has no label"):
        batch_create(project=project, name="b2", items=Item.objects.filter(project=project))


def test_preview_counts_match_the_frozen_batch(project, labelled):
    preview = batch_preview(project=project, items=labelled)
    batch = batch_freeze(batch=batch_create(project=project, name="b1", items=labelled))
    assert (preview["train"], preview["eval"]) == (batch.train_count, batch.eval_count)
    assert sum(sum(c.values()) for c in preview["by_label"].values()) == 60


def test_eval_chats_guarantees_both_sides():
    assert eval_chats(["a", "b"], eval_share=0.0) == set()
    picked = eval_chats(["a", "b", "c"], eval_share=1e-9)
    assert len(picked) == 1
    assert eval_chats(["a", "b", "c"], eval_share=0.999999) != {"a", "b", "c"}
