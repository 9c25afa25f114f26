"""The planning answers on the dashboard and the batch page, and the what-if form's bad input."""

import html as html_lib
import json

import pytest
from django.test import Client
from django.urls import reverse

from scaling.services import verdict_compute
from tests.scaling.factories import add_learning_curves, make_batch, make_labelled_items, make_ladder, make_run
from tests.scaling.selectors.test_planning_selectors import joint_loss, seconds_per_example
from training.models import Rung

pytestmark = pytest.mark.django_db

HOSTILE_RUNG = '<img src=x onerror="alert(1)">'


@pytest.fixture
def verdict(project, annotator):
    labels = make_labelled_items(project, annotator, 120)
    ladder = make_ladder("l", 5)
    ladder.projects.add(project)
    # A rung name is user text: it must come out escaped wherever planning names it.
    Rung.objects.filter(ladder=ladder, name="r4").update(name=HOSTILE_RUNG)
    run = make_run(make_batch(project, labels, name="week-1"), ladder, accuracies=[0.6, 0.7, 0.8, 0.85, 0.9])
    return add_learning_curves(verdict_compute(run_id=run.pk), loss=joint_loss,
                               seconds_per_example=seconds_per_example)


@pytest.fixture
def lead_client(lead):
    client = Client()
    client.force_login(lead)
    return client


def dashboard(client, project, **query):
    return client.get(reverse("scaling:dashboard", args=[project.pk]), query)


def test_the_dashboard_answers_the_three_questions(lead_client, project, verdict):
    response = dashboard(lead_client, project, target_loss="0.34")
    assert response.status_code == 200
    page = response.content.decode()
    for section in ('id="planning"', 'id="planning-ranking"', 'id="planning-labels"', 'id="planning-options"',
                    'id="planning-best-option"', 'data-chart="options_chart"'):
        assert section in page
    escaped = html_lib.escape(HOSTILE_RUNG, quote=False)
    assert f"Train <strong>{escaped}</strong> (10B)" in page.replace("&quot;", '"')
    assert HOSTILE_RUNG not in page
    assert "Train examples for loss 0.340" in page
    assert page.count("<th>Backtested bend</th>") == 2 and "with the bend backtested on the rungs' own curves it" in page
    charts = json.loads(page.split('id="dashboard-data" type="application/json">')[1].split("</script>")[0])
    assert len(charts["options_chart"]["rows"]) == 20
    assert all(rung["fitted"] for rung in charts["curves"]["rungs"])


def test_a_target_below_the_floor_says_not_reachable(lead_client, project, verdict):
    page = dashboard(lead_client, project, target_loss="0.01").content.decode()
    assert "not reachable: the fitted floor" in page


@pytest.mark.parametrize("field, typed", [
    ("target_loss", "abc"), ("target_loss", "-1"), ("target_loss", "nan"),
    ("budget_seconds", "lots"), ("budget_seconds", "0"), ("budget_seconds", "1e999"),
])
def test_a_what_if_that_is_not_a_number_is_named_inline_and_the_page_still_plans(
    lead_client, project, verdict, field, typed
):
    response = dashboard(lead_client, project, **{field: typed})
    assert response.status_code == 422
    page = response.content.decode()
    assert f'id="{field}-error"' in page and f"{field} must be a number from" in page
    assert 'id="planning-options"' in page


def test_typed_input_is_echoed_escaped(lead_client, project, verdict):
    typed = '"><script>alert(1)</script>'
    page = dashboard(lead_client, project, target_loss=typed).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_budget_changes_the_options(lead_client, project, verdict):
    page = dashboard(lead_client, project, budget_seconds="10").content.decode()
    assert "Within 10 s the joint law expects" in page


def test_the_batch_page_names_the_rung_to_train(lead_client, project, verdict):
    page = lead_client.get(reverse("annotation:batch_detail", args=[project.pk, verdict.run.batch_id])).content.decode()
    assert 'id="rung-recommendation"' in page and "Which model for the full batch?" in page
    assert HOSTILE_RUNG not in page and "On twice the labels (3200 train examples)" in page


def test_without_learning_curves_there_is_no_planning_section(lead_client, project, annotator):
    labels = make_labelled_items(project, annotator, 40)
    run = make_run(make_batch(project, labels, name="b"), make_ladder("l", 2), accuracies=[0.6, 0.7])
    verdict_compute(run_id=run.pk)
    assert 'id="planning"' not in dashboard(lead_client, project).content.decode()
    page = lead_client.get(reverse("annotation:batch_detail", args=[project.pk, run.batch_id])).content.decode()
    assert 'id="rung-recommendation"' not in page
