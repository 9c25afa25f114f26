"""The laws' track record through the API: the same rows and running errors as the dashboard."""

import pytest
from django.contrib.auth import get_user_model

from annotation import services
from annotation.models import Membership, Project
from api.tokens import api_token_create
from tests.scaling.factories import make_batch, make_labelled_items, make_ladder, make_measured_run, make_run
from tests.scaling.selectors.test_law_track_record import predictions_made
from tests.scaling.selectors.test_planning_selectors import FULL, joint_loss

pytestmark = pytest.mark.django_db
V1 = "/api/v1"
OPERATION = "GET /api/v1/projects/{project_id}/law-track-record"


def token(project, username: str, role: str) -> str:
    user = get_user_model().objects.create_user(username=username)
    services.membership_set(project=project, user=user, role=role)
    return api_token_create(user=user)[1]


@pytest.fixture
def tracked(project, annotator):
    return {**predictions_made(project, annotator),
            "lead": token(project, "api-lead", Membership.LEAD),
            "annotator": token(project, "api-annotator", Membership.ANNOTATOR)}


def url(tracked, query: str = "") -> str:
    return f"{V1}/projects/{tracked['project'].pk}/law-track-record{query}"


@pytest.mark.covers(OPERATION)
def test_before_a_later_batch_a_lead_gets_the_point_that_would_test_the_law(api, tracked):
    response = api.as_user(tracked["lead"]).get(url(tracked))
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["tolerance"], body["predictions"], body["rows"], body["laws"]) == (0.15, 60, [], [])
    assert body["next_measurement"]["rung"] == "r4" and body["next_measurement"]["train_size"] == 2 * FULL


@pytest.mark.covers(OPERATION)
def test_after_a_later_batch_the_rows_and_each_law_s_running_error(api, tracked):
    later = make_measured_run(make_batch(tracked["project"], tracked["labels"], name="week-2"), tracked["ladder"],
                              loss=lambda rung, size: joint_loss(rung, size) + 0.02, train_count=2 * FULL)
    lead = api.as_user(tracked["lead"])
    body = lead.get(url(tracked)).json()
    assert len(body["rows"]) == 15 and body["next_measurement"] is None
    row = next(row for row in body["rows"] if row["rung"] == "r2" and row["law"] == "rectified")
    assert (row["predicting_run_id"], row["measuring_run_id"], row["measuring_batch"]) == (
        tracked["run"].pk, later.pk, "week-2"
    )
    assert row["error"] == pytest.approx(row["measured_loss"] - row["predicted_loss"])
    assert [law["law"] for law in body["laws"]] == ["rectified", "joint", "accept_then_stop"]
    assert all(law["count"] == 5 for law in body["laws"])
    scoped = lead.get(url(tracked, f"?run_id={later.pk}")).json()
    assert len(scoped["rows"]) == 15 and scoped["predictions"] == 0


@pytest.mark.covers(OPERATION)
def test_an_annotator_is_refused_and_a_run_of_another_project_is_not_found(api, tracked):
    assert api.as_user(tracked["annotator"]).get(url(tracked)).status_code == 403
    elsewhere = Project.objects.create(name="Elsewhere")
    labels = make_labelled_items(elsewhere, get_user_model().objects.create_user(username="a2"), 4)
    foreign = make_run(make_batch(elsewhere, labels, name="x"), make_ladder("x", 2), accuracies=[0.6, 0.7])
    lead = api.as_user(tracked["lead"])
    assert lead.get(url(tracked, f"?run_id={foreign.pk}")).status_code == 404
    bad = lead.get(url(tracked, "?run_id=abc"))
    assert bad.status_code == 422 and "run_id" in bad.json()["errors"]
