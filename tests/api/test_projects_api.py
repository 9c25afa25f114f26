"""Projects and their tasks from the API: the same service and rules as the browser's pages."""

import pytest
from django.contrib.auth import get_user_model

from annotation import services
from annotation.models import Item, Membership, Project
from api.tokens import api_token_create
from tests.api.conftest import ADMIN, ANNOTATOR, LEAD

pytestmark = pytest.mark.django_db

V1 = "/api/v1"
THREE = [
    {"value": "question", "text": "a question", "key": "q"},
    {"value": "work", "text": "a work update", "key": "w"},
    {"value": "small-talk", "text": "small talk", "key": "t"},
]


def staff_key() -> tuple:
    user = get_user_model().objects.create_user(username="api-staff", is_staff=True)
    return user, api_token_create(user=user)[1]


@pytest.mark.covers("POST /api/v1/projects")
def test_staff_make_a_three_option_project_scored_by_macro_f1(api, world):
    user, key = staff_key()
    response = api.as_user(key).post(f"{V1}/projects", json={
        "name": "Kinds", "template": "blank", "instruction": "Which kind of message?", "options": THREE,
        "candidate_threshold": 0,
    })
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["metric"] == "macro-F1" and body["role"] == "admin" and body["positive_option"] == ""
    project = Project.objects.get(pk=body["id"])
    assert project.options == THREE and project.candidate_threshold == 0.0
    assert project.memberships.get(user=user).role == Membership.ADMIN


@pytest.mark.covers("POST /api/v1/projects")
def test_a_broken_task_names_its_fields_and_only_staff_make_projects(api, world):
    _, key = staff_key()
    response = api.as_user(key).post(f"{V1}/projects", json={
        "name": "Broken", "template": "blank", "instruction": "x",
        "options": [THREE[0], {"value": "skip-it", "text": "skip", "key": "s"}], "positive_option": "nope",
    })
    assert response.status_code == 422
    assert {"options", "positive_option"} <= set(response.json()["errors"])
    assert api.as_user(world["keys"][ADMIN]).post(f"{V1}/projects", json={"name": "Mine"}).status_code == 403
    assert not Project.objects.filter(name__in=["Broken", "Mine"]).exists()


@pytest.mark.covers("PATCH /api/v1/projects/{project_id}")
def test_a_lead_changes_the_task_after_a_freeze_and_gets_a_new_task_version(api, world):
    project = world["project"]
    path = f"{V1}/projects/{project.pk}"
    options = [o for o in project.options if o["value"] != "extraction"] + [
        {"value": "needs-context", "text": "needs the context", "key": "k"}
    ]
    response = api.as_user(world["keys"][LEAD]).request(
        "patch", path, json={"options": options, "positive_option": "needs-context"}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["new_task_version"] == 2 and body["project"]["task_version"] == 2
    assert body["flagged_for_recheck"] == Item.objects.filter(project=project, needs_recheck=True).count() == 2
    refused = api.as_user(world["keys"][ANNOTATOR]).request("patch", path, json={"overlap": 2})
    assert refused.status_code == 403
    hostile = api.as_user(world["keys"][LEAD]).request("patch", path, json={"overlap": 10**20})
    assert hostile.status_code == 422 and "overlap" in hostile.json()["errors"]
    assert Project.objects.get(pk=project.pk).overlap == 1
    # Preprocessing settings are bounded by the same service as the preprocess page's.
    negative = api.as_user(world["keys"][LEAD]).request("patch", path, json={"context_window": -1})
    assert negative.status_code == 422 and "context_window" in negative.json()["errors"]


@pytest.mark.covers("PATCH /api/v1/projects/{project_id}")
def test_a_lead_orders_the_queue_by_the_ladder_and_shows_its_suggestions(api, world):
    project = world["project"]
    response = api.as_user(world["keys"][LEAD]).request(
        "patch", f"{V1}/projects/{project.pk}", json={"informative_first": True, "suggest_labels": True}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert sorted(body["changed"]) == ["informative_first", "suggest_labels"] and body["new_task_version"] is None
    assert body["project"]["informative_first"] and body["project"]["suggest_labels"]


@pytest.mark.covers("PATCH /api/v1/projects/{project_id}")
def test_a_lead_sets_how_every_label_is_checked_and_bad_values_change_nothing(api, world):
    project, lead = world["project"], api.as_user(world["keys"][LEAD])
    url = f"{V1}/projects/{project.pk}"
    changes = {"label_check": "every-freeze", "label_check_folds": 2, "label_check_epochs_factor": 1.5}
    response = lead.request("patch", url, json=changes)
    assert response.status_code == 200, response.content
    assert {key: response.json()["project"][key] for key in changes} == changes
    for bad in ({"label_check": "sometimes"}, {"label_check_folds": 11}, {"label_check_epochs_factor": 0}):
        assert lead.request("patch", url, json=bad).status_code == 422, bad
    project.refresh_from_db()
    assert (project.label_check, project.label_check_folds, project.label_check_epochs_factor) == ("every-freeze", 2, 1.5)


@pytest.mark.covers("POST /api/v1/projects/{project_id}/assignments/next")
def test_an_annotator_is_sent_the_ladders_suggestion_only_where_the_project_shows_it(api, world):
    project = world["project"]
    services.item_suggestions_replace(project=project, run_id=3, suggestions={
        item.pk: services.Suggestion(option="extraction", probability=0.8, margin=0.6) for item in world["items"]
    })
    annotator = api.as_user(world["keys"][ANNOTATOR])
    assert annotator.post(f"{V1}/projects/{project.pk}/assignments/next").json()["suggestion"] is None
    services.project_settings_update(project=project, suggest_labels=True)
    lease = annotator.post(f"{V1}/projects/{project.pk}/assignments/next").json()
    assert lease["suggestion"] == {"option": "extraction", "probability": 0.8, "run_id": 3}
