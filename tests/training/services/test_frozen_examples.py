"""Training and scoring read the batch as frozen, whatever the project became since."""

import importlib
import json

import pytest
from django.apps import apps

from annotation import exports, services
from annotation.batches import batch_create, batch_freeze
from annotation.models import BatchItem, Item
from annotation.preprocessing import items_preprocess
from tests.annotation.factories import make_chat
from training.examples import eval_examples, train_examples

pytestmark = pytest.mark.django_db


@pytest.fixture
def batch(project, annotator):
    for chat in range(8):
        make_chat(project, f"chat-{chat}", [
            ("ann", 0, f"the queue {chat} backs up again"),
            ("bob", 30, f"is it worker pool {chat}?"),
            ("cat", 60, "did the deploy change the limits?"),
        ])
    items_preprocess(project=project)
    for n, item in enumerate(Item.objects.filter(project=project).order_by("id")):
        services.item_annotate(item=item, annotator=annotator, option="extraction" if n % 2 else "no_extraction")
    batch = batch_freeze(batch=batch_create(
        project=project, name="b1", items=Item.objects.filter(project=project), eval_share=0.3
    ))
    assert batch.train_count and batch.eval_count
    return batch


def export_json(batch, split: str) -> list[dict]:
    return json.loads(b"".join(exports.alpaca_chunks(batch=batch, split=split)))


def edit_everything_after_the_freeze(project):
    project.instruction = "A different task altogether."
    project.options = [
        {"value": "extraction", "text": "yes, look back", "key": "k"},
        {"value": "no_extraction", "text": "no, it stands alone", "key": "j"},
        {"value": "dont_know", "text": "unsure", "key": "i"},
    ]
    project.shuffle_options = not project.shuffle_options
    project.save()
    Item.objects.filter(project=project).update(text="edited after the freeze?")


def test_training_rows_are_the_export_byte_for_byte_after_the_project_changed(project, batch):
    frozen_export = b"".join(exports.alpaca_chunks(batch=batch, split="train"))
    edit_everything_after_the_freeze(project)
    batch.refresh_from_db()
    assert b"".join(exports.alpaca_chunks(batch=batch, split="train")) == frozen_export
    rows = [
        json.dumps({"instruction": example.prompt, "input": "", "output": example.response}, ensure_ascii=False)
        for example in train_examples(batch=batch)
    ]
    assert ("[\n" + ",\n".join(rows) + "\n]\n").encode() == frozen_export


def test_eval_prompts_choices_and_labels_are_the_frozen_ones(project, batch):
    exported = export_json(batch, "eval")
    frozen_texts = {option["value"]: option["text"] for option in project.options}
    edit_everything_after_the_freeze(project)
    examples, option_values, labels = eval_examples(batch=batch)
    assert [example.prompt for example in examples] == [record["instruction"] for record in exported]
    frozen_labels = dict(BatchItem.objects.filter(batch=batch, split="eval").values_list("item_id", "label"))
    for example, record in zip(examples, exported):
        assert labels[example.key] == frozen_labels[int(example.key)]
        # The exported answer is one of the choices, and it is the frozen label's.
        answer = example.choices.index(record["output"])
        assert option_values[example.key][answer] == labels[example.key]
        assert [choice.split(":", 1)[1] for choice in example.choices] == [
            frozen_texts[value] for value in option_values[example.key]
        ]


def test_items_stored_before_choices_were_kept_get_them_from_their_record(project, batch):
    stored = dict(BatchItem.objects.filter(batch=batch).values_list("pk", "choices"))
    BatchItem.objects.filter(batch=batch).update(choices=[])
    migration = importlib.import_module("annotation.migrations.0008_batchitem_choices")
    migration.backfill_choices(apps, None)
    assert dict(BatchItem.objects.filter(batch=batch).values_list("pk", "choices")) == stored


def test_an_item_whose_options_cannot_be_recovered_is_refused_with_a_clear_error(project, batch):
    BatchItem.objects.filter(batch=batch).update(choices=[])
    with pytest.raises(ValueError, match="freeze a new batch"):
        eval_examples(batch=batch)
