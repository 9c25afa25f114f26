"""Markup and template syntax in every imported field, right-to-left and emoji
text: shown escaped and intact on the annotator's labelling page, the lead's
item list and the item review page.

Senders are shown as letters (A, B, …) and chat names, ids and metadata are not
shown on these pages at all, so only message text can carry a payload to them;
each page is still searched for every raw payload, whichever field held it.
"""

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from annotation.importers import messages_import
from annotation.models import Item
from annotation.preprocessing import items_preprocess
from tests.hostile.test_hostile_files import FILES, IMG, QUOTE, SCRIPT

PAYLOAD_FILES = ("html_everywhere.jsonl", "html_everywhere.log", "telegram_html.json", "rtl_emoji.jsonl")
# What must never reach a page as written: each would run, or open an element, if it did.
RAW = (SCRIPT, "<script>alert(1)", IMG, "<img src=x", QUOTE)
RTL_OVERRIDE = "\u202e"
FAMILY = "\U0001F468\u200d\U0001F469\u200d\U0001F467"


@pytest.fixture
def items(project):
    """One item per imported message: no threshold, no merging, no minimum length."""
    project.candidate_threshold = 0
    project.min_chars = 1
    project.merge_window_seconds = 0
    project.save()
    for name in PAYLOAD_FILES:
        messages_import(project=project, path=FILES / name, corpus_name=name)
    items_preprocess(project=project)
    texts = list(Item.objects.filter(project=project).values_list("text", flat=True))
    assert len(texts) == 9
    assert any(SCRIPT in text for text in texts) and any(RTL_OVERRIDE in text for text in texts)
    return texts


def assert_safe(html: str) -> None:
    for raw in RAW:
        assert raw not in html, raw


def assert_shown(html: str, text: str) -> None:
    assert escape(text) in html, text


def test_the_labelling_page_shows_every_item_escaped(project, annotator, items):
    client = Client()
    client.force_login(annotator)
    option = project.option_values[0]
    seen = []
    response = client.get(reverse("annotation:label", args=[project.pk]))
    while response.context["item"] is not None:
        html = response.content.decode()
        assert_safe(html)
        item = response.context["item"]
        assert_shown(html, item.text)
        for turn in item.context:
            assert_shown(html, turn["content"])
        seen.append(item.text)
        lease = response.context["lease"]
        response = client.post(
            reverse("annotation:label_submit", args=[project.pk, lease.pk]), {"option": option, "seconds": "1"}
        )
        assert response.status_code == 200
    assert sorted(seen) == sorted(items)


def test_the_item_list_and_each_review_page_show_the_text_escaped(project, lead, items):
    client = Client()
    client.force_login(lead)
    listing = client.get(reverse("annotation:item_list", args=[project.pk])).content.decode()
    assert_safe(listing)
    for text in items:
        assert_shown(listing, text)
    # Template syntax in data is data: shown as written, never evaluated.
    assert "{{ request.user }}{% debug %} what is wrong here?" in listing
    for item in Item.objects.filter(project=project):
        html = client.get(reverse("annotation:item_review", args=[project.pk, item.pk])).content.decode()
        assert_safe(html)
        assert_shown(html, item.text)
        for turn in item.context:
            assert_shown(html, turn["content"])


def test_a_search_for_markup_is_echoed_escaped(project, lead, items):
    client = Client()
    client.force_login(lead)
    response = client.get(reverse("annotation:item_list", args=[project.pk]), {"q": SCRIPT})
    html = response.content.decode()
    assert_safe(html)
    assert f'value="{escape(SCRIPT)}"' in html


def test_right_to_left_and_emoji_text_is_shown_intact(project, lead, items):
    client = Client()
    client.force_login(lead)
    for item in Item.objects.filter(project=project, text__contains=RTL_OVERRIDE):
        html = client.get(reverse("annotation:item_review", args=[project.pk, item.pk])).content.decode()
        assert item.text in html
        assert FAMILY in html
