"""An annotator labels with the keyboard alone."""

import pytest
from django.utils import timezone

from annotation import services
from annotation.models import Annotation, Chat, Corpus, Item, Membership, Message

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

def seed_project(items: int = 7):
    project = services.project_create(name="Keyboard project")
    user = services.user_get_or_create(username="kim", password="kim-pass-123")
    services.membership_set(project=project, user=user, role=Membership.ANNOTATOR)
    corpus = Corpus.objects.create(project=project)
    chat = Chat.objects.create(corpus=corpus, external_id="ops")
    now = timezone.now()
    history = [
        {"username": "A", "content": "redis 7 keeps evicting keys after the upgrade", "sent_at": now.isoformat()},
        {"username": "B", "content": "check maxmemory-policy, it defaults to noeviction", "sent_at": now.isoformat()},
    ]
    for n in range(items):
        message = Message.objects.create(
            corpus=corpus, chat=chat, external_id=f"m{n}", sender="sam", sent_at=now,
            text=f"<script>alert('x')</script> does it also apply to replicas #{n}?",
        )
        Item.objects.create(
            project=project, message=message, chat=chat, text=message.text, sender="C",
            sent_at=now, context=history,
        )
    return project, user


def wait_for_next_card(page, before):
    page.wait_for_function(
        "before => { const card = document.querySelector('#card');"
        " return card.dataset.item !== before && card.dataset.settled; }",
        arg=before,
    )


def test_label_five_items_with_the_keyboard_and_undo_one(live_server, login, page, screenshot):
    project, user = seed_project()
    login("kim", "kim-pass-123")
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    page.wait_for_selector("#card .candidate")
    page.wait_for_selector("#card[data-settled]")
    # Chat text is shown as text, never run as markup.
    assert "<script>" in page.inner_text(".candidate")
    screenshot("annotator")

    for key in ["k", "j", "k", "k", "j"]:
        before = page.get_attribute("#card", "data-item")
        page.keyboard.press(key)
        wait_for_next_card(page, before)
    assert "5 done today" in page.inner_text("#progress")
    assert Annotation.objects.filter(annotator=user).count() == 5

    before = page.get_attribute("#card", "data-item")
    page.keyboard.press("u")
    # The reopened card must have settled before the next key, or the key is lost.
    wait_for_next_card(page, before)
    page.wait_for_selector(".notice")
    assert "Reopened your last label (no extraction needed)" in page.inner_text(".notice")
    page.keyboard.press("k")
    page.wait_for_function("() => !document.querySelector('.notice')")
    last = Annotation.objects.filter(annotator=user).order_by("-id").first()
    assert last.option == "extraction"
    assert last.previous.option == "no_extraction"
    assert Annotation.objects.filter(annotator=user).count() == 6
    assert Item.objects.filter(project=project, annotation_count=1).count() == 5

    page.keyboard.press("?")
    assert page.is_visible("#help")


def test_a_card_gone_stale_comes_back_fresh_and_saves_nothing(live_server, login, page):
    project, user = seed_project(items=1)
    login("kim", "kim-pass-123")
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    page.wait_for_selector("#card[data-settled]")
    item = Item.objects.get(project=project)
    # The same item labelled from another window while this card is open.
    elsewhere = services.item_annotate(item=item, annotator=user, option="extraction")
    page.evaluate("delete document.querySelector('#card').dataset.settled")
    page.keyboard.press("j")
    page.wait_for_selector("#card[data-settled] .notice")
    assert "Not saved" in page.inner_text(".notice")
    assert "Your current label: needs extraction from the context" in page.inner_text("#card")
    assert list(Annotation.objects.filter(item=item).values_list("pk", flat=True)) == [elsewhere.pk]
    page.keyboard.press("j")
    page.wait_for_selector("#card .done")
    assert Item.objects.get(pk=item.pk).label == "no_extraction"
