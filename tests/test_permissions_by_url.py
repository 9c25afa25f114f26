"""Every page, from the URL conf: who gets in, who is refused, and with which methods.

A new URL fails here until it is listed in VIEWS with its minimum role and the
methods it answers, so no view ships without its permission check, its refused
methods (405) and a real request of each method being tested. Each permitted
role's request is a well-formed one on a real object of the project, and must
succeed (2xx or 3xx, or a refusal listed in DOCUMENTED_REFUSALS); the same ids
through another project's URLs are 404.
"""

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from annotation import assignments, services
from annotation.batches import batch_create, batch_freeze
from annotation.models import ImportJob, Item, Membership
from annotation.preprocessing import items_preprocess
from api.tokens import api_token_create
from tests.annotation.factories import make_chat
from training.models import Ladder, Rung, Run

ANNOTATOR, LEAD, ADMIN = Membership.ANNOTATOR, Membership.LEAD, Membership.ADMIN
ANYONE = "anyone"  # pages outside any project, open to whoever may reach them at all
STAFF = "staff"  # pages outside any project for site staff only
RANK = {None: 0, ANNOTATOR: 1, LEAD: 2, ADMIN: 3}
METHODS = ("get", "post", "put", "patch", "delete")

# URL name: {method it answers: the minimum role for it}; every other method is 405.
VIEWS = {
    "annotation:project_list": {"get": ANYONE},
    "annotation:project_new": {"get": STAFF, "post": STAFF},
    "annotation:project_detail": {"get": ANNOTATOR},
    "annotation:project_settings": {"get": LEAD, "post": LEAD},
    "annotation:label": {"get": ANNOTATOR},
    "annotation:label_submit": {"post": ANNOTATOR},
    "annotation:label_skip": {"post": ANNOTATOR},
    "annotation:label_undo": {"post": ANNOTATOR},
    # Annotators read the guidelines; leads also publish them.
    "annotation:guidelines": {"get": ANNOTATOR, "post": LEAD},
    "annotation:item_list": {"get": LEAD},
    "annotation:item_review": {"get": LEAD, "post": LEAD},
    "annotation:item_control": {"post": LEAD},
    "annotation:agreement": {"get": LEAD},
    "annotation:batch_list": {"get": LEAD, "post": LEAD},
    "annotation:batch_detail": {"get": LEAD},
    "annotation:batch_export": {"get": LEAD},
    "annotation:import_upload": {"get": LEAD, "post": LEAD},
    "annotation:import_status": {"get": LEAD},
    "annotation:preprocess": {"get": LEAD, "post": LEAD},
    "annotation:members": {"get": ADMIN, "post": ADMIN},
    "runs:run_detail": {"get": LEAD},
    "runs:run_cancel": {"post": LEAD},
    "runs:run_retry": {"post": LEAD},
    "runs:run_rerun": {"post": LEAD},
    "runs:run_verdict_retry": {"post": LEAD},
    "runs:run_label_check": {"post": LEAD},
    "scaling:run_suspects": {"get": LEAD},
    "runs:run_report": {"get": LEAD},
    "scaling:dashboard": {"get": LEAD},
    "scaling:verdict_banner": {"get": LEAD},
    "runs:batch_run_start": {"post": LEAD},
    # Django's own account views.
    "login": {"get": ANYONE, "post": ANYONE},
    "logout": {"post": ANYONE},
    "invite_accept": {"get": ANYONE, "post": ANYONE},
    # Each user's own API tokens.
    "api_tokens:list": {"get": ANYONE, "post": ANYONE},
    "api_tokens:revoke": {"post": ANYONE},
}

# Answers other than 2xx/3xx that a permitted, well-formed request may get, and why.
DOCUMENTED_REFUSALS = {
    # Only a failed or cancelled run is retried: the test's run is pending.
    ("runs:run_retry", "post"): {409},
    # The first permitted role cancels the test's run; cancelling an ended run is refused.
    ("runs:run_cancel", "post"): {409},
    # The test's run is still pending: its verdict is computed once it is done.
    ("runs:run_verdict_retry", "post"): {409},
    # The test's run is still pending: its labels are checked once it is done.
    ("runs:run_label_check", "post"): {409},
    # The second reviewer's revision is stale once the first has reviewed.
    ("annotation:item_review", "post"): {409},
}


def routes(patterns=None, prefix="", namespace=None):
    """(URL name, route) of every view of the URL conf but the admin's and the API's."""
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace in {"api", "admin"}:
                # The JSON API answers 401 with no token, not a login redirect; tests/api
                # checks its roles and methods, one for every operation of its OpenAPI schema.
                continue
            yield from routes(pattern.url_patterns, prefix + str(pattern.pattern), pattern.namespace or namespace)
        elif isinstance(pattern, URLPattern):
            yield (f"{namespace}:{pattern.name}" if namespace else pattern.name), prefix + str(pattern.pattern)


ROUTES = dict(routes())
PROJECT_VIEWS = sorted(name for name, methods in VIEWS.items() if not {ANYONE, STAFF} & set(methods.values()))
STAFF_VIEWS = sorted(name for name, methods in VIEWS.items() if STAFF in methods.values())
# Views whose path names an object of the project besides the project itself.
OBJECT_VIEWS = sorted(name for name in PROJECT_VIEWS if ROUTES[name].count("<int:") > 1)


def test_every_view_has_a_tested_minimum_role_and_methods():
    assert sorted(ROUTES) == sorted(VIEWS)
    assert all("<int:project_id>" in ROUTES[name] for name in PROJECT_VIEWS)


@pytest.fixture
def world(project):
    users = {}
    for role in (ANNOTATOR, LEAD, ADMIN):
        users[role] = get_user_model().objects.create_user(username=f"u-{role}")
        services.membership_set(project=project, user=users[role], role=role)
    users[None] = get_user_model().objects.create_user(username="outsider")
    get_user_model().objects.create_user(username="newcomer")
    make_chat(project, "c1", [("amy", 0, "the cache is cold"), ("bo", 40, "is it the ttl?"), ("cy", 80, "why now?")])
    for index in range(4):
        make_chat(project, f"open{index}", [("dee", 0, "deploy failed"), ("eve", 30, f"which step {index}?")])
    items_preprocess(project=project)
    labelled = Item.objects.filter(project=project, message__chat__external_id="c1")
    for item in labelled:
        services.item_annotate(item=item, annotator=users[ADMIN], option="extraction")
    batch = batch_freeze(batch=batch_create(project=project, name="b", items=labelled))
    ladder = Ladder.objects.create(name="l")
    ladder.projects.add(project)
    rung = Rung.objects.create(ladder=ladder, order=0, name="r", checkpoint_path="/x", parameters=1)
    run = Run.objects.create(batch=batch, ladder=ladder, code_version="v", config_hash="c" * 64)
    job = ImportJob.objects.create(project=project, file_name="f.jsonl", path="/nonexistent")
    # Another project where everyone holds the same role, to reach its URLs with the first one's ids.
    other = services.project_create(name="Other")
    for role in (ANNOTATOR, LEAD, ADMIN):
        services.membership_set(project=other, user=users[role], role=role)
    return {"project": project, "other": other, "users": users, "items": list(labelled), "batch": batch,
            "ladder": ladder, "rung": rung, "run": run, "job": job}


def path_ids(name: str, world, user, *, project=None) -> dict:
    """The path's ids: real objects of the world's project (a lease of the user's own)."""
    route = ROUTES[name]
    values = {
        "project_id": lambda: (project or world["project"]).pk,
        "assignment_id": lambda: assignments.assignment_claim_next(project=world["project"], annotator=user).pk,
        "item_id": lambda: world["items"][0].pk,
        "batch_id": lambda: world["batch"].pk,
        "run_id": lambda: world["run"].pk,
        "job_id": lambda: world["job"].pk,
        "fmt": lambda: "alpaca-train",
        "uidb64": lambda: "MQ",
        "token": lambda: "set-password",
        "token_id": lambda: api_token_create(user=user or world["users"][ANNOTATOR], name="t")[0].pk,
    }
    return {key: make() for key, make in values.items() if f":{key}>" in route or f"<{key}>" in route}


def url_for(name: str, world, user, *, project=None) -> str:
    return reverse(name, kwargs=path_ids(name, world, user, project=project))


def form_for(name: str, method: str, world, user) -> dict:
    """A well-formed body, so that a permitted caller's answer can only be the view's success."""
    if method != "post":
        return {}
    bodies = {
        "annotation:label_submit": lambda: {"option": "extraction", "seconds": "3.5"},
        "annotation:item_review": lambda: {
            "option": "extraction",
            "expected_current": Item.objects.get(pk=world["items"][0].pk).current_annotation_id,
        },
        # The world's items are labelled, not reviewed: stopping is what any of them allows.
        "annotation:item_control": lambda: {"control": "0"},
        "annotation:guidelines": lambda: {"text": f"Label by {user.username}'s rules."},
        "annotation:batch_list": lambda: {"name": f"by {user.username}", "selection": "labelled", "confirm": "on"},
        "annotation:preprocess": lambda: {
            "merge_window_seconds": "18", "min_chars": "7", "candidate_threshold": "0.5", "context_window": "11"
        },
        "annotation:import_upload": lambda: {
            "file": SimpleUploadedFile("m.jsonl", b'{"id": "1"}\n'), "corpus": "more", "format": "jsonl"
        },
        "annotation:members": lambda: {"username": "newcomer", "role": ANNOTATOR, "action": "set"},
        "annotation:project_new": lambda: {
            "name": f"made by {user.username}", "template": "context", "context_window": "11",
            "merge_window_seconds": "18", "min_chars": "7", "candidate_threshold": "0.5", "overlap": "1",
            "lease_seconds": "600", "label_check": "not-monotone", "label_check_folds": "3", "label_check_epochs_factor": "2",
        },
        "annotation:project_settings": lambda: {
            "name": world["project"].name, "instruction": world["project"].instruction,
            "options": "\n".join(f"{o['key']} | {o['value']} | {o['text']}" for o in world["project"].options),
            "positive_option": "extraction", "abstain_options": "dont_know", "shuffle_options": "on",
            "context_window": "11", "merge_window_seconds": "18", "min_chars": "7", "candidate_threshold": "0.5",
            "overlap": "1", "lease_seconds": "600", "label_check": "not-monotone", "label_check_folds": "3", "label_check_epochs_factor": "2",
        },
        "runs:run_rerun": lambda: {"rung": world["rung"].pk, "hyperparameters": "lr=2e-5"},
        "runs:batch_run_start": lambda: {"ladder": world["ladder"].pk},
        "api_tokens:list": lambda: {"name": "nightly export", "days": "30"},
    }
    return bodies.get(name, dict)()


def send(client: Client, method: str, url: str, data: dict):
    if method in {"get", "post"}:
        return getattr(client, method)(url, data)
    return getattr(client, method)(url)


def succeeded(name: str, method: str, status: int) -> bool:
    return 200 <= status < 400 or status in DOCUMENTED_REFUSALS.get((name, method), set())


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "name, method", sorted((name, method) for name in PROJECT_VIEWS for method in VIEWS[name])
)
def test_roles_below_the_minimum_are_refused_and_the_others_succeed(name, method, world):
    minimum = VIEWS[name][method]
    anonymous = send(Client(), method, url_for(name, world, world["users"][ADMIN]), {})
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    for role, user in world["users"].items():
        # An outsider is refused before the lease is looked up: an annotator's will do.
        url = url_for(name, world, user if role is not None else world["users"][ANNOTATOR])
        response = send(logged_in(user), method, url, form_for(name, method, world, user))
        if RANK[role] < RANK[minimum]:
            assert response.status_code == 403, (name, method, role, response.status_code)
        else:
            assert succeeded(name, method, response.status_code), (name, method, role, response.status_code)


@pytest.mark.parametrize("name", STAFF_VIEWS)
def test_staff_pages_refuse_everyone_else_and_answer_staff(name, world):
    staff = get_user_model().objects.create_user(username="site-staff", is_staff=True)
    for method in sorted(VIEWS[name]):
        for user in world["users"].values():
            response = send(logged_in(user), method, url_for(name, world, user), form_for(name, method, world, user))
            assert response.status_code == 403, (name, method, user, response.status_code)
        response = send(logged_in(staff), method, url_for(name, world, staff), form_for(name, method, world, staff))
        assert succeeded(name, method, response.status_code), (name, method, response.status_code)


@pytest.mark.parametrize("name", sorted(set(VIEWS) - set(PROJECT_VIEWS) - set(STAFF_VIEWS)))
def test_pages_outside_projects_answer_each_of_their_methods(name, world):
    user = world["users"][ANNOTATOR]
    for method in sorted(VIEWS[name]):
        response = send(logged_in(user), method, url_for(name, world, user), form_for(name, method, world, user))
        assert succeeded(name, method, response.status_code), (name, method, response.status_code)


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_methods_a_view_does_not_answer_are_405(name, world):
    admin = world["users"][ADMIN]
    for method in sorted(set(METHODS) - set(VIEWS[name])):
        response = send(logged_in(admin), method, url_for(name, world, admin), {})
        assert response.status_code == 405, (name, method, response.status_code)


@pytest.mark.parametrize("name, method", sorted((name, method) for name in OBJECT_VIEWS for method in VIEWS[name]))
def test_one_projects_objects_through_another_projects_urls_are_404(name, method, world):
    """An admin of both projects still gets 404: the object is not the URL's project's."""
    admin = world["users"][ADMIN]
    url = url_for(name, world, admin, project=world["other"])
    response = send(logged_in(admin), method, url, form_for(name, method, world, admin))
    assert response.status_code == 404, (name, method, response.status_code)


def test_another_projects_run_or_batch_in_the_banners_query_is_404(world):
    admin = world["users"][ADMIN]
    url = reverse("scaling:verdict_banner", args=[world["other"].pk])
    for key in ("run", "batch"):
        response = logged_in(admin).get(url, {key: world[key].pk})
        assert response.status_code == 404, key
