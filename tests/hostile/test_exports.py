"""Spreadsheet formulas (`=cmd|…`, `+`, `-`, `@`, tab, carriage return) in the exports.

ladderlab exports no CSV: a frozen batch leaves as alpaca JSON, chat-message
JSONL and Parquet, which are data for training, not sheets a spreadsheet
evaluates, so the text must leave exactly as it was imported; prefixing a
quote would change the training data. The CSV importer likewise stores such
text verbatim.
"""

import io
import json

import pyarrow.parquet as pq

from annotation import exports, services
from annotation.batches import batch_create, batch_freeze
from annotation.importers import messages_import
from annotation.models import Item, Message
from annotation.preprocessing import items_preprocess
from tests.hostile.test_hostile_files import CSV_INJECTION, FILES

FORMULAS = {message.text for message in CSV_INJECTION.messages}


def test_formulas_leave_the_exports_exactly_as_imported(project, annotator):
    project.candidate_threshold = 0
    project.min_chars = 1
    project.merge_window_seconds = 0
    project.save()
    messages_import(project=project, path=FILES / "csv_injection.csv")
    assert set(Message.objects.values_list("text", flat=True)) == FORMULAS
    items_preprocess(project=project)
    for item in Item.objects.filter(project=project):
        services.item_annotate(item=item, annotator=annotator, option=project.option_values[0])
    items = Item.objects.filter(project=project)
    batch = batch_freeze(batch=batch_create(project=project, name="formulas", items=items, eval_share=0))

    records = json.loads(b"".join(exports.alpaca_chunks(batch=batch, split="train")))
    assert {message_text(record["instruction"]) for record in records} == FORMULAS
    lines = b"".join(exports.chat_jsonl_chunks(batch=batch, split="train")).decode().splitlines()
    assert {message_text(json.loads(line)["messages"][0]["content"]) for line in lines} == FORMULAS
    table = pq.read_table(io.BytesIO(exports.parquet_bytes(batch=batch, split="train")))
    assert table.to_pylist() == records


def message_text(prompt: str) -> str:
    """The labelled message's text, from the JSON object under "Message:" in a prompt."""
    message = prompt.split("\n\nMessage:\n", 1)[1].split("\n\nOptions:\n", 1)[0]
    return json.loads(message)["content"]
