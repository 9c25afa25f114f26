"""A task of the lead's own on a worker: three options and no single positive one, from freeze to a
macro-F1 verdict, then learning curves on the same batch to the planning answers on the lead's pages."""

import pytest
from django.urls import reverse

from annotation import assignments, services as annotation_services
from annotation.importers import messages_import
from annotation.models import Batch, Item
from annotation.preprocessing import items_preprocess
from annotation.sample_corpus import SMALL_TALK, write_jsonl
from annotation.simulation import annotators_simulate
from scaling.models import Verdict
from tests.worker_process import wait_for
from training import services
from training.services.opinions import opinion_jobs
from training.examples import train_examples
from training.models import Prediction, Run, RungJob

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FAST = {"r": 8, "alpha": 16, "lr": 5e-3, "batch_tokens": 4096, "modules_to_save": ["lm_head"]}
INSTRUCTION = "What kind of chat message is this?"
OPTIONS = [
    {"value": "question", "text": "a question", "key": "q"},
    {"value": "work", "text": "a work update", "key": "w"},
    {"value": "small-talk", "text": "small talk", "key": "s"},
]
SMALL_TALK_OPENINGS = tuple(template.split("{")[0] for template in SMALL_TALK)


def kind_of(text: str) -> str:
    """The task's gold answer, a rule the ladder can learn from the message alone."""
    if "?" in text:
        return "question"
    return "small-talk" if text.startswith(SMALL_TALK_OPENINGS) else "work"


def test_a_three_option_task_is_judged_by_macro_f1_from_freeze_to_verdict(
    celery_worker_process, project, tiny_ladder, tmp_path, client, django_user_model
):
    project.instruction, project.options = INSTRUCTION, OPTIONS
    project.positive_option, project.abstain_options, project.shuffle_options = "", [], False
    # Every turn is an item, not only the ones the seed task's heuristic picks; the answer is in
    # the message itself, so one turn of context keeps the prompts (and the training) short.
    project.candidate_threshold, project.context_window = 0.0, 1
    # The ladder's opinion of the items still open: the queue's order and the annotators' suggestion.
    project.informative_first, project.suggest_labels = True, True
    project.save()
    corpus = tmp_path / "corpus.jsonl"
    write_jsonl(path=corpus, messages=3000, seed=11)
    messages_import(project=project, path=corpus)
    items_preprocess(project=project)
    for item in Item.objects.filter(project=project):
        item.gold = kind_of(item.text)
        item.save(update_fields=["gold"])
    rungs = [{**rung, "size_class": "cpu", "hyperparameters": FAST} for rung in tiny_ladder]
    ladder = services.ladder_register(name="three-option", rungs=rungs, projects=[project])

    result = annotators_simulate(project=project, accuracy=1.0, limit=520, seed=2, batch_name="own task")
    batch = Batch.objects.get(pk=result.batch_id)
    assert set(batch.batch_items.values_list("label", flat=True)) == {"question", "work", "small-talk"}
    prompt = train_examples(batch=batch)[0].prompt
    assert prompt.startswith(INSTRUCTION) and "A: a question\nB: a work update\nC: small talk" in prompt

    run = Run.objects.get(batch=batch, ladder=ladder)
    run = wait_for(lambda: Run.objects.filter(pk=run.pk, status=Run.DONE).first(), 600, "the run to finish")
    for job in run.rung_jobs.all():
        assert job.status == RungJob.DONE, job.error
        assert job.metrics["tuned"]["metric"] == "macro-F1" and job.metrics["tuned"]["auc"] is None
        answered = set(Prediction.objects.filter(rung_job=job).values_list("option", flat=True))
        assert answered <= {"question", "work", "small-talk"}
    verdict = wait_for(lambda: Verdict.objects.filter(run=run).first(), 60, "the verdict")
    assert verdict.tuned["metric"] == "macro_f1"
    assert verdict.kind in {Verdict.MONOTONE, Verdict.BREAK, Verdict.FLAT, Verdict.TOO_FEW_ITEMS}
    assert len(verdict.tuned["f1"]) == len(tiny_ladder)
    run = ladder_opinion_serves_the_least_certain_first(project=project, run=run, client=client,
                                                        django_user_model=django_user_model)
    project.informative_first, project.suggest_labels = False, False
    project.save(update_fields=["informative_first", "suggest_labels"])

    # Halving subsets of the same train split: 4 train sizes per rung, the full fine-tunes reused.
    curves = services.run_request(batch=batch, ladder=ladder, learning_curve=True)
    assert curves.pk != run.pk and batch.train_count >= 400
    curves = wait_for(lambda: Run.objects.filter(pk=curves.pk, status=Run.DONE).first(), 600, "the learning curves")
    full = {job.rung_id: job.pk for job in run.rung_jobs.all()}
    for job in curves.rung_jobs.all():
        assert job.status == RungJob.DONE, job.error
        if job.train_size is None:
            assert job.reused_from_id == full[job.rung_id]
    verdict = wait_for(lambda: Verdict.objects.filter(run=curves).first(), 120, "the learning curves' verdict")
    fitted = verdict.fits["learning_curves"]
    assert set(fitted) == {rung["name"] for rung in tiny_ladder}
    assert all(len(curve["points"]) == 4 and "rectified" in curve for curve in fitted.values())

    lead = django_user_model.objects.create_user("lead-of-own-task", password="x")
    project.memberships.create(user=lead, role="lead")
    client.force_login(lead)
    page = client.get(reverse("scaling:dashboard", args=[project.pk])).content.decode()
    assert "macro-F1 by model size" in page and "Tuned macro-F1" in page
    # The three answers: which model, how many more labels, label more or go bigger.
    assert "Which model for the full batch?" in page and 'id="planning-labels"' in page
    assert 'id="planning-best-option"' in page or "Label more, or go bigger?" in page
    batch_page = client.get(reverse("annotation:batch_detail", args=[project.pk, batch.pk])).content.decode()
    assert 'id="rung-recommendation"' in batch_page
    run_page = client.get(reverse("runs:run_detail", args=[project.pk, run.pk])).content.decode()
    assert 'id="opinions"' in run_page and f"scored {run.opinions['items']} open items" in run_page


def ladder_opinion_serves_the_least_certain_first(*, project, run, client, django_user_model) -> Run:
    """The finished run's largest rungs score the open items on the worker; the queue and the card use it."""
    run = wait_for(
        lambda: Run.objects.filter(pk=run.pk, opinions__state__in=["done", "failed", "skipped"]).first(),
        300, "the ladder's opinion of the open items",
    )
    assert run.opinions["state"] == "done", run.opinions
    judges = [job.rung.name for job in opinion_jobs(run)]
    assert run.opinions["rungs"] == judges and len(judges) >= 2
    open_items = Item.objects.filter(project=project, annotation_count=0)
    scored = open_items.exclude(suggestion_run=None)
    assert scored.count() == run.opinions["items"] > 0
    assert not Item.objects.filter(batch_items__batch=run.batch, suggestion_run=run.pk).exists()
    assert set(scored.values_list("suggestion", flat=True)) <= {"question", "work", "small-talk"}
    assert all(0 <= item.suggestion_margin <= item.suggestion_probability <= 1 for item in scored)
    ranked = list(scored.order_by("suggestion_margin", "id"))
    half = len(ranked) // 2
    unsure = sum(item.suggestion == kind_of(item.text) for item in ranked[:half]) / half
    sure = sum(item.suggestion == kind_of(item.text) for item in ranked[half:]) / (len(ranked) - half)
    # Uncertainty sampling's premise: where the ladder is least sure, it is wrong more often
    # (here, two tiny rungs: 0.33 right in the unsure half, 0.61 in the sure one, of 2,000 items).
    assert sure > unsure

    newcomer = django_user_model.objects.create_user("newcomer", password="x")
    annotation_services.membership_set(project=project, user=newcomer, role="annotator")
    least_certain = scored.order_by("suggestion_margin", "id").first()
    lease = assignments.assignment_claim_next(project=project, annotator=newcomer)
    assert lease.item_id == least_certain.pk
    client.force_login(newcomer)
    card = client.get(reverse("annotation:label", args=[project.pk])).content.decode()
    assert 'id="suggestion"' in card and project.option_text(least_certain.suggestion) in card
    return run
