"""The lead's preprocessing page: settings, a live preview, and making the items."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from annotation import services
from annotation.models import ImportJob, Item, Project
from annotation.preprocessing import PreprocessSettings, items_preview
from tests.annotation.factories import make_chat

SETTING_NAMES = ["merge_window_seconds", "min_chars", "candidate_threshold", "context_window"]
LOOSER = {"merge_window_seconds": "60", "min_chars": "3", "candidate_threshold": "0.3", "context_window": "2"}


@pytest.fixture
def chats(project):
    make_chat(project, "ops", [
        ("ann", 0, "the deploy went fine today"), ("bob", 30, "is the cache warm yet?"), ("cat", 60, "ok"),
        ("ann", 90, "how do I purge it?"), ("bob", 120, "restart"), ("cat", 150, "why?"),
    ])
    make_chat(project, "dev", [("dee", 0, "ci is red on main"), ("eve", 30, "which job fails now?")])


@pytest.fixture
def outsider(db):
    return services.user_get_or_create(username="stranger", password="stranger-pass-123")


def client_for(user, **options) -> Client:
    client = Client(**options)
    client.force_login(user)
    return client


def url(project) -> str:
    return reverse("annotation:preprocess", args=[project.pk])


def preview_block(html: str) -> str:
    return re.search(r'<section id="preprocess-preview".*?</section>', html, re.S).group(0)


def saved_settings(project) -> PreprocessSettings:
    return PreprocessSettings.of(Project.objects.get(pk=project.pk))


def test_a_lead_sees_the_projects_settings_and_what_they_make(project, lead, chats):
    project.min_chars = 5
    project.save(update_fields=["min_chars"])
    expected = items_preview(project=project, settings=PreprocessSettings.of(project))

    response = client_for(lead).get(url(project))

    assert response.status_code == 200
    html = response.content.decode()
    for name in SETTING_NAMES:
        assert f'name="{name}"' in html
    assert re.search(r'name="min_chars" value="5"', html)
    assert preview_block(html).count("Make the items") == 1
    assert (
        f'These settings make <strong id="preview-items">{expected.created}</strong> items '
        f"from {expected.messages} messages ({expected.turns} turns, {expected.dropped_short} too short)."
    ) in " ".join(html.split())
    assert not Item.objects.exists()


def test_the_preview_follows_the_values_asked_for(project, lead, chats):
    looser = PreprocessSettings(**{name: type(getattr(project, name))(value) for name, value in LOOSER.items()})
    expected = items_preview(project=project, settings=looser)
    assert expected.created != items_preview(project=project, settings=PreprocessSettings.of(project)).created

    html = client_for(lead).get(url(project), LOOSER).content.decode()

    assert f'<strong id="preview-items">{expected.created}</strong>' in html
    # "Make the items" makes what the preview shows.
    for name, value in LOOSER.items():
        assert re.search(rf'<input type="hidden" name="{name}" value="{value}(\.0)?">', preview_block(html))
    assert saved_settings(project) == PreprocessSettings.of(project)


def test_htmx_gets_only_the_preview_block(project, lead, chats):
    response = client_for(lead).get(url(project), LOOSER, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    html = response.content.decode().strip()
    assert html.startswith('<section id="preprocess-preview"') and html.endswith("</section>")
    assert "<html" not in html and 'type="number"' not in html
    assert "These settings make" in html


@pytest.mark.parametrize("field, value", [
    ("merge_window_seconds", "-5"), ("min_chars", "many"), ("min_chars", "99999999999999999999"),
    ("candidate_threshold", "nan"), ("candidate_threshold", "1e999"), ("context_window", "2.5"),
])
def test_bad_values_get_field_errors_and_change_nothing(project, lead, chats, field, value):
    values = {**LOOSER, field: value}
    before = saved_settings(project)
    client = client_for(lead)

    shown = client.get(url(project), values)
    partial = client.get(url(project), values, HTTP_HX_REQUEST="true")
    posted = client.post(url(project), values)

    for response in (shown, partial, posted):
        assert response.status_code == 422
        assert "Make the items" not in response.content.decode()
    assert f'id="{field}-errors"' in shown.content.decode()
    assert f'id="{field}-errors"' in posted.content.decode()
    assert "Fix the settings above" in partial.content.decode()
    assert saved_settings(project) == before
    assert not Item.objects.exists()


def test_making_the_items_saves_the_settings_and_says_how_many(project, lead, chats):
    looser = PreprocessSettings(**{name: type(getattr(project, name))(value) for name, value in LOOSER.items()})
    expected = items_preview(project=project, settings=looser)
    client = client_for(lead)

    response = client.post(url(project), LOOSER)

    detail = reverse("annotation:project_detail", args=[project.pk])
    assert response.status_code == 302 and response["Location"] == detail
    assert Item.objects.filter(project=project).count() == expected.created > 0
    assert saved_settings(project) == looser
    page = client.get(detail).content.decode()
    assert re.search(rf'id="messages">.*Made {expected.created} items\.', page, re.S)
    assert "Made " not in client.get(detail).content.decode()  # said once
    again = preview_block(client.get(url(project)).content.decode())
    assert f"{expected.created} of their {expected.candidates} candidates already have an item" in " ".join(again.split())


def test_making_the_items_needs_the_csrf_token(project, lead, chats):
    before = saved_settings(project)

    response = client_for(lead, enforce_csrf_checks=True).post(url(project), LOOSER)

    assert response.status_code == 403
    assert saved_settings(project) == before
    assert not Item.objects.exists()


def test_annotators_and_outsiders_are_refused_and_unknown_projects_are_404(project, annotator, outsider, lead, chats):
    for user in (annotator, outsider):
        client = client_for(user)
        assert client.get(url(project)).status_code == 403
        assert client.post(url(project), LOOSER).status_code == 403
    assert client_for(lead).get(reverse("annotation:preprocess", args=[project.pk + 1000])).status_code == 404
    assert not Item.objects.exists()


def test_the_project_page_links_to_it_for_leads_only(project, lead, annotator):
    detail = reverse("annotation:project_detail", args=[project.pk])

    assert f'href="{url(project)}"' in client_for(lead).get(detail).content.decode()
    assert f'href="{url(project)}"' not in client_for(annotator).get(detail).content.decode()


def test_a_finished_import_points_to_it(project, lead):
    job = ImportJob.objects.create(project=project, file_name="chat.jsonl", path="/gone")
    status = reverse("annotation:import_status", args=[project.pk, job.pk])
    client = client_for(lead)
    assert "Next: preprocess into items" not in client.get(status).content.decode()

    job.start()
    job.finish(format="jsonl", added=8, skipped=0)

    assert f'href="{url(project)}">Next: preprocess into items</a>' in client.get(status).content.decode()
