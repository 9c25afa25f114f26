"""A first project from an empty database, in the browser alone: create → upload → preprocess → invite → label."""

import re

import pytest
from django.contrib.auth import get_user_model

from annotation.models import Annotation, Item, Project
from annotation.sample_corpus import write_jsonl

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

OPTIONS = "q | question | a question\nw | work | a work update\nt | small-talk | small talk"


def test_a_lead_sets_up_a_three_option_project_and_an_invited_annotator_labels(
    celery_worker_process, live_server, login, page, browser, screenshot, tmp_path
):
    assert not Project.objects.exists()
    get_user_model().objects.create_user("olga", password="olga-pass-123", is_staff=True)
    corpus = tmp_path / "team-chat.jsonl"
    write_jsonl(path=corpus, messages=300, seed=4)

    login("olga", "olga-pass-123")

    page.click("text=New project")
    page.fill("input[name=name]", "Kinds of message")
    page.select_option("select[name=template]", "blank")
    page.fill("textarea[name=instruction]", "What kind of chat message is this?")
    page.fill("textarea[name=options]", "q | question | a question\ns | oops | reserved key")
    page.click("button:has-text('Make the project')")
    # A reserved key is refused with the field named; nothing is made.
    assert "reserved for skip" in page.inner_text("[data-field=options]")
    assert not Project.objects.exists()
    page.fill("textarea[name=options]", OPTIONS)
    page.fill("input[name=candidate_threshold]", "0")
    page.click("button:has-text('Make the project')")
    page.wait_for_url(re.compile(r"/imports/$"))
    project = Project.objects.get(name="Kinds of message")
    assert project.metric_name == "macro-F1" and project.option_values == ["question", "work", "small-talk"]

    page.set_input_files("input[name=file]", str(corpus))
    page.click("button:has-text('Import')")
    page.wait_for_selector("#import-status:has-text('Done')", timeout=60_000)
    page.click("text=preprocess")
    made = int(page.inner_text("#preview-items").replace(",", ""))
    assert made > 0 and not Item.objects.filter(project=project).exists()
    page.fill("input[name=min_chars]", "20")
    page.press("input[name=min_chars]", "Tab")
    page.wait_for_function("made => Number(document.querySelector('#preview-items')?.textContent.replace(/,/g, '')) < made",
                           arg=made)
    page.wait_for_load_state("networkidle")
    fewer = int(page.inner_text("#preview-items").replace(",", ""))
    assert 0 < fewer < made
    screenshot("first-project-preprocess")
    page.click("#make-items")
    page.wait_for_url(re.compile(rf"/projects/{project.pk}/$"))
    assert Item.objects.filter(project=project).count() == fewer
    assert f"Made {fewer} items." in page.inner_text("#messages")

    page.click("text=Members")
    invite_form = page.locator("form:has(input[name=action][value=invite])")
    invite_form.locator("input[name=username]").fill("ivy")
    invite_form.locator("select[name=role]").select_option("annotator")
    invite_form.locator("button").click()
    link = page.input_value(".invite-link")

    newcomer = browser.new_context().new_page()
    newcomer.goto(link)
    newcomer.fill("input[name=new_password1]", "ivy-pass-9876")
    newcomer.fill("input[name=new_password2]", "ivy-pass-9876")
    newcomer.click("text=Set password")
    newcomer.fill("input[name=username]", "ivy")
    newcomer.fill("input[name=password]", "ivy-pass-9876")
    newcomer.click("button[type=submit]")
    newcomer.click("text=Kinds of message")
    newcomer.click("text=Start labelling")
    newcomer.wait_for_selector("#card[data-settled]")
    assert "small talk" in newcomer.inner_text("#card")
    for key in ["q", "w", "t"]:
        before = newcomer.get_attribute("#card", "data-item")
        newcomer.keyboard.press(key)
        newcomer.wait_for_function(
            "before => { const card = document.querySelector('#card');"
            " return card.dataset.item !== before && card.dataset.settled; }",
            arg=before,
        )
    labels = list(Annotation.objects.filter(annotator__username="ivy").order_by("id").values_list("option", flat=True))
    assert labels == ["question", "work", "small-talk"]
