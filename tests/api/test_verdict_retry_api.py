"""A run's verdict state in the API, and asking again for a verdict that failed."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from scaling import services as scaling_services
from tests.api.conftest import ANNOTATOR, LEAD
from training.models import Run

RETRY = "POST /api/v1/projects/{project_id}/runs/{run_id}/verdict/retry"
STATUS = "GET /api/v1/projects/{project_id}/runs/{run_id}"


def path(world, run, suffix: str = "") -> str:
    return f"/api/v1/projects/{world['project'].pk}/runs/{run.pk}{suffix}"


@pytest.fixture
def queued(monkeypatch):
    run_ids = []
    monkeypatch.setattr(scaling_services.verdict_compute_task, "delay", run_ids.append)
    return run_ids


def finished_with_failures(run, *, failures: int, retry_at=None) -> None:
    Run.objects.filter(pk=run.pk).update(
        status=Run.DONE, finished_at=timezone.now(), verdict_failures=failures,
        verdict_error="KeyError: 'r1'" if failures else "", verdict_retry_at=retry_at,
    )


@pytest.mark.covers(STATUS)
def test_the_run_says_why_its_verdict_is_missing_and_when_it_is_tried_again(api, world):
    lead, run = api.as_user(world["keys"][LEAD]), world["run"]
    fields = ("verdict_state", "verdict_failures", "verdict_error", "verdict_retry_at")
    assert [lead.get(path(world, run)).json()[name] for name in fields] == ["training", 0, "", None]
    finished_with_failures(run, failures=0)
    assert lead.get(path(world, run)).json()["verdict_state"] == "computing"
    retry_at = timezone.now() + scaling_services.VERDICT_RETRY_AFTER
    finished_with_failures(run, failures=1, retry_at=retry_at)
    body = lead.get(path(world, run)).json()
    assert [body[name] for name in fields[:3]] == ["retrying", 1, "KeyError: 'r1'"]
    assert abs(datetime.fromisoformat(body["verdict_retry_at"]) - retry_at) < timedelta(milliseconds=1)
    finished_with_failures(run, failures=scaling_services.VERDICT_ATTEMPTS)
    assert lead.get(path(world, run)).json()["verdict_state"] == "gave_up"


@pytest.mark.covers(RETRY)
def test_a_lead_asks_again_for_a_verdict_that_gave_up(api, world, queued, django_capture_on_commit_callbacks):
    lead, run = api.as_user(world["keys"][LEAD]), world["run"]
    finished_with_failures(run, failures=scaling_services.VERDICT_ATTEMPTS)
    with django_capture_on_commit_callbacks(execute=True):
        response = lead.post(path(world, run, "/verdict/retry"))
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["id"], body["verdict_state"], body["verdict_failures"], body["verdict_error"]) == (
        run.pk, "computing", 0, ""
    )
    assert queued == [run.pk]


@pytest.mark.covers(RETRY)
def test_an_open_run_or_a_stored_verdict_is_409_and_an_annotator_403(api, world, queued):
    from scaling.services import verdict_compute

    lead, run = api.as_user(world["keys"][LEAD]), world["run"]
    refused = lead.post(path(world, run, "/verdict/retry"))
    assert refused.status_code == 409
    assert refused.json()["detail"] == f"run {run.pk} is pending; its verdict is computed once it has finished"
    finished_with_failures(run, failures=1)
    assert api.as_user(world["keys"][ANNOTATOR]).post(path(world, run, "/verdict/retry")).status_code == 403
    verdict_compute(run_id=run.pk)
    stored = lead.post(path(world, run, "/verdict/retry"))
    assert stored.status_code == 409 and "already has its verdict" in stored.json()["detail"]
    assert queued == []
