"""A lead overrides a label, reads its history, freezes a batch and downloads it."""

import json

import pytest

from annotation import services
from annotation.models import Annotation, Batch, Item, Membership
from annotation.preprocessing import items_preprocess
from tests.annotation.factories import make_chat

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def seed():
    project = services.project_create(name="Review project")
    lead = services.user_get_or_create(username="lea", password="lea-pass-123")
    services.membership_set(project=project, user=lead, role=Membership.LEAD)
    annotator = services.user_get_or_create(username="ann", password="ann-pass-123")
    services.membership_set(project=project, user=annotator, role=Membership.ANNOTATOR)
    for chat in range(6):
        make_chat(project, f"ops-{chat}", [
            ("amy", 0, f"the helm release {chat} is stuck"), ("bo", 40, "did you try a rollback?"),
            ("cy", 80, "is it the same as last week?"),
        ])
    items_preprocess(project=project)
    for item in Item.objects.filter(project=project):
        services.item_annotate(item=item, annotator=annotator, option="extraction")
    return project


def test_override_history_freeze_and_download(live_server, login, page, screenshot):
    project = seed()
    item = Item.objects.filter(project=project).order_by("id").first()
    login("lea", "lea-pass-123")

    page.goto(f"{live_server.url}/projects/{project.pk}/items/")
    screenshot("lead-items")
    page.click(f"a[href='/projects/{project.pk}/items/{item.pk}/']")
    page.check("input[name=option][value=no_extraction]")
    page.fill("textarea[name=reason]", "the rollback question stands alone")
    page.click("button:has-text('Save review')")
    page.wait_for_selector("text=Overridden in review")
    assert "the rollback question stands alone" in page.inner_text(".revisions")
    assert "extraction" in page.inner_text("table.grid")
    screenshot("lead-review")
    current = Item.objects.get(pk=item.pk).current_annotation
    assert current.kind == Annotation.REVIEW_OVERRIDE and current.previous.option == "extraction"

    page.goto(f"{live_server.url}/projects/{project.pk}/batches/")
    page.select_option("select[name=selection]", "labelled")
    page.wait_for_function("() => document.querySelector('#preview-train').textContent.trim() !== '0'")
    page.fill("input[name=name]", "week-1")
    page.check("input[name=confirm]")
    page.click("button:has-text('Freeze batch')")
    page.wait_for_selector("#batch-hash")
    batch = Batch.objects.get(name="week-1")
    assert page.inner_text("#batch-hash") == batch.content_hash
    screenshot("lead-batch")

    with page.expect_download() as download_info:
        page.click("a:has-text('Alpaca JSON, train')")
    records = json.loads(open(download_info.value.path(), "rb").read())
    assert len(records) == batch.train_count
    assert set(records[0]) == {"instruction", "input", "output"}


def test_an_annotator_gets_403_on_a_lead_page(live_server, login, page):
    project = seed()
    login("ann", "ann-pass-123")
    response = page.goto(f"{live_server.url}/projects/{project.pk}/items/")
    assert response.status == 403
