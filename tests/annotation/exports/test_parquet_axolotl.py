"""Parquet for Hugging Face `datasets` and the axolotl config: what another tool loads."""

import io
import json

import pyarrow.parquet as pq
import pytest
import yaml
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from annotation import exports, services
from annotation.batches import batch_create, batch_freeze
from annotation.models import Batch, Item
from tests.annotation.batches.test_batch_freeze import labelled  # noqa: F401  (fixture)
from training.models import Ladder, Rung


@pytest.fixture
def batch(project, labelled):  # noqa: F811
    return batch_freeze(batch=batch_create(project=project, name="b1", items=labelled, eval_share=0.3))


def alpaca_records(batch, split: str) -> list[dict]:
    return json.loads(b"".join(exports.alpaca_chunks(batch=batch, split=split)))


@pytest.fixture
def offline_datasets(tmp_path, monkeypatch):
    """`datasets`, told to stay offline and to cache under tmp_path only."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    import datasets

    # The flags are read when datasets is first imported, maybe by an earlier test.
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    return datasets


def test_the_parquet_splits_load_with_datasets_and_hold_the_alpaca_records_exactly(
    batch, tmp_path, offline_datasets
):
    files = {}
    for split, name in (("train", "train"), ("eval", "test")):
        path = tmp_path / exports.file_name(batch=batch, split=split, kind="parquet")
        path.write_bytes(exports.parquet_bytes(batch=batch, split=split))
        files[name] = str(path)
    loaded = offline_datasets.load_dataset("parquet", data_files=files, cache_dir=str(tmp_path / "cache"))
    assert set(loaded) == {"train", "test"}
    for name, split in (("train", "train"), ("test", "eval")):
        assert loaded[name].column_names == ["instruction", "input", "output"]
        assert loaded[name].to_list() == alpaca_records(batch, split)
    assert len(loaded["train"]) == batch.train_count and len(loaded["test"]) == batch.eval_count


def test_the_parquet_metadata_names_the_batch_by_its_hash(batch):
    metadata = pq.read_schema(io.BytesIO(exports.parquet_bytes(batch=batch, split="eval"))).metadata
    assert metadata[b"ladderlab.content_hash"] == batch.content_hash.encode()
    assert metadata[b"ladderlab.batch_id"] == str(batch.pk).encode()
    assert metadata[b"ladderlab.batch_name"] == b"b1"
    assert metadata[b"ladderlab.project"] == batch.project.name.encode()
    assert metadata[b"ladderlab.split"] == b"eval"


def test_two_parquet_exports_of_a_batch_are_byte_identical_whatever_changes_after_freezing(batch, tmp_path, annotator):
    first = exports.parquet_bytes(batch=batch, split="train")
    # Relabelling an item and renaming the project's options touch live rows, not the frozen records.
    item = Item.objects.filter(batch_items__batch=batch).first()
    services.item_annotate(item=item, annotator=annotator, option="dont_know")
    batch.project.instruction = "Something else entirely."
    batch.project.save()
    out = tmp_path / "train.parquet"
    call_command("export_alpaca", batch=batch.pk, output=str(out), split="train", format="parquet", verbosity=0)
    assert out.read_bytes() == first == exports.parquet_bytes(batch=Batch.objects.get(pk=batch.pk), split="train")


def test_many_records_span_row_groups_and_keep_their_order(batch, monkeypatch):
    monkeypatch.setattr(exports, "PARQUET_ROW_GROUP", 7)
    file = pq.ParquetFile(io.BytesIO(exports.parquet_bytes(batch=batch, split="train")))
    assert file.metadata.num_row_groups == -(-batch.train_count // 7)
    assert file.read().to_pylist() == alpaca_records(batch, "train")


def test_an_empty_eval_split_is_a_valid_empty_file_and_the_config_has_no_test_dataset(project, labelled):  # noqa: F811
    batch = batch_freeze(batch=batch_create(project=project, name="all-train", items=labelled, eval_share=0))
    table = pq.read_table(io.BytesIO(exports.parquet_bytes(batch=batch, split="eval")))
    assert table.num_rows == 0 and table.column_names == ["instruction", "input", "output"]
    config = yaml.safe_load(exports.axolotl_config_text(batch=batch))
    assert "test_datasets" not in config and config["val_set_size"] == 0


def test_the_axolotl_config_points_at_the_parquet_files_with_the_largest_rungs_settings(batch):
    ladder = Ladder.objects.create(name="qwen")
    Rung.objects.create(ladder=ladder, order=0, name="0.5b", checkpoint_path="/models/qwen-0.5b", parameters=5 * 10**8)
    Rung.objects.create(
        ladder=ladder, order=1, name="7b", checkpoint_path="/models/qwen-7b", parameters=7 * 10**9,
        hyperparameters={"lr": 2e-5, "r": 16, "target_modules": ["q_proj", "v_proj"]},
    )
    ladder.projects.add(batch.project)

    text = exports.axolotl_config_text(batch=batch)
    assert batch.content_hash in text.splitlines()[1]
    config = yaml.safe_load(text)
    assert config["base_model"] == "/models/qwen-7b"
    assert (config["adapter"], config["lora_r"], config["learning_rate"]) == ("lora", 16, 2e-5)
    assert config["lora_target_modules"] == ["q_proj", "v_proj"] and "lora_target_linear" not in config
    # Defaults the rung does not override are ladderlab's own.
    assert (config["lora_alpha"], config["lora_dropout"], config["num_epochs"]) == (16, 0.05, 1.0)
    assert config["datasets"] == [
        {"path": exports.file_name(batch=batch, split="train", kind="parquet"), "ds_type": "parquet", "type": "alpaca"}
    ]
    assert config["test_datasets"] == [
        {"path": exports.file_name(batch=batch, split="eval", kind="parquet"), "ds_type": "parquet",
         "type": "alpaca", "split": "train"}
    ]
    assert config["val_set_size"] == 0
    assert batch.short_hash in config["dataset_prepared_path"]


def test_without_a_ladder_the_base_model_is_a_marked_placeholder(batch):
    config = yaml.safe_load(exports.axolotl_config_text(batch=batch))
    assert config["base_model"] == exports.BASE_MODEL_PLACEHOLDER
    assert config["lora_target_linear"] is True and config["learning_rate"] == 2e-4


def test_a_name_with_line_breaks_stays_inside_the_configs_comment(batch):
    batch.name = "b1\nbase_model: evil"
    batch.save()
    config = yaml.safe_load(exports.axolotl_config_text(batch=batch))
    assert config["base_model"] == exports.BASE_MODEL_PLACEHOLDER


@pytest.mark.parametrize(
    ("fmt", "split", "kind"), [("parquet-train", "train", "parquet"), ("parquet-eval", "eval", "parquet"),
                               ("axolotl", "train", "axolotl")],
)
def test_the_batch_page_offers_parquet_and_axolotl_to_leads_only(batch, lead, annotator, fmt, split, kind):
    url = reverse("annotation:batch_export", args=[batch.project_id, batch.pk, fmt])
    client = Client()
    client.force_login(lead)
    page = client.get(reverse("annotation:batch_detail", args=[batch.project_id, batch.pk])).content.decode()
    assert f'href="{url}"' in page
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == exports.CONTENT_TYPES[kind]
    assert exports.file_name(batch=batch, split=split, kind=kind) in response["Content-Disposition"]
    assert b"".join(response.streaming_content) == b"".join(exports.export_chunks(batch=batch, split=split, kind=kind))
    client.force_login(annotator)
    assert client.get(url).status_code == 403


def test_the_batch_page_shows_the_axolotl_config_escaped(batch, lead):
    batch.name = "<script>x</script>"
    batch.save()
    client = Client()
    client.force_login(lead)
    page = client.get(reverse("annotation:batch_detail", args=[batch.project_id, batch.pk])).content.decode()
    assert 'id="axolotl-config"' in page and "type: alpaca" in page
    assert "<script>x</script>" not in page


def test_another_projects_batch_is_404_on_this_projects_export(batch, lead):
    other = services.project_create(name="Other")
    services.membership_set(project=other, user=lead, role="lead")
    client = Client()
    client.force_login(lead)
    for fmt in ("parquet-train", "axolotl"):
        assert client.get(reverse("annotation:batch_export", args=[other.pk, batch.pk, fmt])).status_code == 404
