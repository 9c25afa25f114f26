"""Exports of a frozen batch: alpaca JSON, chat-messages JSONL, LLaMA-Factory entry.

An alpaca record (seed 2405.02817) is
`{"instruction": task + history JSON + message + lettered options, "input": "",
"output": "<letter>:<option text>"}`; the options are lettered in an order
shuffled deterministically per item, so a model cannot learn a fixed letter.
Exports read only the frozen snapshot (each batch item's label) and immutable
item fields, so the same batch always gives the same bytes.
"""

import hashlib
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from annotation.models import Batch, BatchItem

LETTERS = "ABCDEFGHIJ"
ANSWER_LINE = "Answer with the letter of one option."


def option_order(
    *, chat_external_id: str, message_external_id: str, option_values: list[str], shuffle: bool = True
) -> list[str]:
    """The project's option values in this item's deterministic shuffled order."""
    if not shuffle:
        return list(option_values)
    seed = int(hashlib.sha256(f"{chat_external_id}/{message_external_id}".encode()).hexdigest(), 16)
    ordered = list(option_values)
    random.Random(seed).shuffle(ordered)
    return ordered


def render_instruction(
    *, instruction: str, history: list[dict], sender: str, text: str, lettered: list[tuple[str, str]]
) -> str:
    """The prompt text for one item; `lettered` is [(letter, option text), …]."""
    history_json = json.dumps(
        [{"username": turn["username"], "content": turn["content"]} for turn in history],
        ensure_ascii=False,
    )
    message_json = json.dumps({"username": sender, "content": text}, ensure_ascii=False)
    options = "\n".join(f"{letter}: {option}" for letter, option in lettered)
    return (
        f"{instruction}\n\nHistory:\n{history_json}\n\nMessage:\n{message_json}\n\n"
        f"Options:\n{options}\n\n{ANSWER_LINE}"
    )


@dataclass(frozen=True)
class ExportRow:
    """One item rendered for a batch; its record and choices are stored when the batch is made."""

    item_id: int
    category: str
    label: str
    instruction: str
    # [(letter, option value, option text)] in this item's order.
    choices: list[tuple[str, str, str]]

    @property
    def output(self) -> str:
        for letter, value, text in self.choices:
            if value == self.label:
                return f"{letter}:{text}"
        raise ValueError(f"label {self.label!r} is not an option of item {self.item_id}")

    def alpaca(self) -> dict:
        return {"instruction": self.instruction, "input": "", "output": self.output}


ALL = "all"


# What rendering an item needs, as values_list field paths from an Item…
ITEM_FIELDS = (
    "id", "label", "category", "context", "sender", "text", "chat__external_id", "message__external_id",
)
# …and from a BatchItem.
ROW_FIELDS = tuple(
    "item_id" if field == "id" else field if field == "label" else f"item__{field}" for field in ITEM_FIELDS
)


def export_row(*, project, row: tuple) -> ExportRow:
    """Render one item (a ROW_FIELDS tuple) with the given label."""
    item_id, label, category, context, sender, text, chat_id, message_id = row
    texts = {option["value"]: option["text"] for option in project.options}
    order = option_order(
        chat_external_id=chat_id,
        message_external_id=message_id,
        option_values=project.option_values,
        shuffle=project.shuffle_options,
    )
    choices = [(LETTERS[index], value, texts[value]) for index, value in enumerate(order)]
    instruction = render_instruction(
        instruction=project.instruction,
        history=context,
        sender=sender,
        text=text,
        lettered=[(letter, option_text) for letter, _, option_text in choices],
    )
    return ExportRow(item_id, category, label, instruction, choices)


def record_line(row: ExportRow) -> str:
    return json.dumps(row.alpaca(), ensure_ascii=False)


def stored_choices(row: ExportRow) -> list[list[str]]:
    """The row's choices as stored beside its record (JSON has no tuples)."""
    return [list(choice) for choice in row.choices]


@dataclass(frozen=True)
class FrozenRecord:
    """One batch item exactly as frozen: what training and scoring read."""

    item_id: int
    label: str
    instruction: str
    output: str
    # [(letter, option value, option text)] in the record's order.
    choices: list[tuple[str, str, str]]


def frozen_records(*, batch: Batch, split: str) -> Iterator[FrozenRecord]:
    """The batch's stored records of one split, in export order, never re-rendered.

    The same records the alpaca export writes and the content hash covers, so
    later edits to the project or its items cannot change what a run trains on.
    """
    rows = (
        BatchItem.objects.filter(batch=batch, split=split)
        .order_by("position")
        .values_list("item_id", "label", "record", "choices")
        .iterator(chunk_size=2000)
    )
    for item_id, label, record, choices in rows:
        if not record:
            raise ValueError(
                f"batch {batch.name!r}: item {item_id} has no stored record (the batch was made "
                "before records were kept); freeze a new batch of these items"
            )
        alpaca = json.loads(record)
        yield FrozenRecord(
            item_id=item_id,
            label=label,
            instruction=alpaca["instruction"],
            output=alpaca["output"],
            choices=[tuple(choice) for choice in choices],
        )


def stored_records(*, batch: Batch, split: str) -> Iterator[str]:
    """The records rendered when the batch was made, in export order."""
    splits = [BatchItem.TRAIN, BatchItem.EVAL] if split == ALL else [split]
    for one in splits:
        yield from (
            BatchItem.objects.filter(batch=batch, split=one)
            .order_by("position")
            .values_list("record", flat=True)
            .iterator(chunk_size=5000)
        )


def alpaca_chunks(*, batch: Batch, split: str) -> Iterator[bytes]:
    """A JSON array, one record a line, streamed in chunks of many records."""
    yield b"["
    separator = "\n"
    pending: list[str] = []
    for line in stored_records(batch=batch, split=split):
        pending.append(separator + line)
        separator = ",\n"
        if len(pending) >= 1000:
            yield "".join(pending).encode()
            pending = []
    yield ("".join(pending) + "\n]\n").encode()


def chat_jsonl_chunks(*, batch: Batch, split: str) -> Iterator[bytes]:
    for line in stored_records(batch=batch, split=split):
        record = json.loads(line)
        chat = {
            "messages": [
                {"role": "user", "content": record["instruction"]},
                {"role": "assistant", "content": record["output"]},
            ]
        }
        yield json.dumps(chat, ensure_ascii=False).encode() + b"\n"


def file_name(*, batch: Batch, split: str, kind: str = "alpaca") -> str:
    extension = "json" if kind == "alpaca" else "jsonl"
    return f"ladderlab_{batch.short_hash or batch.pk}_{split}.{extension}"


def dataset_info(*, batch: Batch) -> dict:
    """LLaMA-Factory `dataset_info.json` entries for the batch's two alpaca files."""
    return {
        f"ladderlab_{batch.short_hash}_{split}": {
            "file_name": file_name(batch=batch, split=split),
            "formatting": "alpaca",
            "columns": {"prompt": "instruction", "query": "input", "response": "output"},
        }
        for split in (BatchItem.TRAIN, BatchItem.EVAL)
    }


def dataset_info_bytes(*, batch: Batch) -> bytes:
    return json.dumps(dataset_info(batch=batch), ensure_ascii=False, indent=2).encode() + b"\n"


def content_hash(*, batch: Batch) -> str:
    """sha256 over b"train\\n" + train alpaca bytes + b"eval\\n" + eval alpaca bytes."""
    digest = hashlib.sha256()
    for split in (BatchItem.TRAIN, BatchItem.EVAL):
        digest.update(f"{split}\n".encode())
        for chunk in alpaca_chunks(batch=batch, split=split):
            digest.update(chunk)
    return digest.hexdigest()


def write_export(
    *, batch: Batch, split: str, kind: str, stream: BinaryIO, progress: Callable[[int], object] | None = None
) -> int:
    """Write one export to a binary stream; returns the bytes written."""
    if kind == "alpaca":
        chunks = alpaca_chunks(batch=batch, split=split)
    elif kind == "chat-jsonl":
        chunks = chat_jsonl_chunks(batch=batch, split=split)
    elif kind == "dataset-info":
        chunks = iter([dataset_info_bytes(batch=batch)])
    else:
        raise ValueError(f"unknown export kind {kind!r}: alpaca, chat-jsonl or dataset-info")
    written = 0
    for chunk in chunks:
        stream.write(chunk)
        written += len(chunk)
        if progress is not None:
            progress(len(chunk))
    return written
