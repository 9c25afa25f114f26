"""Every project page, from the URL conf: who gets in and who is refused.

A new URL under a project fails here until it is given its minimum role in
MINIMUM_ROLE, so no view ships without a permission check being tested.
"""

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from annotation import assignments, services
from annotation.batches import batch_create, batch_freeze
from annotation.models import ImportJob, Item, Membership
from annotation.preprocessing import items_preprocess
from tests.annotation.factories import make_chat
from training.models import Ladder, Rung, Run

ANNOTATOR, LEAD, ADMIN = Membership.ANNOTATOR, Membership.LEAD, Membership.ADMIN
RANK = {None: 0, ANNOTATOR: 1, LEAD: 2, ADMIN: 3}

# URL name: (minimum role, method to probe with)
MINIMUM_ROLE = {
    "annotation:project_detail": (ANNOTATOR, "get"),
    "annotation:label": (ANNOTATOR, "get"),
    "annotation:label_submit": (ANNOTATOR, "post"),
    "annotation:label_skip": (ANNOTATOR, "post"),
    "annotation:label_undo": (ANNOTATOR, "post"),
    "annotation:guidelines": (ANNOTATOR, "get"),
    "annotation:item_list": (LEAD, "get"),
    "annotation:item_review": (LEAD, "get"),
    "annotation:agreement": (LEAD, "get"),
    "annotation:batch_list": (LEAD, "get"),
    "annotation:batch_detail": (LEAD, "get"),
    "annotation:batch_export": (LEAD, "get"),
    "annotation:import_upload": (LEAD, "get"),
    "annotation:import_status": (LEAD, "get"),
    "annotation:members": (ADMIN, "get"),
    "runs:run_detail": (LEAD, "get"),
    "runs:run_cancel": (LEAD, "post"),
    "runs:run_retry": (LEAD, "post"),
    "runs:run_rerun": (LEAD, "post"),
    "scaling:run_suspects": (LEAD, "get"),
    "runs:run_report": (LEAD, "get"),
    "scaling:dashboard": (LEAD, "get"),
    "scaling:verdict_banner": (LEAD, "get"),
    "runs:batch_run_start": (LEAD, "post"),
}


def project_urls(patterns=None, prefix="", namespace=None):
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace == "api":
                # The JSON API answers 401 with no token, not a login redirect; tests/api
                # checks its roles, one for every operation of its OpenAPI schema.
                continue
            yield from project_urls(pattern.url_patterns, prefix + str(pattern.pattern), pattern.namespace or namespace)
        elif isinstance(pattern, URLPattern) and "<int:project_id>" in prefix + str(pattern.pattern):
            yield f"{namespace}:{pattern.name}" if namespace else pattern.name


def test_every_project_url_has_a_tested_minimum_role():
    assert sorted(project_urls()) == sorted(MINIMUM_ROLE)


@pytest.fixture
def world(project):
    users = {}
    for role in (ANNOTATOR, LEAD, ADMIN):
        users[role] = services.user_get_or_create(username=f"u-{role}", password="pw-pass-1234")
        services.membership_set(project=project, user=users[role], role=role)
    users[None] = services.user_get_or_create(username="outsider", password="pw-pass-1234")
    make_chat(project, "c1", [("amy", 0, "the cache is cold"), ("bo", 40, "is it the ttl?"), ("cy", 80, "why now?")])
    items_preprocess(project=project)
    items = list(Item.objects.filter(project=project))
    for item in items:
        services.item_annotate(item=item, annotator=users[ADMIN], option="extraction")
    batch = batch_freeze(batch=batch_create(project=project, name="b", items=Item.objects.filter(project=project)))
    ladder = Ladder.objects.create(name="l")
    Rung.objects.create(ladder=ladder, order=0, name="r", checkpoint_path="/x", parameters=1)
    run = Run.objects.create(batch=batch, ladder=ladder, code_version="v", config_hash="c" * 64)
    job = ImportJob.objects.create(project=project, file_name="f.jsonl", path="/nonexistent")
    return {"users": users, "items": items, "batch": batch, "run": run, "job": job}


def url_for(name: str, project, world, user) -> str:
    kwargs = {"project_id": project.pk}
    if "assignment_id" in name or name in {"annotation:label_submit", "annotation:label_skip"}:
        lease = assignments.lease_open(project=project, annotator=user) if user else None
        kwargs["assignment_id"] = lease.pk if lease else 999999
    if name == "annotation:item_review":
        kwargs["item_id"] = world["items"][0].pk
    if name.startswith(("annotation:batch_", "runs:batch_")) and name != "annotation:batch_list":
        kwargs["batch_id"] = world["batch"].pk
    if name == "annotation:batch_export":
        kwargs["fmt"] = "alpaca-train"
    if name == "annotation:import_status":
        kwargs["job_id"] = world["job"].pk
    if name.startswith(("scaling:run_", "runs:run_")):
        kwargs["run_id"] = world["run"].pk
    return reverse(name, kwargs=kwargs)


@pytest.mark.parametrize("name", sorted(MINIMUM_ROLE))
def test_roles_below_the_minimum_are_refused_and_anonymous_users_sent_to_log_in(name, project, world):
    minimum, method = MINIMUM_ROLE[name]
    anonymous = getattr(Client(), method)(url_for(name, project, world, None))
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    for role, user in world["users"].items():
        client = Client()
        client.force_login(user)
        response = getattr(client, method)(url_for(name, project, world, user))
        if RANK[role] < RANK[minimum]:
            assert response.status_code == 403, (name, role, response.status_code)
        else:
            assert response.status_code != 403, (name, role, response.status_code)
