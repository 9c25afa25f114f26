"""Hostile hyper-parameters answer 422 naming the field, and nothing is queued."""

import json

import pytest

from tests.api.conftest import LEAD
from training.models import Run, RungJob

HOSTILE = [
    ({"target_modules": "(a+)+$"}, "target_modules"),
    ({"processes": 64}, "processes"),
    ({"epochs": 1e6}, "epochs"),
    ({"lr": "fast"}, "lr"),
    ({"epochs": True}, "epochs"),
    ({"r": {"nested": {"deeper": 1}}}, "r"),
    ({"learning_rate": 1e-4}, "learning_rate"),
]


@pytest.mark.covers("POST /api/v1/projects/{project_id}/runs")
@pytest.mark.parametrize("values, field", HOSTILE)
def test_a_hostile_run_start_is_422_naming_the_field(api, world, values, field, django_capture_on_commit_callbacks):
    lead = api.as_user(world["keys"][LEAD])
    runs_before, jobs_before = Run.objects.count(), RungJob.objects.count()
    body = {"batch_id": world["batch"].pk, "ladder_id": world["ladder"].pk, "hyperparameters": values}
    with django_capture_on_commit_callbacks() as queued:
        response = lead.post(f"/api/v1/projects/{world['project'].pk}/runs", json=body)
    assert response.status_code == 422, response.content
    assert list(response.json()["errors"]) == [f"hyperparameters.{field}"]
    assert field in response.json()["detail"]
    assert (Run.objects.count(), RungJob.objects.count(), queued) == (runs_before, jobs_before, [])


@pytest.mark.covers("POST /api/v1/projects/{project_id}/runs")
@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_refused_naming_the_field(api, world, number):
    lead = api.as_user(world["keys"][LEAD])
    body = json.dumps({"batch_id": world["batch"].pk, "ladder_id": world["ladder"].pk, "hyperparameters": {}})
    text = body.replace('"hyperparameters": {}', f'"hyperparameters": {{"lr": {number}}}')
    # Sent as typed: the API's JSON parser refuses NaN, Infinity and 1e999 (422) before any schema is read.
    response = lead.post(f"/api/v1/projects/{world['project'].pk}/runs", data=text, content_type="application/json")
    assert response.status_code == 422, response.content
    assert list(response.json()["errors"]) == ["hyperparameters.lr"]
    assert not Run.objects.exclude(pk=world["run"].pk).exists()


@pytest.mark.covers("POST /api/v1/projects/{project_id}/runs/{run_id}/rerun")
@pytest.mark.parametrize("values, field", HOSTILE)
def test_a_hostile_rerun_is_422_naming_the_field(api, world, values, field, django_capture_on_commit_callbacks):
    lead = api.as_user(world["keys"][LEAD])
    run, rung = world["run"], world["ladder"].rungs.get(name="small")
    runs_before = Run.objects.count()
    with django_capture_on_commit_callbacks() as queued:
        response = lead.post(f"/api/v1/projects/{world['project'].pk}/runs/{run.pk}/rerun",
                             json={"rung_id": rung.pk, "hyperparameters": values})
    assert response.status_code == 422, response.content
    assert list(response.json()["errors"]) == [f"hyperparameters.{field}"]
    assert (Run.objects.count(), queued) == (runs_before, [])


@pytest.mark.covers("POST /api/v1/projects/{project_id}/runs/{run_id}/rerun")
def test_a_rerun_trains_one_rung_again(api, world, django_capture_on_commit_callbacks):
    lead = api.as_user(world["keys"][LEAD])
    run, rung = world["run"], world["ladder"].rungs.get(name="small")
    url = f"/api/v1/projects/{world['project'].pk}/runs/{run.pk}/rerun"
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = lead.post(url, json={"rung_id": rung.pk, "hyperparameters": {"lr": 2e-5}})
    assert response.status_code == 202, response.content
    rerun = Run.objects.get(pk=response.json()["id"])
    assert rerun.rerun_of == run and rerun.rung_overrides == {"small": {"lr": 2e-5}} and queued
    again = lead.post(url, json={"rung_id": rung.pk, "hyperparameters": {"lr": 2e-5}})
    assert again.json()["id"] == rerun.pk
    other_ladder_rung = lead.post(url, json={"rung_id": 999999, "hyperparameters": {"lr": 2e-5}})
    assert other_ladder_rung.status_code == 404
