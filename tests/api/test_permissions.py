"""Every operation of the API schema, for every role: the same minimum role as its page.

A new operation fails here until it is given its minimum role in MINIMUM_ROLE.
Members below the minimum and outsiders get 403 (as on the pages), callers
without a valid token 401, and an unknown project 404. Permitted roles send a
well-formed request on a real object and succeed (2xx, or a refusal listed in
DOCUMENTED_REFUSALS); one project's ids through another project's paths are
404; methods a path does not declare are 405.
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation import assignments, services
from annotation.models import Item
from annotation.preprocessing import items_preprocess
from api.api import api as ninja_api
from scaling.models import Verdict
from tests.annotation.factories import make_chat
from tests.api.conftest import ADMIN, ANNOTATOR, LEAD, OUTSIDER

RANK = {OUTSIDER: 0, ANNOTATOR: 1, LEAD: 2, ADMIN: 3}
# Operations for site staff only, whatever role a caller holds in a project.
STAFF = "staff"

# Operation: minimum role; None for operations outside any project.
MINIMUM_ROLE = {
    "GET /api/v1/projects": None,
    "POST /api/v1/projects": STAFF,
    "PATCH /api/v1/projects/{project_id}": LEAD,
    "GET /api/v1/projects/{project_id}": ANNOTATOR,
    "POST /api/v1/projects/{project_id}/imports": LEAD,
    "GET /api/v1/projects/{project_id}/imports/{job_id}": LEAD,
    "GET /api/v1/projects/{project_id}/items": LEAD,
    "GET /api/v1/projects/{project_id}/items/{item_id}": LEAD,
    "GET /api/v1/projects/{project_id}/items/{item_id}/history": LEAD,
    "POST /api/v1/projects/{project_id}/items/{item_id}/review": LEAD,
    "POST /api/v1/projects/{project_id}/items/{item_id}/control": LEAD,
    "DELETE /api/v1/projects/{project_id}/items/{item_id}/control": LEAD,
    "GET /api/v1/projects/{project_id}/controls": LEAD,
    "POST /api/v1/projects/{project_id}/assignments/next": ANNOTATOR,
    "POST /api/v1/projects/{project_id}/assignments/{assignment_id}/label": ANNOTATOR,
    "POST /api/v1/projects/{project_id}/assignments/{assignment_id}/skip": ANNOTATOR,
    "GET /api/v1/projects/{project_id}/batches": LEAD,
    "POST /api/v1/projects/{project_id}/batches": LEAD,
    "GET /api/v1/projects/{project_id}/batches/{batch_id}": LEAD,
    "POST /api/v1/projects/{project_id}/batches/{batch_id}/freeze": LEAD,
    "GET /api/v1/projects/{project_id}/batches/{batch_id}/export": LEAD,
    "GET /api/v1/projects/{project_id}/batches/{batch_id}/export/parquet": LEAD,
    "GET /api/v1/projects/{project_id}/batches/{batch_id}/export/axolotl": LEAD,
    "POST /api/v1/ladders": ADMIN,
    "GET /api/v1/projects/{project_id}/ladders": LEAD,
    "GET /api/v1/projects/{project_id}/runs": LEAD,
    "POST /api/v1/projects/{project_id}/runs": LEAD,
    "GET /api/v1/projects/{project_id}/runs/{run_id}": LEAD,
    "POST /api/v1/projects/{project_id}/runs/{run_id}/cancel": LEAD,
    "POST /api/v1/projects/{project_id}/runs/{run_id}/retry": LEAD,
    "POST /api/v1/projects/{project_id}/runs/{run_id}/rerun": LEAD,
    "GET /api/v1/projects/{project_id}/runs/{run_id}/verdict": LEAD,
    "POST /api/v1/projects/{project_id}/runs/{run_id}/verdict/retry": LEAD,
    "POST /api/v1/projects/{project_id}/runs/{run_id}/label-check": LEAD,
    "GET /api/v1/projects/{project_id}/runs/{run_id}/suspects": LEAD,
    "GET /api/v1/projects/{project_id}/runs/{run_id}/annotators": LEAD,
    "GET /api/v1/projects/{project_id}/runs/{run_id}/planning": LEAD,
    "GET /api/v1/projects/{project_id}/law-track-record": LEAD,
}


# Answers other than 2xx that a permitted, well-formed request may get, and why.
DOCUMENTED_REFUSALS = {
    # The world's items are labelled, not reviewed: none can be a control.
    "POST /api/v1/projects/{project_id}/items/{item_id}/control": {409},
    # The world's batch is frozen already.
    "POST /api/v1/projects/{project_id}/batches/{batch_id}/freeze": {409},
    # The world's run is pending: its labels are checked once it is done.
    "POST /api/v1/projects/{project_id}/runs/{run_id}/label-check": {409},
    # Only a failed or cancelled run is retried: the world's run is pending.
    "POST /api/v1/projects/{project_id}/runs/{run_id}/retry": {409},
    # The world's run is pending: its verdict is computed once it has finished.
    "POST /api/v1/projects/{project_id}/runs/{run_id}/verdict/retry": {409},
    # The first permitted role's cancel ends the run; the next ones find it ended.
    "POST /api/v1/projects/{project_id}/runs/{run_id}/cancel": {409},
    # The world's run has no learning curves to plan from.
    "GET /api/v1/projects/{project_id}/runs/{run_id}/planning": {404},
}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


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
        # A member's own lease; an outsider is refused before it is looked up.
        "assignment_id": (
            assignments.assignment_claim_next(project=world["project"], annotator=world["users"][role]).pk
            if role in world["users"] and role != OUTSIDER and "{assignment_id}" in template
            else 999999
        ),
        "batch_id": world["batch"].pk,
        "run_id": world["run"].pk,
    }
    path = template.format(**{name: ids[name] for name in ids if "{" + name + "}" in template})
    bodies = {
        "POST /api/v1/projects/{project_id}/imports": {
            "data": {"file": SimpleUploadedFile("m.jsonl", b'{"id": "1"}\n')}
        },
        "POST /api/v1/projects/{project_id}/items/{item_id}/review": {
            "json": {
                "option": "extraction",
                "expected_current_id": Item.objects.get(pk=world["items"][0].pk).current_annotation_id,
            }
        },
        "POST /api/v1/projects/{project_id}/assignments/{assignment_id}/label": {"json": {"option": "extraction"}},
        "POST /api/v1/projects/{project_id}/batches": {"json": {"name": f"by {role}", "selection": "labelled"}},
        "POST /api/v1/projects/{project_id}/runs": {
            "json": {"batch_id": world["batch"].pk, "ladder_id": world["ladder"].pk}
        },
        # The project travels in the body here: an admin of every project named may register.
        "POST /api/v1/ladders": {
            "json": {"name": "registered", "rungs": [str(world["checkpoint"])], "projects": [ids["project_id"]]}
        },
        "POST /api/v1/projects/{project_id}/runs/{run_id}/rerun": {
            "json": {"rung_id": world["ladder"].rungs.first().pk, "hyperparameters": {"lr": 2e-5}}
        },
        "POST /api/v1/projects/{project_id}/runs/{run_id}/label-check": {"json": {"folds": 3}},
        "POST /api/v1/projects": {"json": {"name": f"made by {role}"}},
        "PATCH /api/v1/projects/{project_id}": {"json": {"overlap": 1}},
    }
    return method, path, bodies.get(operation, {})


@pytest.fixture
def open_items(world):
    """Unlabelled items enough for every member to hold a lease of their own."""
    for index in range(3):
        turns = [("fay", 0, "the build is red"), ("gus", 20, f"since when {index}?")]
        make_chat(world["project"], f"open{index}", turns)
    items_preprocess(project=world["project"])
    Verdict.objects.create(run=world["run"], kind=Verdict.FLAT, message="no rung stands out")


def succeeded(operation: str, status: int) -> bool:
    return 200 <= status < 300 or status in DOCUMENTED_REFUSALS.get(operation, set())


@pytest.mark.parametrize("operation", sorted(MINIMUM_ROLE))
def test_roles_below_the_minimum_are_refused_and_unknown_tokens_get_401(
    operation, api, world, open_items, django_capture_on_commit_callbacks
):
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
        if minimum == STAFF or (minimum is not None and RANK[role] < RANK[minimum]):
            assert response.status_code == 403, (operation, role, response.status_code, response.content)
            assert response.json()["detail"]
        else:
            assert succeeded(operation, response.status_code), (operation, role, response.status_code, response.content)


@pytest.mark.parametrize("operation", sorted(op for op, role in MINIMUM_ROLE.items() if role not in {None, STAFF}))
def test_an_unknown_project_is_404_even_for_an_admin_of_another(operation, api, world):
    method, path, body = request_for(operation, world, ADMIN, project_id=999999)
    response = api.as_user(world["keys"][ADMIN]).request(method, path, **body)
    assert response.status_code == 404, (operation, response.status_code)


@pytest.mark.parametrize(
    "operation", sorted(op for op in MINIMUM_ROLE if op.count("{") > 1)
)
def test_one_projects_objects_through_another_projects_paths_are_404(operation, api, world, open_items):
    """An admin of both projects still gets 404: the object is not the path's project's."""
    other = services.project_create(name="Other")
    services.membership_set(project=other, user=world["users"][ADMIN], role=ADMIN)
    method, path, body = request_for(operation, world, ADMIN, project_id=other.pk)
    response = api.as_user(world["keys"][ADMIN]).request(method, path, **body)
    assert response.status_code == 404, (operation, response.status_code, response.content)


@pytest.mark.parametrize("path", sorted(ninja_api.get_openapi_schema()["paths"]))
def test_methods_a_path_does_not_declare_are_405(path, api, world):
    declared = {method.upper() for method in ninja_api.get_openapi_schema()["paths"][path]}
    url = path.format(project_id=world["project"].pk, job_id=world["job"].pk, item_id=world["items"][0].pk,
                      assignment_id=999999, batch_id=world["batch"].pk, run_id=world["run"].pk)
    for method in sorted(set(METHODS) - declared):
        response = api.as_user(world["keys"][ADMIN]).request(method, url)
        assert response.status_code == 405, (method, path, response.status_code)


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
