"""A batch name submitted twice at once: the second request passes the name check
before the first commits, then meets the unique constraint. It answers 409 with a
message saying so, on the page and in the API, and leaves one batch."""

import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.test import Client
from django.urls import reverse

from annotation import services
from annotation.models import Batch, Item
from annotation.preprocessing import items_preprocess
from api.tokens import api_token_create
from tests.annotation.factories import make_chat

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs row locks on the unique index, as PostgreSQL takes them"
)


@pytest.fixture
def reviewed(transactional_db, project, lead):
    make_chat(project, "c1", [("amy", 0, "the cache is cold"), ("bo", 40, "is it the ttl?")])
    make_chat(project, "c2", [("cy", 0, "deploy failed"), ("dee", 30, "which step?")])
    items_preprocess(project=project)
    for item in Item.objects.filter(project=project):
        services.item_annotate(item=item, annotator=lead, option="extraction")
    Item.objects.filter(project=project).update(reviewed=True)


def waiting_on_a_lock() -> bool:
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def race(project, name: str, send) -> object:
    """Hold an uncommitted batch of `name` open while `send()` runs, and commit it once
    `send`'s insert is blocked behind it; `send`'s response."""
    inserted, release, answer = threading.Event(), threading.Event(), {}

    def first():
        try:
            with transaction.atomic():
                Batch.objects.create(project=project, name=name)
                inserted.set()
                release.wait(30)
        finally:
            connections.close_all()

    def second():
        try:
            answer["response"] = send()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert inserted.wait(30)
    threads[1].start()
    while not waiting_on_a_lock() and threads[1].is_alive():
        time.sleep(0.05)
    release.set()
    for thread in threads:
        thread.join(30)
    return answer["response"]


def test_the_batch_page_answers_409_when_the_name_was_taken_meanwhile(project, lead, reviewed):
    client = Client()
    client.force_login(lead)
    url = reverse("annotation:batch_list", args=[project.pk])
    response = race(project, "monday", lambda: client.post(url, {"name": "monday", "confirm": "on"}))
    assert response.status_code == 409
    assert "another batch named &#x27;monday&#x27; was created" in response.content.decode()
    assert Batch.objects.filter(project=project, name="monday").count() == 1


def test_the_api_answers_409_when_the_name_was_taken_meanwhile(project, lead, reviewed):
    token = api_token_create(user=lead)[1]
    response = race(
        project,
        "monday",
        lambda: Client().post(
            f"/api/v1/projects/{project.pk}/batches",
            {"name": "monday"},
            content_type="application/json",
            headers={"Authorization": f"Bearer {token}"},
        ),
    )
    assert response.status_code == 409
    assert "another batch named 'monday' was created" in response.json()["detail"]
    assert Batch.objects.filter(project=project, name="monday").count() == 1
