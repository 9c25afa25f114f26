"""Controls through the API: a lead marks and unmarks them and reads each annotator's accuracy;
the lease of a control looks like any other."""

import pytest

from annotation import assignments, review
from annotation.models import Item, Project
from tests.api.conftest import ADMIN, ANNOTATOR, LEAD

V1 = "/api/v1"


def p(world, tail: str) -> str:
    return f"{V1}/projects/{world['project'].pk}{tail}"


def reviewed(world) -> Item:
    item = Item.objects.get(pk=world["items"][0].pk)
    review.item_review(
        item=item, lead=world["users"][LEAD], option="extraction", expected_current_id=item.current_annotation_id
    )
    return item


@pytest.mark.covers(
    "POST /api/v1/projects/{project_id}/items/{item_id}/control",
    "DELETE /api/v1/projects/{project_id}/items/{item_id}/control",
)
def test_a_lead_marks_a_reviewed_item_as_a_control_and_unmarks_it(api, world):
    lead = api.as_user(world["keys"][LEAD])
    item = reviewed(world)
    marked = lead.post(p(world, f"/items/{item.pk}/control"))
    assert marked.status_code == 200 and marked.json()["control"] is True
    assert lead.get(p(world, f"/items/{item.pk}")).json()["control"] is True
    unmarked = lead.request("delete", p(world, f"/items/{item.pk}/control"))
    assert unmarked.status_code == 200 and unmarked.json()["control"] is False
    assert not Item.objects.get(pk=item.pk).control


@pytest.mark.covers("POST /api/v1/projects/{project_id}/items/{item_id}/control")
def test_an_unreviewed_item_is_refused_409_and_a_non_lead_403(api, world):
    item = world["items"][1]
    refused = api.as_user(world["keys"][LEAD]).post(p(world, f"/items/{item.pk}/control"))
    assert refused.status_code == 409 and "not reviewed" in refused.json()["detail"]
    reviewed(world)
    forbidden = api.as_user(world["keys"][ANNOTATOR]).post(p(world, f"/items/{world['items'][0].pk}/control"))
    assert forbidden.status_code == 403
    assert not Item.objects.filter(project=world["project"], control=True).exists()


@pytest.mark.covers(
    "GET /api/v1/projects/{project_id}/controls",
    "POST /api/v1/projects/{project_id}/assignments/next",
    "POST /api/v1/projects/{project_id}/assignments/{assignment_id}/label",
)
def test_a_control_is_leased_like_any_item_and_its_answer_is_scored(api, world, monkeypatch):
    item = reviewed(world)
    review.item_control_set(item=item, control=True)
    Project.objects.filter(pk=world["project"].pk).update(control_rate=0.5)
    monkeypatch.setattr(assignments, "control_turn", lambda **kwargs: True)
    annotator = api.as_user(world["keys"][ANNOTATOR])
    lease = annotator.post(p(world, "/assignments/next")).json()
    assert lease["item"]["id"] == item.pk
    assert lease["current_annotation_id"] is None
    assert set(lease["item"]) == {"id", "text", "sender", "sent_at", "context"}
    answered = annotator.post(
        p(world, f"/assignments/{lease['id']}/label"), json={"option": "no_extraction", "expected_current_id": None}
    )
    assert answered.status_code == 201 and answered.json()["kind"] == "control"

    lead = api.as_user(world["keys"][LEAD])
    assert lead.get(p(world, "/controls")).json() == [
        {"annotator": "api-annotator", "answered": 1, "correct": 0, "accuracy": 0.0}
    ]
    assert api.as_user(world["keys"][ANNOTATOR]).get(p(world, "/controls")).status_code == 403
    assert api.as_user(world["keys"][ADMIN]).get(p(world, "/controls")).status_code == 200
