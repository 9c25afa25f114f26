"""The dashboard's "Was the law right?" section, before and after a later batch measures a prediction."""

import html as html_lib
import json

import pytest
from django.test import Client
from django.urls import reverse

from scaling.services import law_predictions_record, verdict_compute
from tests.scaling.factories import (
    add_learning_curves, make_batch, make_labelled_items, make_ladder, make_measured_run, make_run,
)
from tests.scaling.selectors.test_planning_selectors import FULL, joint_loss, seconds_per_example
from training.models import Rung

pytestmark = pytest.mark.django_db

HOSTILE_RUNG = '<img src=x onerror="alert(1)">'
HOSTILE_BATCH = "<script>alert(2)</script>"


@pytest.fixture
def predicted(project, annotator):
    labels = make_labelled_items(project, annotator, 40)
    ladder = make_ladder("l", 5)
    ladder.projects.add(project)
    # Rung and batch names are user text: the section must escape them.
    Rung.objects.filter(ladder=ladder, name="r4").update(name=HOSTILE_RUNG)
    run = make_run(make_batch(project, labels, name=HOSTILE_BATCH), ladder, accuracies=[0.6, 0.7, 0.8, 0.85, 0.9])
    verdict = add_learning_curves(verdict_compute(run_id=run.pk), loss=joint_loss,
                                  seconds_per_example=seconds_per_example)
    law_predictions_record(verdict=verdict)
    return {"labels": labels, "ladder": ladder, "run": verdict.run}


@pytest.fixture
def lead_client(lead):
    client = Client()
    client.force_login(lead)
    return client


def dashboard_page(client, project) -> str:
    response = client.get(reverse("scaling:dashboard", args=[project.pk]))
    assert response.status_code == 200
    return response.content.decode()


def charts_of(page: str) -> dict:
    return json.loads(page.split('id="dashboard-data" type="application/json">')[1].split("</script>")[0])


def test_before_a_later_batch_it_says_which_rung_and_train_size_would_test_the_law(lead_client, project, predicted):
    page = dashboard_page(lead_client, project)
    assert 'id="law-track-record"' in page and "Was the law right?" in page
    assert 'id="law-next-measurement"' in page and 'id="law-track-record-rows"' not in page
    escaped_rung, escaped_batch = (html_lib.escape(text, quote=False) for text in (HOSTILE_RUNG, HOSTILE_BATCH))
    normalised = page.replace("&quot;", '"')
    assert f"train <strong>{escaped_rung}</strong> on a later batch with about <strong>{2 * FULL} train examples" in normalised
    assert f"2× those of batch {escaped_batch}" in normalised
    assert HOSTILE_RUNG not in page and HOSTILE_BATCH not in page
    assert charts_of(page)["track_record_chart"] is None


def test_after_a_later_batch_it_sets_the_measured_loss_against_each_prediction(lead_client, project, predicted):
    later = make_measured_run(make_batch(project, predicted["labels"], name="week-2"), predicted["ladder"],
                              loss=lambda rung, size: joint_loss(rung, size) + 0.02, train_count=2 * FULL)
    page = dashboard_page(lead_client, project)
    assert 'id="law-errors"' in page and 'id="law-track-record-rows"' in page
    assert 'data-chart="track_record_chart"' in page and 'id="law-next-measurement"' not in page
    rows = page.split('id="law-track-record-rows"')[1].split("</table>")[0]
    assert rows.count("<tr>") == 1 + 5 * 3
    assert f"run {later.pk}</a> (week-2)" in rows and f"{2 * FULL} (2×) → {2 * FULL}" in rows
    assert HOSTILE_RUNG not in page and HOSTILE_BATCH not in page
    assert html_lib.escape(HOSTILE_RUNG, quote=False) in page.replace("&quot;", '"')
    chart = charts_of(page)["track_record_chart"]
    assert [law["label"] for law in chart["laws"]] == ["Rectified law", "Joint law", "Accept then Stop"]
    assert all(len(law["points"]) == 5 for law in chart["laws"])
    assert chart["low"] <= chart["high"]


def test_a_project_without_learning_curves_is_told_how_to_get_predictions(lead_client, project, annotator):
    labels = make_labelled_items(project, annotator, 20)
    make_run(make_batch(project, labels, name="plain"), make_ladder("p", 2), accuracies=[0.6, 0.7])
    page = dashboard_page(lead_client, project)
    assert "No law has predicted anything yet: start a run with learning curves" in page
