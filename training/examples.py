"""Frozen batches as the plain examples `training.ml` trains and scores on.

Training and scoring read the records stored when the batch was made
(`frozen_records`): the bytes its alpaca export holds and its content hash
names, never an item re-rendered from the live project. Only the demo's
unlabelled pre-training texts are rendered here, from the project as it is.
"""

import random
from collections.abc import Iterable

from annotation.batches import chat_fold
from annotation.exports import FrozenRecord, frozen_records
from annotation.models import Batch, BatchItem
from training.ml.data import EvalExample, TrainExample


def train_folds(*, batch: Batch, folds: int) -> dict[int, int]:
    """{item id: fold} over the batch's train split, by chat (annotation.batches.chat_fold)."""
    rows = BatchItem.objects.filter(batch=batch, split=BatchItem.TRAIN).values_list(
        "item_id", "item__chat__external_id"
    )
    return {item_id: chat_fold(chat, folds) for item_id, chat in rows}


def _train_records(*, batch: Batch, held_out: tuple[int, int] | None) -> list[FrozenRecord]:
    """The train split's records; with `held_out` = (fold, folds), all but that fold's."""
    records = frozen_records(batch=batch, split=BatchItem.TRAIN)
    if held_out is None:
        return list(records)
    fold, folds = held_out
    fold_of = train_folds(batch=batch, folds=folds)
    return [record for record in records if fold_of[record.item_id] != fold]


def train_examples(
    *, batch: Batch, limit: int | None = None, held_out: tuple[int, int] | None = None
) -> list[TrainExample]:
    """The train split (less the `held_out` fold); with `limit`, a seeded random subset (halving subsets nest)."""
    records = _train_records(batch=batch, held_out=held_out)
    if limit is not None:
        random.Random(0).shuffle(records)
        records = records[:limit]
    return [
        TrainExample(
            prompt=record.instruction,
            response=record.output,
            key=str(record.item_id),
            choices=tuple(f"{letter}:{text}" for letter, _, text in record.choices),
        )
        for record in records
    ]


ScoringExamples = tuple[list[EvalExample], dict[str, list[str]], dict[str, str]]


def eval_examples(*, batch: Batch) -> ScoringExamples:
    """Eval examples, each item's option values in choice order, and its frozen label."""
    return scoring_examples(batch=batch, records=frozen_records(batch=batch, split=BatchItem.EVAL))


def held_out_examples(*, batch: Batch, fold: int, folds: int) -> ScoringExamples:
    """The train items of one fold, to be scored by a model trained on the other folds."""
    fold_of = train_folds(batch=batch, folds=folds)
    records = (
        record for record in frozen_records(batch=batch, split=BatchItem.TRAIN) if fold_of[record.item_id] == fold
    )
    return scoring_examples(batch=batch, records=records)


def scoring_examples(*, batch: Batch, records: Iterable[FrozenRecord]) -> ScoringExamples:
    """Records as scoring examples, each item's option values in choice order, and its frozen label."""
    examples, option_values, labels = [], {}, {}
    for record in records:
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
