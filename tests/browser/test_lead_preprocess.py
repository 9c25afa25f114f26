"""A lead tunes preprocessing with the live preview and makes the items."""

import pytest

from annotation import services
from annotation.models import Item, Membership, Project
from tests.annotation.factories import make_chat

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def seed():
    project = services.project_create(name="Preprocess project")
    lead = services.user_get_or_create(username="lea", password="lea-pass-123")
    services.membership_set(project=project, user=lead, role=Membership.LEAD)
    for chat in range(3):
        make_chat(project, f"ops-{chat}", [
            ("amy", 0, f"the helm release {chat} is stuck"), ("bo", 40, "why?"),
            ("cy", 80, "is it the same as last week?"),
        ])
    return project


def preview_items(page) -> str:
    return page.inner_text("#preview-items")


def test_the_preview_follows_the_settings_and_the_items_are_made(live_server, login, page, screenshot):
    project = seed()
    login("lea", "lea-pass-123")
    page.goto(f"{live_server.url}/projects/{project.pk}/preprocess/")
    assert preview_items(page) == "3"  # "why?" is shorter than 7 characters

    # The preview follows typing (a pause after input) and leaving a field (change).
    page.fill("input[name=min_chars]", "-1")
    page.wait_for_selector("#preprocess-preview >> text=Fix the settings above")
    assert page.locator("#make-items").count() == 0

    page.fill("input[name=min_chars]", "3")
    page.press("input[name=min_chars]", "Tab")
    page.wait_for_function("() => document.querySelector('#preview-items')?.textContent === '6'")
    screenshot("lead-preprocess")
    page.click("#make-items")

    page.wait_for_url(f"{live_server.url}/projects/{project.pk}/")
    assert "Made 6 items." in page.inner_text("#messages")
    assert Item.objects.filter(project=project).count() == 6
    assert Project.objects.get(pk=project.pk).min_chars == 3
