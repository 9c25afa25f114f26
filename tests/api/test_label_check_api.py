"""Checking every label through the API: start the check, read the suspects a page at a time, and
each annotator's share of them."""

import pytest
from django.contrib.auth import get_user_model

from annotation import services
from annotation.models import BatchItem, Item, Membership
from api.tokens import api_token_create
from scaling.services import verdict_compute
from tests.scaling.factories import finished_flat_run, frozen_noisy_batch, job_finish, make_ladder
from training.examples import held_out_examples
from training.models import Prediction, Run

pytestmark = pytest.mark.django_db
V1 = "/api/v1"


@pytest.fixture
def checked(project, tmp_path):
    """A flat run, the lead's token, and the batch's planted items."""
    batch = frozen_noisy_batch(project, tmp_path / "corpus.jsonl")
    lead = get_user_model().objects.create_user(username="api-lead")
    services.membership_set(project=project, user=lead, role=Membership.LEAD)
    gold = dict(Item.objects.filter(project=project).values_list("pk", "gold"))
    run = finished_flat_run(batch, make_ladder("l", 3), gold)
    verdict_compute(run_id=run.pk)
    return {"run": run, "batch": batch, "gold": gold, "key": api_token_create(user=lead)[1], "project": project}


def url(checked, tail: str) -> str:
    return f"{V1}/projects/{checked['project'].pk}/runs/{checked['run'].pk}{tail}"


@pytest.mark.covers(
    "POST /api/v1/projects/{project_id}/runs/{run_id}/label-check",
    "GET /api/v1/projects/{project_id}/runs/{run_id}/suspects",
    "GET /api/v1/projects/{project_id}/runs/{run_id}/annotators",
)
def test_a_lead_checks_every_label_then_pages_through_the_whole_batch_suspects(api, checked):
    lead = api.as_user(checked["key"])
    assert lead.get(url(checked, "/suspects")).json()["scope"] == "eval"
    assert lead.get(url(checked, "/annotators")).json() == []
    started = lead.post(url(checked, "/label-check"), json={"folds": 2, "epochs_factor": 1.5})
    assert started.status_code == 202, started.content
    body = started.json()
    assert body["label_check"] == {"folds": 2, "rungs": ["r1", "r2"], "epochs_factor": 1.5}
    folds = [job for job in body["rungs"] if job["fold"] is not None]
    assert len(folds) == 4 and all(job["status"] == "pending" for job in folds)
    assert all(job["reused_from"] for job in body["rungs"] if job["fold"] is None)
    # Same request, same run.
    assert lead.post(url(checked, "/label-check"), json={"folds": 2, "epochs_factor": 1.5}).json()["id"] == body["id"]

    checking = Run.objects.get(pk=body["id"])
    batch, gold = checked["batch"], checked["gold"]
    for job in checking.rung_jobs.folds():
        held_out, _, _ = held_out_examples(batch=batch, fold=job.fold, folds=2)
        job_finish(job, [int(example.key) for example in held_out], gold)
    verdict_compute(run_id=checking.pk)
    checked_url = f"{V1}/projects/{checked['project'].pk}/runs/{checking.pk}"
    first = lead.get(f"{checked_url}/suspects", data={"page_size": 5}).json()
    train_planted = batch.planted & set(
        BatchItem.objects.filter(batch=batch, split=BatchItem.TRAIN).values_list("item_id", flat=True)
    )
    assert first["scope"] == "batch" and first["pages"] == -(-first["count"] // 5) and len(first["suspects"]) == 5
    everything = lead.get(f"{checked_url}/suspects", data={"page_size": 500}).json()["suspects"]
    assert [row["item_id"] for row in everything[:5]] == [row["item_id"] for row in first["suspects"]]
    # The folds' judges answer the gold: every wrong train label, and no right one, is a suspect.
    assert {row["item_id"] for row in everything if row["split"] == "train"} == train_planted
    suspect = first["suspects"][0]
    assert suspect["split"] == "train" and suspect["answer"] != suspect["label"] == suspect["current_label"]
    assert set(suspect["probabilities"]) == {"r1", "r2"} and suspect["annotator"] == "sim-annotator-1"
    past_the_end = lead.get(f"{checked_url}/suspects", data={"page": 99}).json()
    assert past_the_end["suspects"] == []
    [annotator] = lead.get(f"{checked_url}/annotators").json()
    assert annotator["annotator"] == "sim-annotator-1" and annotator["suspects"] == len(everything)
    assert annotator["labels"] == batch.batch_items.count()


@pytest.mark.covers("POST /api/v1/projects/{project_id}/runs/{run_id}/label-check")
def test_bad_settings_are_422_naming_each_field_and_start_nothing(api, checked):
    lead = api.as_user(checked["key"])
    refused = lead.post(url(checked, "/label-check"), json={"folds": 1, "rungs": ["r7"], "epochs_factor": 50})
    assert refused.status_code == 422
    assert set(refused.json()["errors"]) == {"folds", "rungs", "epochs_factor"}
    assert Run.objects.count() == 1


@pytest.mark.covers(
    "GET /api/v1/projects/{project_id}/runs/{run_id}/suspects",
    "GET /api/v1/projects/{project_id}/runs/{run_id}/annotators",
)
def test_a_run_without_a_verdict_has_no_suspects_yet(api, checked, project):
    lead = api.as_user(checked["key"])
    run = checked["run"]
    run.verdict.delete()
    assert lead.get(url(checked, "/suspects")).status_code == 404
    assert lead.get(url(checked, "/annotators")).status_code == 404
    assert Prediction.objects.filter(rung_job__run=run).exists()
