"""A project with people of every role, each holding an API token, and a client that
records which schema operations a test really called.

A test marked `@pytest.mark.covers("POST /api/v1/…/{batch_id}/freeze")` fails
unless it sent a request to that operation; `test_contract` checks that every
operation of the OpenAPI schema is covered by some test.
"""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import resolve

from annotation import services
from annotation.batches import batch_create, batch_freeze
from annotation.models import ImportJob, Item, Membership
from annotation.preprocessing import items_preprocess
from api.tokens import api_token_create
from tests.annotation.factories import make_chat
from tests.training.tiny_checkpoints import write_tiny_checkpoint
from training.models import Ladder, Rung
from training.services import run_request

ANNOTATOR, LEAD, ADMIN = Membership.ANNOTATOR, Membership.LEAD, Membership.ADMIN
OUTSIDER = "outsider"


def pytest_configure(config):
    config.addinivalue_line("markers", 'covers(*operations): API operations ("METHOD /path") the test calls')


def operation_of(method: str, path: str) -> str:
    """'GET /api/v1/projects/3' → 'GET /api/v1/projects/{project_id}', as the schema names it."""
    route = resolve(path.split("?", 1)[0]).route
    return f"{method.upper()} /" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


class ApiClient:
    """Django's test client speaking JSON with a bearer token; it notes each operation called."""

    def __init__(self, token: str | None = None):
        self.client = Client()
        self.token = token
        self.called: set[str] = set()

    def as_user(self, token: str | None) -> "ApiClient":
        other = ApiClient(token)
        other.called = self.called
        return other

    def request(self, method: str, path: str, *, json=None, data=None, headers=None, **extra):
        headers = dict(headers or {})
        if self.token is not None:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        self.called.add(operation_of(method, path))
        call = getattr(self.client, method.lower())
        if json is not None:
            return call(path, data=json, content_type="application/json", headers=headers, **extra)
        if data is not None:
            return call(path, data=data, headers=headers, **extra)
        return call(path, headers=headers, **extra)

    def get(self, path: str, **kwargs):
        return self.request("get", path, **kwargs)

    def post(self, path: str, **kwargs):
        return self.request("post", path, **kwargs)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A checkpoint directory a ladder may be registered from."""
    directory = tmp_path_factory.mktemp("checkpoint") / "tiny-rung"
    write_tiny_checkpoint(directory)
    return directory


@pytest.fixture
def world(project, tiny_checkpoint, settings):
    """Members of every role and an outsider, with tokens; labelled items, a frozen batch,
    a ladder attached to the project, a run of it, an import job, and a checkpoint directory
    under the checkpoint roots."""
    settings.CHECKPOINT_ROOTS = [tiny_checkpoint.parent]
    users, keys = {}, {}
    for role in (ANNOTATOR, LEAD, ADMIN, OUTSIDER):
        # No password: the API knows only tokens, and hashing one costs a second a user.
        users[role] = get_user_model().objects.create_user(username=f"api-{role}")
        if role != OUTSIDER:
            services.membership_set(project=project, user=users[role], role=role)
        keys[role] = api_token_create(user=users[role])[1]
    make_chat(project, "c1", [("amy", 0, "the cache is cold"), ("bo", 40, "is it the ttl?"), ("cy", 80, "why now?")])
    make_chat(project, "c2", [("dee", 0, "deploy failed"), ("eve", 30, "which step?"), ("dee", 60, "what now?")])
    items_preprocess(project=project)
    items = list(Item.objects.filter(project=project).order_by("id"))
    for item in items[:2]:
        services.item_annotate(item=item, annotator=users[ADMIN], option="extraction")
    labelled = Item.objects.filter(pk__in=[item.pk for item in items[:2]])
    batch = batch_freeze(batch=batch_create(project=project, name="first", items=labelled))
    ladder = Ladder.objects.create(name="tiny")
    Rung.objects.create(ladder=ladder, order=0, name="small", checkpoint_path="/x", parameters=1000)
    Rung.objects.create(ladder=ladder, order=1, name="large", checkpoint_path="/y", parameters=4000)
    ladder.projects.add(project)
    run = run_request(batch=batch, ladder=ladder)
    job = ImportJob.objects.create(project=project, file_name="f.jsonl", path="/nonexistent")
    return {"project": project, "users": users, "keys": keys, "items": items, "batch": batch,
            "ladder": ladder, "run": run, "job": job, "checkpoint": tiny_checkpoint}


@pytest.fixture
def api(request):
    """The recording client, without a token; `api.as_user(key)` for one with a token."""
    client = ApiClient()
    yield client
    marker = request.node.get_closest_marker("covers")
    if marker is not None and not getattr(request.node, "rep_call_failed", True):
        missing = set(marker.args) - client.called
        assert not missing, f"marked as covering {sorted(missing)} but never called them"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.rep_call_failed = report.failed
    return report
