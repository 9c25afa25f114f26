"""The run page's "Compute the verdict again": a lead's CSRF-protected POST for a verdict that failed."""

import pytest
from django.test import Client
from django.urls import reverse

from scaling import services as scaling_services
from scaling.models import Verdict
from scaling.services import verdict_compute
from tests.scaling.factories import make_batch, make_labelled_items, make_ladder, make_run
from training.models import Run

pytestmark = pytest.mark.django_db

BUTTON = b"Compute the verdict again"


@pytest.fixture
def given_up(project, annotator):
    labels = make_labelled_items(project, annotator, 60)
    run = make_run(make_batch(project, labels, name="week-1"), make_ladder("l", 2), accuracies=[0.6, 0.9])
    Run.objects.filter(pk=run.pk).update(
        verdict_failures=scaling_services.VERDICT_ATTEMPTS, verdict_error="KeyError: 'r1'", verdict_retry_at=None
    )
    return run


@pytest.fixture
def queued(monkeypatch):
    run_ids = []
    monkeypatch.setattr(scaling_services.verdict_compute_task, "delay", run_ids.append)
    return run_ids


def logged_in(user, *, csrf=False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def retry_url(run) -> str:
    return reverse("runs:run_verdict_retry", args=[run.batch.project_id, run.pk])


def page_url(run) -> str:
    return reverse("runs:run_detail", args=[run.batch.project_id, run.pk])


def test_a_lead_computes_it_again_from_the_run_page(given_up, lead, queued, django_capture_on_commit_callbacks):
    client = logged_in(lead, csrf=True)
    page = client.get(page_url(given_up))
    assert BUTTON in page.content and b"not tried again automatically" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(retry_url(given_up), {"csrfmiddlewaretoken": page.cookies["csrftoken"].value})
    assert response.status_code == 302 and response.url == page_url(given_up)
    given_up.refresh_from_db()
    assert (given_up.verdict_failures, given_up.verdict_error, queued) == (0, "", [given_up.pk])
    after = client.get(page_url(given_up)).content
    assert BUTTON not in after and b"its verdict is being computed" in after


def test_without_a_csrf_token_nothing_happens(given_up, lead, queued):
    response = logged_in(lead, csrf=True).post(retry_url(given_up))
    assert response.status_code == 403
    given_up.refresh_from_db()
    assert (given_up.verdict_failures, queued) == (scaling_services.VERDICT_ATTEMPTS, [])


def test_an_annotator_is_refused_and_a_get_is_405(given_up, annotator, lead, queued):
    assert logged_in(annotator).post(retry_url(given_up)).status_code == 403
    assert logged_in(lead).get(retry_url(given_up)).status_code == 405
    given_up.refresh_from_db()
    assert (given_up.verdict_failures, queued) == (scaling_services.VERDICT_ATTEMPTS, [])


def test_a_run_with_its_verdict_is_refused_409_saying_why(given_up, lead, queued):
    verdict_compute(run_id=given_up.pk)
    assert BUTTON not in logged_in(lead).get(page_url(given_up)).content
    response = logged_in(lead).post(retry_url(given_up))
    assert response.status_code == 409 and b"already has its verdict" in response.content
    assert Verdict.objects.filter(run=given_up).count() == 1 and queued == []
