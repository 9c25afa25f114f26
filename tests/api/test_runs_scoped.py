"""Two projects with the same export: the API of one never answers with the other's run."""

import pytest

from annotation import services
from annotation.models import Membership
from api.tokens import api_token_create
from tests.api.conftest import ApiClient
from tests.training.services.test_run_scope import two_projects_with_one_export
from training.models import Run

pytestmark = pytest.mark.django_db


@pytest.mark.covers("POST /api/v1/projects/{project_id}/runs", "GET /api/v1/projects/{project_id}/runs",
                    "GET /api/v1/projects/{project_id}/runs/{run_id}")
def test_each_project_s_api_answers_with_its_own_run(api, tmp_path):
    world = two_projects_with_one_export(tmp_path)
    north, south = world["projects"]["north"], world["projects"]["south"]
    lead = services.user_get_or_create(username="north-lead", password="north-lead-pass")
    services.membership_set(project=north, user=lead, role=Membership.LEAD)
    client: ApiClient = api.as_user(api_token_create(user=lead)[1])
    south_run = Run.objects.get(batch__project=south)
    body = {"batch_id": world["batches"]["north"].pk, "ladder_id": world["ladder"].pk, "hyperparameters": {}}
    started = client.post(f"/api/v1/projects/{north.pk}/runs", json=body)
    assert started.status_code == 202, started.content
    assert started.json()["id"] != south_run.pk
    assert Run.objects.get(pk=started.json()["id"]).batch == world["batches"]["north"]
    listed = client.get(f"/api/v1/projects/{north.pk}/runs").json()
    assert [run["id"] for run in listed] == [started.json()["id"]]
    assert client.get(f"/api/v1/projects/{north.pk}/runs/{south_run.pk}").status_code == 404
