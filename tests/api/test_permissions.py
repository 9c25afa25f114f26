"""Every operation of the API schema, for every role: the same minimum role as its page.

A new operation fails here until it is given its minimum role in MINIMUM_ROLE.
Members below the minimum and outsiders get 403 (as on the pages), callers
without a valid token 401, and an unknown project 404.
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from api.api import api as ninja_api
from tests.api.conftest import ADMIN, ANNOTATOR, LEAD, OUTSIDER

RANK = {OUTSIDER: 0, ANNOTATOR: 1, LEAD: 2, ADMIN: 3}

# Operation: minimum role; None for operations outside any project.
MINIMUM_ROLE = {
    "GET /api/v1/projects": None,
    "GET /api/v1/projects/{project_id}": ANNOTATOR,
    "POST /api/v1/projects/{project_id}/imports": LEAD,
    "GET /api/v1/projects/{project_id}/imports/{job_id}": LEAD,
    "GET /api/v1/projects/{project_id}/items": LEAD,
    "GET /api/v1/projects/{project_id}/items/{item_id}": LEAD,
    "GET /api/v1/projects/{project_id}/items/{item_id}/history": LEAD,
    "POST /api/v1/projects/{project_id}/items/{item_id}/review": LEAD,
    "POST /api/v1/projects/{project_id}/assignments/next": ANNOTATOR,
    "POST /api/v1/projects/{project_id}/assignments/{assignment_id}/label": ANNOTATOR,
    "POST /api/v1/projects/{project_id}/assignments/{assignment_id}/skip": ANNOTATOR,
    "GET /api/v1/projects/{project_id}/batches": LEAD,
    "POST /api/v1/projects/{project_id}/batches": LEAD,
    "GET /api/v1/projects/{project_id}/batches/{batch_id}": LEAD,
    "POST /api/v1/projects/{project_id}/batches/{batch_id}/freeze": LEAD,
    "GET /api/v1/projects/{project_id}/batches/{batch_id}/export": LEAD,
    "GET /api/v1/projects/{project_id}/ladders": LEAD,
    "GET /api/v1/projects/{project_id}/runs": LEAD,
    "POST /api/v1/projects/{project_id}/runs": LEAD,
    "GET /api/v1/projects/{project_id}/runs/{run_id}": LEAD,
    "POST /api/v1/projects/{project_id}/runs/{run_id}/cancel": LEAD,
    "POST /api/v1/projects/{project_id}/runs/{run_id}/retry": LEAD,
    "POST /api/v1/projects/{project_id}/runs/{run_id}/rerun": LEAD,
    "GET /api/v1/projects/{project_id}/runs/{run_id}/verdict": LEAD,
}


def schema_operations() -> list[str]:
    paths = ninja_api.get_openapi_schema()["paths"]
    return sorted(f"{method.upper()} {path}" for path, methods in paths.items() for method in methods)


def test_every_operation_has_a_minimum_role():
    assert schema_operations() == sorted(MINIMUM_ROLE)


def request_for(operation: str, world, role: str, *, project_id=None) -> tuple[str, str, dict]:
    """Method, URL and a well-formed body, so that a refusal can only be the role's."""
    method, template = operation.split(" ", 1)
    ids = {
        "project_id": project_id or world["project"].pk,
        "job_id": world["job"].pk,
        "item_id": world["items"][0].pk,
        # Nobody's lease: a permitted caller gets 404, a refused one 403 before it is looked up.
        "assignment_id": 999999,
        "batch_id": world["batch"].pk,
        "run_id": world["run"].pk,
    }
    path = template.format(**{name: ids[name] for name in ids if "{" + name + "}" in template})
    bodies = {
        "POST /api/v1/projects/{project_id}/imports": {
            "data": {"file": SimpleUploadedFile("m.jsonl", b'{"id": "1"}\n')}
        },
        "POST /api/v1/projects/{project_id}/items/{item_id}/review": {
            "json": {"option": "extraction", "expected_current_id": None}
        },
        "POST /api/v1/projects/{project_id}/assignments/{assignment_id}/label": {"json": {"option": "extraction"}},
        "POST /api/v1/projects/{project_id}/batches": {"json": {"name": f"by {role}", "selection": "labelled"}},
        "POST /api/v1/projects/{project_id}/runs": {
            "json": {"batch_id": world["batch"].pk, "ladder_id": world["ladder"].pk}
        },
        "POST /api/v1/projects/{project_id}/runs/{run_id}/rerun": {
            "json": {"rung_id": world["ladder"].rungs.first().pk, "hyperparameters": {"lr": 2e-5}}
        },
    }
    return method, path, bodies.get(operation, {})


@pytest.mark.parametrize("operation", sorted(MINIMUM_ROLE))
def test_roles_below_the_minimum_are_refused_and_unknown_tokens_get_401(operation, api, world, django_capture_on_commit_callbacks):
    minimum = MINIMUM_ROLE[operation]
    method, path, body = request_for(operation, world, "anonymous")
    for token in (None, "not-a-token"):
        response = api.as_user(token).request(method, path, **body)
        assert response.status_code == 401, (operation, token, response.status_code)
        assert "Bearer" in response.json()["detail"]
    for role, key in world["keys"].items():
        method, path, body = request_for(operation, world, role)
        with django_capture_on_commit_callbacks():
            response = api.as_user(key).request(method, path, **body)
        if minimum is not None and RANK[role] < RANK[minimum]:
            assert response.status_code == 403, (operation, role, response.status_code, response.content)
            assert response.json()["detail"]
        else:
            assert response.status_code not in {401, 403}, (operation, role, response.status_code, response.content)
            assert response.status_code < 500


@pytest.mark.parametrize("operation", sorted(op for op, role in MINIMUM_ROLE.items() if role is not None))
def test_an_unknown_project_is_404_even_for_an_admin_of_another(operation, api, world):
    method, path, body = request_for(operation, world, ADMIN, project_id=999999)
    response = api.as_user(world["keys"][ADMIN]).request(method, path, **body)
    assert response.status_code == 404, (operation, response.status_code)


def test_a_superuser_sees_every_project_as_an_admin(api, world):
    from api.tokens import api_token_create
    from django.contrib.auth import get_user_model

    root = get_user_model().objects.create_superuser(username="root", password="root-pass-123")
    [project] = api.as_user(api_token_create(user=root)[1]).get("/api/v1/projects").json()
    assert (project["id"], project["role"]) == (world["project"].pk, ADMIN)


def test_an_inactive_users_token_stops_working(api, world):
    user = world["users"][LEAD]
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert api.as_user(world["keys"][LEAD]).get("/api/v1/projects").status_code == 401
