"""Exports of a frozen batch: alpaca JSON, chat-messages JSONL, LLaMA-Factory entry,
Parquet for Hugging Face `datasets`, and an axolotl config.

An alpaca record (seed 2405.02817) is
`{"instruction": task + history JSON + message + lettered options, "input": "",
"output": "<letter>:<option text>"}`; the options are lettered in an order
shuffled deterministically per item, so a model cannot learn a fixed letter.
Exports read only the frozen snapshot (each batch item's label) and immutable
item fields, so the same batch always gives the same bytes. The Parquet files
hold the alpaca records' strings exactly, with the batch's content hash in their
metadata; the axolotl config points at them and takes its model and LoRA settings
from the project's largest registered rung.
"""

import hashlib
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import yaml

from annotation.models import Batch, BatchItem
from training.ml.finetune import LoraConfigValues

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


EXTENSIONS = {"alpaca": "json", "chat-jsonl": "jsonl", "parquet": "parquet"}
KINDS = (*EXTENSIONS, "dataset-info", "axolotl")
CONTENT_TYPES = {
    "alpaca": "application/json; charset=utf-8",
    "chat-jsonl": "application/json; charset=utf-8",
    "dataset-info": "application/json; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "axolotl": "application/yaml; charset=utf-8",
}


def file_name(*, batch: Batch, split: str, kind: str = "alpaca") -> str:
    stem = f"ladderlab_{batch.short_hash or batch.pk}"
    if kind == "dataset-info":
        return "dataset_info.json"
    if kind == "axolotl":
        return f"{stem}_axolotl.yaml"
    return f"{stem}_{split}.{EXTENSIONS[kind]}"


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


ALPACA_COLUMNS = ("instruction", "input", "output")
PARQUET_ROW_GROUP = 5000
# Fixed, so the same batch gives the same bytes under the same pyarrow; the
# file's `created_by` names that pyarrow version, and no timestamp is written.
PARQUET_WRITER_OPTIONS = {
    "version": "2.6",
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": False,
    "data_page_size": 1 << 20,
}


def parquet_metadata(*, batch: Batch, split: str) -> dict[str, str]:
    """What the Parquet file's key-value metadata says of where its records come from."""
    return {
        "ladderlab.content_hash": batch.content_hash,
        "ladderlab.batch_id": str(batch.pk),
        "ladderlab.batch_name": batch.name,
        "ladderlab.project": batch.project.name,
        "ladderlab.split": split,
    }


def parquet_bytes(*, batch: Batch, split: str) -> bytes:
    """One split's alpaca records as a Parquet file `datasets.load_dataset("parquet")` reads.

    Same records, same order and the same strings as the alpaca JSON export;
    written in row groups of PARQUET_ROW_GROUP records, so only one group's
    columns are held at a time besides the compressed file.
    """
    # Imported here: pyarrow costs half a second to import, and only this export needs it.
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [(column, pa.string()) for column in ALPACA_COLUMNS],
        metadata=parquet_metadata(batch=batch, split=split),
    )
    sink = pa.BufferOutputStream()
    with pq.ParquetWriter(sink, schema, **PARQUET_WRITER_OPTIONS) as writer:
        columns: dict[str, list[str]] = {column: [] for column in ALPACA_COLUMNS}
        for line in stored_records(batch=batch, split=split):
            record = json.loads(line)
            for column in ALPACA_COLUMNS:
                columns[column].append(record[column])
            if len(columns["instruction"]) == PARQUET_ROW_GROUP:
                writer.write_table(pa.table(columns, schema=schema))
                columns = {column: [] for column in ALPACA_COLUMNS}
        if columns["instruction"]:
            writer.write_table(pa.table(columns, schema=schema))
    return sink.getvalue().to_pybytes()


BASE_MODEL_PLACEHOLDER = "CHANGE-ME: a Hugging Face model id or checkpoint directory"
# ladderlab's schedules in transformers' names: both warm up linearly first.
AXOLOTL_SCHEDULERS = {"cosine": "cosine", "constant": "constant_with_warmup"}


def largest_rung(*, project):
    """The biggest rung of any ladder attached to the project, or None."""
    from training.models import Rung

    return (
        Rung.objects.filter(ladder__projects=project)
        .select_related("ladder")
        .order_by("-parameters", "ladder__name", "-order")
        .first()
    )


def axolotl_config(*, batch: Batch, rung) -> dict:
    """An axolotl config for this batch's Parquet files with `rung`'s model and LoRA settings.

    The rung's registered hyper-parameters override ladderlab's defaults; one
    packed row of `batch_tokens` tokens per step and loss on the answer only,
    as the ladder fine-tunes. Without a rung, `base_model` is a placeholder.
    axolotl's `alpaca` type wraps each instruction in its own prompt, where the
    ladder applies the model's chat template, so the two runs are alike, not equal.
    """
    values = LoraConfigValues.from_overrides(rung.hyperparameters if rung else {})
    config = {"base_model": rung.checkpoint_path if rung else BASE_MODEL_PLACEHOLDER, "adapter": "lora"}
    config.update(lora_r=values.r, lora_alpha=values.alpha, lora_dropout=values.dropout)
    if values.target_modules == "all-linear":
        config["lora_target_linear"] = True
    else:
        config["lora_target_modules"] = list(values.target_modules)
    if values.modules_to_save:
        config["lora_modules_to_save"] = list(values.modules_to_save)
    config.update(
        learning_rate=values.lr,
        lr_scheduler=AXOLOTL_SCHEDULERS[values.scheduler],
        warmup_ratio=values.warmup_ratio,
        weight_decay=values.weight_decay,
        optimizer="adamw_torch",
        max_grad_norm=1.0,
        num_epochs=values.epochs,
        seed=values.seed,
        sequence_len=values.batch_tokens,
        sample_packing=True,
        micro_batch_size=1,
        gradient_accumulation_steps=1,
        train_on_inputs=False,
        datasets=[{"path": file_name(batch=batch, split=BatchItem.TRAIN, kind="parquet"), "ds_type": "parquet",
                   "type": "alpaca"}],
        # axolotl takes either a held-out share or test_datasets; the batch has its own eval split.
        val_set_size=0,
    )
    if batch.eval_count:
        # A local file loads as split "train", whichever split of the batch it holds.
        config["test_datasets"] = [{"path": file_name(batch=batch, split=BatchItem.EVAL, kind="parquet"),
                                    "ds_type": "parquet", "type": "alpaca", "split": "train"}]
    config.update(
        dataset_prepared_path=f"prepared/ladderlab_{batch.short_hash}",
        output_dir=f"outputs/ladderlab_{batch.short_hash}",
    )
    return config


def axolotl_config_text(*, batch: Batch) -> str:
    """The config as YAML, after a comment naming the batch and where its settings come from."""
    rung = largest_rung(project=batch.project)
    source = (
        f"rung {json.dumps(rung.name)} of ladder {json.dumps(rung.ladder.name)} as registered"
        if rung
        else "ladderlab's defaults; no ladder is attached to the project, so set base_model"
    )
    # json.dumps escapes every line break, so a name cannot end the comment.
    header = (
        f"# axolotl config for batch {json.dumps(batch.name)} of project {json.dumps(batch.project.name)},\n"
        f"# content hash {batch.content_hash}.\n"
        f"# Run it in the folder that holds the batch's Parquet files; model and LoRA settings: {source}.\n"
        "# axolotl's alpaca prompt is not the model's chat template the ladder trains with.\n"
    )
    return header + yaml.safe_dump(axolotl_config(batch=batch, rung=rung), sort_keys=False, allow_unicode=True)


def export_chunks(*, batch: Batch, split: str, kind: str) -> Iterator[bytes]:
    """One export's bytes, in chunks; a file built whole (Parquet, YAML) is one chunk, built now."""
    if kind == "alpaca":
        return alpaca_chunks(batch=batch, split=split)
    if kind == "chat-jsonl":
        return chat_jsonl_chunks(batch=batch, split=split)
    if kind == "dataset-info":
        return iter([dataset_info_bytes(batch=batch)])
    if kind == "parquet":
        return iter([parquet_bytes(batch=batch, split=split)])
    if kind == "axolotl":
        return iter([axolotl_config_text(batch=batch).encode()])
    raise ValueError(f"unknown export kind {kind!r}: {', '.join(KINDS)}")


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
    written = 0
    for chunk in export_chunks(batch=batch, split=split, kind=kind):
        stream.write(chunk)
        written += len(chunk)
        if progress is not None:
            progress(len(chunk))
    return written
