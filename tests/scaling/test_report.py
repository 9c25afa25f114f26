"""A run's shareable report: JSON with verdict, fits, per-rung metrics, provenance, and the charts."""

import io
import json
import zipfile

import pytest
from django.test import Client
from django.urls import reverse

from scaling import report
from scaling.services import verdict_compute
from tests.scaling.factories import make_batch, make_labelled_items, make_ladder, make_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(project, annotator):
    labels = make_labelled_items(project, annotator, 120)
    return make_run(make_batch(project, labels, name="week-1"), make_ladder("l", 3), accuracies=[0.6, 0.75, 0.9])


def test_the_zip_holds_the_report_and_each_chart_as_svg_and_png(run, lead, project):
    verdict = verdict_compute(run_id=run.pk)
    verdict.fits["learning_curves"] = {"r0": {"points": [[50, 0.9], [100, 0.7]]}}
    verdict.save()
    client = Client()
    client.force_login(lead)
    response = client.get(reverse("runs:run_report", args=[project.pk, run.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert f"ladderlab-run-{run.pk}-" in response["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    data = json.loads(archive.read("report.json"))
    assert data["verdict"]["kind"] == verdict.kind and data["verdict"]["message"] == verdict.message
    assert data["verdict"]["fits"]["power"]["next_size"] == 2e8
    assert data["verdict"]["provenance"]["batch"] == run.batch.content_hash
    assert [rung["name"] for rung in data["rungs"]] == ["r0", "r1", "r2"]
    charts = {"f1-by-size", "power-law", "category-growth", "learning-curves"}
    assert set(archive.namelist()) == {"report.json"} | {f"charts/{c}.{f}" for c in charts for f in ("svg", "png")}
    assert archive.read("charts/f1-by-size.png").startswith(b"\x89PNG")
    svg = archive.read("charts/f1-by-size.svg").decode()
    assert "<svg" in svg and "F1 by model size" in svg


def test_a_run_without_a_verdict_reports_its_rungs_and_no_charts(run):
    archive = zipfile.ZipFile(io.BytesIO(report.report_zip(run=run)))
    assert archive.namelist() == ["report.json"]
    assert json.loads(archive.read("report.json"))["verdict"] is None
