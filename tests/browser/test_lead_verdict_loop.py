"""A lead follows a run to its verdict, works the suspect queue and freezes the next batch."""

import pytest

from annotation import services
from annotation.batches import batch_create, batch_freeze
from annotation.models import Batch, BatchItem, Item, Membership
from annotation.preprocessing import items_preprocess
from scaling.models import Verdict
from scaling.services import verdict_compute
from tests.annotation.factories import make_chat
from tests.scaling.factories import make_ladder, make_run
from training.models import Run

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def seed():
    project = services.project_create(name="Verdict project")
    lead = services.user_get_or_create(username="lea", password="lea-pass-123")
    services.membership_set(project=project, user=lead, role=Membership.LEAD)
    annotator = services.user_get_or_create(username="ann", password="ann-pass-123")
    services.membership_set(project=project, user=annotator, role=Membership.ANNOTATOR)
    for chat in range(40):
        make_chat(project, f"ops-{chat}", [
            ("amy", 0, f"the helm release {chat} is stuck"), ("bo", 40, f"did you try rollback {chat}?"),
            ("cy", 80, f"is release {chat} the same as last week?"),
        ])
    items_preprocess(project=project)
    for index, item in enumerate(Item.objects.filter(project=project).order_by("id")):
        services.item_annotate(item=item, annotator=annotator, option="extraction" if index % 2 else "no_extraction")
    batch = batch_freeze(batch=batch_create(
        project=project, name="week-1", items=Item.objects.filter(project=project), eval_share=0.5,
    ))
    # The ladder is not linked to the project: freezing starts no run on a worker here.
    eval_items = Item.objects.filter(batch_items__batch=batch, batch_items__split="eval").order_by("id")
    run = make_run(batch, make_ladder("tiny", 4), accuracies=[0.6, 0.7, 0.8, 0.9], wrong_items=list(eval_items[:3]))
    Run.objects.filter(pk=run.pk).update(status=Run.RUNNING, finished_at=None)
    return project, run


def test_banner_suspect_queue_fix_and_refreeze(live_server, login, page, screenshot):
    project, run = seed()
    login("lea", "lea-pass-123")
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.wait_for_selector(".banner[data-kind=training]")

    # The run finishes while the page is open: the banner turns into the verdict without a reload.
    Run.objects.filter(pk=run.pk).update(status=Run.DONE)
    verdict = verdict_compute(run_id=run.pk)
    banner = page.wait_for_selector(f".banner[data-kind={verdict.kind}]", timeout=15_000)
    assert verdict.message in banner.inner_text()
    assert verdict.suspects, "the planted items should be suspects"
    screenshot("lead-verdict-banner")

    page.goto(f"{live_server.url}/projects/{project.pk}/dashboard/")
    page.wait_for_selector("canvas[data-chart=by_size][data-drawn='1']")
    screenshot("lead-dashboard")

    page.goto(f"{live_server.url}/projects/{project.pk}/runs/{run.pk}/")
    assert verdict.message in page.inner_text(".banner")
    screenshot("lead-run")

    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.click("a:has-text('Suspect queue')")
    page.wait_for_selector("table#suspects")
    screenshot("lead-suspects")
    first = page.query_selector("tr.suspect")
    item = Item.objects.get(pk=first.get_attribute("data-item"))
    first.query_selector("a").click()

    other = "no_extraction" if item.label == "extraction" else "extraction"
    page.check(f"input[name=option][value={other}]")
    page.fill("textarea[name=reason]", "the ladder is right: the question stands alone")
    page.click("button:has-text('Save review')")
    page.wait_for_selector("text=Overridden in review")
    assert Item.objects.get(pk=item.pk).label == other

    page.goto(f"{live_server.url}/projects/{project.pk}/runs/{run.pk}/suspects/")
    assert "changed" in page.inner_text(f"tr.suspect[data-item='{item.pk}']")

    page.goto(f"{live_server.url}/projects/{project.pk}/batches/")
    page.select_option("select[name=selection]", "labelled")
    page.wait_for_function("() => document.querySelector('#preview-train').textContent.trim() !== '0'")
    page.fill("input[name=name]", "week-2")
    page.check("input[name=confirm]")
    page.click("button:has-text('Freeze batch')")
    page.wait_for_selector("#batch-hash")
    refrozen = Batch.objects.get(name="week-2")
    assert BatchItem.objects.get(batch=refrozen, item=item).label == other
    assert Verdict.objects.count() == 1
