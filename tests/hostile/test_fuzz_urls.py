"""Every URL pattern of the URL conf, read from the resolver (a new view is covered
as soon as it is routed), with hostile ids and parameters: no answer is a 5xx.

Two passes, as a superuser (every permission check passes) holding an API token:
every id 99999999999999999999 (more than PostgreSQL's bigint holds); and every id
a real row's, so that each of the parameters any view reads, set to 'abc' or to
the 20-digit number in the query string and the form, reaches the view's logic.
"""

import re
from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern

from annotation import assignments
from api.tokens import api_token_create
from tests.api.conftest import tiny_checkpoint, world  # noqa: F401 (the fixtures, read through `root`)

HUGE = "99999999999999999999"
METHODS = ("get", "post", "put", "patch", "delete")
# Every query or form parameter a page or endpoint reads.
PARAMETERS = [
    "label", "annotator", "batch", "guideline", "disagreement", "recheck", "reviewed", "q", "page", "page_size",
    "run", "selection", "split", "batch_id", "ladder_id", "ladder", "rung", "seconds", "expected_current",
    "option", "reason", "hyperparameters", "learning_curve", "name", "confirm", "role", "action", "username",
    "text", "recheck", "corpus", "format", "target_loss", "budget_seconds",
    "merge_window_seconds", "min_chars", "candidate_threshold", "context_window",
]
PLACEHOLDER = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")


def routes(patterns=None, prefix=""):
    """Every route of the URL conf, as text with its <converter:name> placeholders.

    The admin's few regular-expression patterns (its app index and catch-all) are
    left out; every one of its model pages has a route.
    """
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            yield from routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern) and isinstance(pattern.pattern, RoutePattern):
            yield prefix + str(pattern.pattern)


def fill(route: str, ids: dict) -> str:
    def value(match):
        name = match["name"]
        if name in ids:
            return str(ids[name])
        return HUGE if match["converter"] == "int" or name.endswith("_id") else "abc"

    return "/" + PLACEHOLDER.sub(value, route)


def test_the_fuzz_reaches_every_kind_of_route():
    found = set(routes())
    assert {"projects/<int:project_id>/items/", "api/v1/projects/<project_id>/runs/<run_id>"} <= found
    assert any(route.startswith("admin/") for route in found)


@pytest.fixture
def root(request, db):
    """A superuser, their API token, and the API tests' world of real rows."""
    objects = request.getfixturevalue("world")
    user = get_user_model().objects.create_superuser(username="root", password=None)
    return user, api_token_create(user=user)[1], objects


def server_errors(root, ids: dict, values: dict, *, methods=METHODS, admin=True) -> list:
    user, token, _ = root
    client = Client(raise_request_exception=False, headers={"Authorization": f"Bearer {token}"})
    client.force_login(user)
    errors = []
    for route in sorted(set(routes())):
        if route.startswith("admin/") and not admin:
            continue
        url = fill(route, ids)
        for method in methods:
            if method in {"get", "post"}:
                response = getattr(client, method)(url, values)
            else:
                response = getattr(client, method)(f"{url}?{urlencode(values)}")
            if response.status_code >= 500:
                errors.append((method.upper(), url, response.status_code))
            if "logout" in route:
                client.force_login(user)
    return errors


def test_twenty_digit_ids_everywhere_are_never_a_server_error(root):
    assert server_errors(root, {}, dict.fromkeys(PARAMETERS, HUGE), methods=("get", "post")) == []


@pytest.mark.parametrize("value", ["abc", HUGE])
def test_hostile_parameters_on_real_objects_are_never_a_server_error(root, value):
    user, _, rows = root
    lease = assignments.assignment_claim_next(project=rows["project"], annotator=user)
    ids = {
        "project_id": rows["project"].pk,
        "item_id": rows["items"][0].pk,
        "batch_id": rows["batch"].pk,
        "run_id": rows["run"].pk,
        "job_id": rows["job"].pk,
        "assignment_id": lease.pk,
        "fmt": "alpaca-train",
    }
    # The admin's pages read none of these parameters; the first test reaches each of them.
    assert server_errors(root, ids, dict.fromkeys(PARAMETERS, value), admin=False) == []
