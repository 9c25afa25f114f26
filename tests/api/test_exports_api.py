"""The Parquet and axolotl exports through the API: the same files as the batch page."""

import io
import json

import pyarrow.parquet as pq
import pytest
import yaml

from annotation import exports, services
from annotation.batches import batch_create
from annotation.models import Item
from tests.api.conftest import ADMIN, ANNOTATOR, LEAD

PARQUET = "GET /api/v1/projects/{project_id}/batches/{batch_id}/export/parquet"
AXOLOTL = "GET /api/v1/projects/{project_id}/batches/{batch_id}/export/axolotl"


def batch_path(world, batch_id: int, tail: str, *, project_id=None) -> str:
    return f"/api/v1/projects/{project_id or world['project'].pk}/batches/{batch_id}/export{tail}"


@pytest.mark.covers(PARQUET, "GET /api/v1/projects/{project_id}/batches/{batch_id}/export")
def test_each_parquet_split_holds_the_alpaca_records_and_names_the_batch(api, world):
    lead, batch = api.as_user(world["keys"][LEAD]), world["batch"]
    for split in ("train", "eval"):
        response = lead.get(batch_path(world, batch.pk, "/parquet"), data={"split": split})
        assert response.status_code == 200
        assert response["Content-Type"] == "application/vnd.apache.parquet"
        assert exports.file_name(batch=batch, split=split, kind="parquet") in response["Content-Disposition"]
        table = pq.read_table(io.BytesIO(b"".join(response.streaming_content)))
        alpaca = lead.get(batch_path(world, batch.pk, ""), data={"split": split})
        assert table.to_pylist() == json.loads(b"".join(alpaca.streaming_content))
        assert table.schema.metadata[b"ladderlab.content_hash"] == batch.content_hash.encode()
        assert table.schema.metadata[b"ladderlab.split"] == split.encode()
    assert lead.get(batch_path(world, batch.pk, "/parquet"), data={"split": "all"}).status_code == 422


@pytest.mark.covers(AXOLOTL)
def test_the_axolotl_config_names_the_parquet_files_and_the_largest_rung(api, world):
    response = api.as_user(world["keys"][LEAD]).get(batch_path(world, world["batch"].pk, "/axolotl"))
    assert response.status_code == 200 and response["Content-Type"].startswith("application/yaml")
    config = yaml.safe_load(b"".join(response.streaming_content))
    # The world's ladder: "small" at /x (1,000 parameters) and "large" at /y (4,000).
    assert config["base_model"] == "/y"
    assert config["datasets"][0]["path"] == exports.file_name(batch=world["batch"], split="train", kind="parquet")


@pytest.mark.covers(PARQUET, AXOLOTL)
def test_a_draft_is_409_an_annotator_403_and_another_projects_batch_404(api, world):
    draft = batch_create(project=world["project"], name="draft", items=Item.objects.filter(pk=world["items"][0].pk))
    other = services.project_create(name="Other")
    services.membership_set(project=other, user=world["users"][ADMIN], role=ADMIN)
    for tail in ("/parquet", "/axolotl"):
        refused = api.as_user(world["keys"][LEAD]).get(batch_path(world, draft.pk, tail))
        assert refused.status_code == 409 and "freeze it" in refused.json()["detail"]
        annotator = api.as_user(world["keys"][ANNOTATOR]).get(batch_path(world, world["batch"].pk, tail))
        assert annotator.status_code == 403
        elsewhere = api.as_user(world["keys"][ADMIN]).get(
            batch_path(world, world["batch"].pk, tail, project_id=other.pk)
        )
        assert elsewhere.status_code == 404
