"""Exports: alpaca records, byte identity, chat JSONL, dataset_info, downloads."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from annotation import exports
from annotation.batches import batch_create, batch_freeze
from tests.annotation.batches.test_batch_freeze import labelled  # noqa: F401  (fixture)


@pytest.fixture
def batch(project, labelled):  # noqa: F811
    return batch_freeze(batch=batch_create(project=project, name="b1", items=labelled, eval_share=0.3))


def test_every_record_is_alpaca_and_its_letter_matches_the_options(batch):
    records = json.loads(b"".join(exports.alpaca_chunks(batch=batch, split="train")))
    assert len(records) == batch.train_count
    for record in records:
        assert list(record) == ["instruction", "input", "output"]
        assert all(isinstance(value, str) for value in record.values())
        assert record["input"] == ""
        letter, text = record["output"].split(":", 1)
        assert f"\n{letter}: {text}\n" in record["instruction"]
        assert "History:\n[" in record["instruction"] and "Message:\n{" in record["instruction"]


def test_option_order_is_shuffled_per_item_but_stable():
    values = ["no_extraction", "extraction", "dont_know"]
    orders = {tuple(exports.option_order(chat_external_id="c", message_external_id=str(n), option_values=values)) for n in range(30)}
    assert len(orders) > 1
    assert exports.option_order(chat_external_id="c", message_external_id="1", option_values=values) == \
        exports.option_order(chat_external_id="c", message_external_id="1", option_values=values)


def test_exports_are_byte_identical(batch, tmp_path):
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    for path in (first, second):
        with open(path, "wb") as stream:
            exports.write_export(batch=batch, split="train", kind="alpaca", stream=stream)
    assert first.read_bytes() == second.read_bytes()


def test_chat_jsonl_and_dataset_info(batch):
    lines = b"".join(exports.chat_jsonl_chunks(batch=batch, split="eval")).decode().splitlines()
    assert len(lines) == batch.eval_count
    roles = [message["role"] for message in json.loads(lines[0])["messages"]]
    assert roles == ["user", "assistant"]
    info = exports.dataset_info(batch=batch)
    entry = info[f"ladderlab_{batch.short_hash}_train"]
    assert entry["formatting"] == "alpaca"
    assert entry["columns"] == {"prompt": "instruction", "query": "input", "response": "output"}
    assert entry["file_name"].endswith("_train.json")


def test_the_command_writes_the_export(batch, tmp_path):
    from django.core.management import call_command

    out = tmp_path / "train.json"
    call_command("export_alpaca", batch=batch.pk, output=str(out), split="train", verbosity=0)
    assert out.read_bytes() == b"".join(exports.alpaca_chunks(batch=batch, split="train"))


def test_downloads_are_for_leads_and_stream_the_export(batch, lead, annotator):
    url = reverse("annotation:batch_export", args=[batch.project_id, batch.pk, "alpaca-train"])
    client = Client()
    client.force_login(lead)
    response = client.get(url)
    assert response.status_code == 200
    assert response.streaming
    assert batch.short_hash in response["Content-Disposition"]
    assert b"".join(response.streaming_content) == b"".join(exports.alpaca_chunks(batch=batch, split="train"))
    client.force_login(annotator)
    assert client.get(url).status_code == 403
    assert Client().get(url).status_code == 302


def test_a_project_can_keep_its_option_order(project, labelled):  # noqa: F811
    project.shuffle_options = False
    project.save()
    batch = batch_freeze(batch=batch_create(project=project, name="fixed", items=labelled))
    for record in json.loads(b"".join(exports.alpaca_chunks(batch=batch, split="train"))):
        assert "A: no extraction needed\nB: needs extraction from the context\nC: don't know" in record["instruction"]
