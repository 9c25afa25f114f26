"""Planning through the API: the same answers as the dashboard, with the what-if numbers as query parameters."""

import pytest
from django.contrib.auth import get_user_model

from annotation import services
from annotation.models import Membership
from api.tokens import api_token_create
from scaling.services import verdict_compute
from tests.scaling.factories import add_learning_curves, make_batch, make_labelled_items, make_ladder, make_run
from tests.scaling.selectors.test_planning_selectors import joint_loss, seconds_per_example

pytestmark = pytest.mark.django_db
V1 = "/api/v1"
OPERATION = "GET /api/v1/projects/{project_id}/runs/{run_id}/planning"


def token(project, username: str, role: str) -> str:
    user = get_user_model().objects.create_user(username=username)
    services.membership_set(project=project, user=user, role=role)
    return api_token_create(user=user)[1]


@pytest.fixture
def planned(project, annotator):
    labels = make_labelled_items(project, annotator, 120)
    run = make_run(make_batch(project, labels, name="week-1"), make_ladder("l", 5),
                   accuracies=[0.6, 0.7, 0.8, 0.85, 0.9])
    verdict = add_learning_curves(verdict_compute(run_id=run.pk), loss=joint_loss,
                                  seconds_per_example=seconds_per_example)
    return {"project": project, "run": verdict.run, "lead": token(project, "api-lead", Membership.LEAD),
            "annotator": token(project, "api-annotator", Membership.ANNOTATOR)}


def url(planned, run=None) -> str:
    return f"{V1}/projects/{planned['project'].pk}/runs/{(run or planned['run']).pk}/planning"


@pytest.mark.covers(OPERATION)
def test_a_lead_gets_the_recommendation_the_labels_and_the_options(api, planned):
    response = api.as_user(planned["lead"]).get(url(planned) + "?target_loss=0.34&budget_seconds=100")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["run_id"] == planned["run"].pk and body["full_train_size"] == 1600
    recommended = body["recommendation"]["full"]["recommended"]
    assert recommended["name"] == "r4" and recommended["size"] == "10B"
    assert recommended["predicted"]["low"] <= recommended["predicted"]["value"] <= recommended["predicted"]["high"]
    assert body["recommendation"]["double"]["target_size"] == 3200
    r4 = body["rungs"][-1]
    assert [entry["multiple"] for entry in r4["at"]] == [1, 2, 4, 8]
    assert r4["labels_needed"]["reachable"] and r4["labels_needed"]["extra_labels"] > 0
    options = body["options"]
    assert options["budget_seconds"] == 100 and len(options["rows"]) == 20
    assert options["best"]["within_budget"] and options["best"]["seconds"] <= 100
    assert body["joint"]["n_points"] == 25


@pytest.mark.covers(OPERATION)
@pytest.mark.parametrize("query, field", [
    ("target_loss=abc", "target_loss"), ("target_loss=0", "target_loss"),
    ("target_loss=nan", "target_loss"), ("budget_seconds=lots", "budget_seconds"),
    ("budget_seconds=-3", "budget_seconds"), ("budget_seconds=inf", "budget_seconds"),
])
def test_a_what_if_that_is_not_a_number_is_a_422_naming_the_field(api, planned, query, field):
    response = api.as_user(planned["lead"]).get(f"{url(planned)}?{query}")
    assert response.status_code == 422 and field in response.json()["errors"]


@pytest.mark.covers(OPERATION)
def test_an_annotator_is_refused(api, planned):
    assert api.as_user(planned["annotator"]).get(url(planned)).status_code == 403


@pytest.mark.covers(OPERATION)
def test_a_run_without_learning_curves_or_a_verdict_is_a_404_that_says_why(api, planned, annotator):
    project = planned["project"]
    labels = make_labelled_items(project, annotator, 20)
    run = make_run(make_batch(project, labels, name="plain"), make_ladder("p", 2), accuracies=[0.6, 0.7])
    lead = api.as_user(planned["lead"])
    pending = lead.get(url(planned, run))
    assert pending.status_code == 404 and "no verdict yet" in pending.json()["detail"]
    verdict_compute(run_id=run.pk)
    plain = lead.get(url(planned, run))
    assert plain.status_code == 404 and "no learning curves" in plain.json()["detail"]
