"""Frozen batches as the plain examples `training.ml` trains and scores on.

Training and scoring read the records stored when the batch was made
(`frozen_records`): the bytes its alpaca export holds and its content hash
names, never an item re-rendered from the live project. Only the demo's
unlabelled pre-training texts are rendered here, from the project as it is.
"""

import random

from annotation.exports import frozen_records
from annotation.models import Batch, BatchItem
from training.ml.data import EvalExample, TrainExample


def train_examples(*, batch: Batch, limit: int | None = None) -> list[TrainExample]:
    """The train split; with `limit`, a seeded random subset (halving subsets nest)."""
    records = list(frozen_records(batch=batch, split=BatchItem.TRAIN))
    if limit is not None:
        random.Random(0).shuffle(records)
        records = records[:limit]
    return [TrainExample(prompt=record.instruction, response=record.output) for record in records]


def eval_examples(*, batch: Batch) -> tuple[list[EvalExample], dict[str, list[str]], dict[str, str]]:
    """Eval examples, each item's option values in choice order, and its frozen label."""
    examples, option_values, labels = [], {}, {}
    for record in frozen_records(batch=batch, split=BatchItem.EVAL):
        if not record.choices:
            raise ValueError(
                f"batch {batch.name!r}: item {record.item_id} was frozen before option values were "
                "stored beside records, and its options no longer match the project's; "
                "freeze a new batch of these items"
            )
        key = str(record.item_id)
        examples.append(
            EvalExample(
                prompt=record.instruction,
                choices=[f"{letter}:{text}" for letter, _, text in record.choices],
                key=key,
            )
        )
        option_values[key] = [value for _, value, _ in record.choices]
        labels[key] = record.label
    return examples, option_values, labels


def pretraining_texts(*, project, limit: int = 4000) -> list[str]:
    """Unlabelled items rendered as prompts (no answers), for the demo ladder."""
    from annotation.exports import LETTERS, option_order, render_instruction
    from annotation.models import Item

    texts = []
    texts_by_value = {option["value"]: option["text"] for option in project.options}
    rows = (
        Item.objects.filter(project=project)
        .order_by("id")
        .values_list("context", "sender", "text", "chat__external_id", "message__external_id")[:limit]
    )
    for context, sender, text, chat_id, message_id in rows:
        order = option_order(
            chat_external_id=chat_id,
            message_external_id=message_id,
            option_values=project.option_values,
            shuffle=project.shuffle_options,
        )
        texts.append(
            render_instruction(
                instruction=project.instruction,
                history=context,
                sender=sender,
                text=text,
                lettered=[(LETTERS[index], texts_by_value[value]) for index, value in enumerate(order)],
            )
        )
    return texts
