"""A lead checks every label from the run page and works the whole-batch suspect queue."""

import pytest
from django.test import Client
from django.urls import reverse

from annotation import review
from annotation.batches import batch_create, batch_freeze
from annotation.models import BatchItem, Item
from scaling import selectors
from scaling.services import verdict_compute
from tests.scaling.factories import NEGATIVE, POSITIVE, finished_flat_run, frozen_noisy_batch, job_finish, make_ladder
from training import services
from training.examples import held_out_examples
from training.models import ItemDynamics, Run

pytestmark = pytest.mark.django_db


def other_option(option: str) -> str:
    return NEGATIVE if option == POSITIVE else POSITIVE


@pytest.fixture
def flat(project, lead, tmp_path):
    batch = frozen_noisy_batch(project, tmp_path / "corpus.jsonl")
    gold = dict(Item.objects.filter(project=project).values_list("pk", "gold"))
    run = finished_flat_run(batch, make_ladder("l", 3), gold)
    verdict_compute(run_id=run.pk)
    client = Client(enforce_csrf_checks=True)
    client.force_login(lead)
    return {"run": run, "batch": batch, "gold": gold, "client": client}



def test_the_run_page_shows_the_cost_and_the_check_starts_from_its_form(flat, project):
    client, run = flat["client"], flat["run"]
    page = client.get(reverse("runs:run_detail", args=[project.pk, run.pk]))
    html = page.content.decode()
    assert page.status_code == 200 and 'id="label-check"' in html
    assert "Cost: 6 more rung jobs, about " in html and "r1, r2" in html
    token = page.cookies["csrftoken"].value
    response = client.post(
        reverse("runs:run_label_check", args=[project.pk, run.pk]),
        {"folds": "3", "epochs_factor": "2", "csrfmiddlewaretoken": token},
    )
    checking = Run.objects.exclude(pk=run.pk).get()
    assert response.status_code == 302 and response["Location"].endswith(f"/runs/{checking.pk}/")
    shown = client.get(response["Location"]).content.decode()
    assert "checking every label" in shown and "all but fold 1 of 3" in shown and "reused, not trained again" in shown

    for job in checking.rung_jobs.folds():
        held_out, _, _ = held_out_examples(batch=flat["batch"], fold=job.fold, folds=3)
        job_finish(job, [int(example.key) for example in held_out], flat["gold"])
    verdict_compute(run_id=checking.pk)
    queue = client.get(reverse("scaling:run_suspects", args=[project.pk, checking.pk])).content.decode()
    assert "Every label of the batch" in queue and 'id="annotator-quality"' in queue
    assert "judging rungs answer" in queue and "sim-annotator-1" in queue
    agreement = client.get(reverse("annotation:agreement", args=[project.pk])).content.decode()
    assert 'id="annotator-ladder"' in agreement and "sim-annotator-1" in agreement


def test_bad_settings_are_422_with_the_reason_and_start_nothing(flat, project):
    client, run = flat["client"], flat["run"]
    token = client.get(reverse("runs:run_detail", args=[project.pk, run.pk])).cookies["csrftoken"].value
    response = client.post(
        reverse("runs:run_label_check", args=[project.pk, run.pk]),
        {"folds": "2.5", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 422 and "not a whole number" in response.content.decode()
    without_token = client.post(reverse("runs:run_label_check", args=[project.pk, run.pk]), {"folds": "3"})
    assert without_token.status_code == 403
    assert Run.objects.count() == 1


def test_a_suspect_is_fixed_in_one_click_from_the_queue_and_its_review_shows_the_ladder(flat, project):
    client, run = flat["client"], flat["run"]
    checking = services.label_check_request(run=run)
    for job in checking.rung_jobs.folds():
        held_out, _, _ = held_out_examples(batch=flat["batch"], fold=job.fold, folds=3)
        job_finish(job, [int(example.key) for example in held_out], flat["gold"])
    verdict = verdict_compute(run_id=checking.pk)
    suspect = next(entry for entry in verdict.suspects if entry["split"] == "train")
    item = Item.objects.get(pk=suspect["item_id"])
    review = client.get(reverse("annotation:item_review", args=[project.pk, item.pk]))
    html = review.content.decode()
    assert "The ladder's opinion" in html and "rungs trained without this item's fold" in html
    assert "not the label" in html and suspect["reason"].split(" (")[0].replace("'", "&#x27;") in html

    queue_url = reverse("scaling:run_suspects", args=[project.pk, checking.pk])
    token = client.get(queue_url).cookies["csrftoken"].value
    fixed = client.post(
        reverse("annotation:item_review", args=[project.pk, item.pk]),
        {"option": suspect["answer"], "expected_current": item.current_annotation_id, "next": queue_url,
         "reason": f"ladder suspect: {suspect['reason']}", "csrfmiddlewaretoken": token},
    )
    assert fixed.status_code == 302 and fixed["Location"] == queue_url
    item.refresh_from_db()
    assert item.label == suspect["answer"] == item.gold
    assert item.current_annotation.reason.startswith("ladder suspect: ")
    row = client.get(queue_url).content.decode()
    assert f'data-item="{item.pk}"' in row and "changed" in row
    elsewhere = client.post(
        reverse("annotation:item_review", args=[project.pk, item.pk]),
        {"option": item.label, "expected_current": item.current_annotation_id, "next": "https://elsewhere.example/",
         "csrfmiddlewaretoken": token},
    )
    assert elsewhere["Location"] == reverse("annotation:item_review", args=[project.pk, item.pk])


def test_a_run_started_from_the_batch_page_can_check_every_label_and_says_what_it_costs(flat, project):
    client, run = flat["client"], flat["run"]
    run.ladder.projects.add(project)
    batch_page = client.get(reverse("annotation:batch_detail", args=[project.pk, flat["batch"].pk]))
    html = batch_page.content.decode()
    assert 'name="label_check"' in html and "at the last measured speed about" in html
    response = client.post(
        reverse("runs:batch_run_start", args=[project.pk, flat["batch"].pk]),
        {"ladder": run.ladder.pk, "label_check": "on", "csrfmiddlewaretoken": batch_page.cookies["csrftoken"].value},
    )
    checking = Run.objects.exclude(pk=run.pk).get()
    assert response.status_code == 302 and checking.label_check["folds"] == 3
    # Only the judging rungs' fold jobs train: the full fine-tunes are the flat run's.
    assert set(checking.rung_jobs.filter(status="pending").values_list("fold", flat=True)) == {0, 1, 2}
    assert checking.rung_jobs.filter(status="pending").count() == 6


def test_regression_blame_reaches_train_items_through_the_label_check(flat, project, lead):
    run, gold = flat["run"], flat["gold"]
    checking = services.label_check_request(run=run)
    for job in checking.rung_jobs.folds():
        held_out, _, _ = held_out_examples(batch=flat["batch"], fold=job.fold, folds=3)
        job_finish(job, [int(example.key) for example in held_out], gold)
    verdict_compute(run_id=checking.pk)
    train = list(BatchItem.objects.filter(batch=flat["batch"], split=BatchItem.TRAIN).order_by("item_id")
                 .values_list("item_id", flat=True))
    against = [item_id for item_id in train if item_id not in flat["batch"].planted][:2]
    fixed = [item_id for item_id in train if item_id in flat["batch"].planted][:2]
    for item_id, option in [*((i, other_option(gold[i])) for i in against), *((i, gold[i]) for i in fixed)]:
        item = Item.objects.get(pk=item_id)
        review.item_review(item=item, lead=lead, option=option, reason="second look",
                           expected_current_id=item.current_annotation_id)
    revised = batch_freeze(batch=batch_create(project=project, name="revised",
                                              items=Item.objects.filter(batch_items__batch=flat["batch"])))
    later = finished_flat_run(revised, run.ladder, gold)
    rows = selectors.regression_blame(earlier=run, later=later, rung_name="r3")
    assert {row["item"].pk for row in rows[:2]} == set(against)
    by_item = {row["item"].pk: row for row in rows}
    assert all(by_item[i]["split"] == "train" and by_item[i]["blame"] > 0 for i in against)
    assert all(by_item[i]["blame"] < 0 for i in fixed)
    assert by_item[against[0]]["ladder_says"] == project.option_text(gold[against[0]])

    later_verdict = verdict_compute(run_id=later.pk)
    later_verdict.tuned = {**later_verdict.tuned, "f1": [f1 - 0.1 for f1 in later_verdict.tuned["f1"]]}
    later_verdict.save(update_fields=["tuned"])
    html = flat["client"].get(reverse("scaling:dashboard", args=[project.pk])).content.decode()
    blame = html[html.index('id="regression-blame"'):]
    assert "Regression blame: batch noisy → revised" in blame and "not in both eval splits" in blame
    assert reverse("annotation:item_review", args=[project.pk, against[0]]) in blame


def test_the_review_page_shows_how_each_rung_saw_a_train_item_while_training(flat, project):
    run = flat["run"]
    item_id = BatchItem.objects.filter(batch=flat["batch"], split=BatchItem.TRAIN).values_list("item_id", flat=True)[0]
    for job, area in zip(run.rung_jobs.full().order_by("rung__order"), [0.8, -0.4, -1.5]):
        ItemDynamics.objects.create(rung_job=job, item_id=item_id, area_under_margin=area, confidence=0.3,
                                    variability=0.1, seen=2)
    html = flat["client"].get(reverse("annotation:item_review", args=[project.pk, item_id])).content.decode()
    dynamics = html[html.index('id="training-dynamics"'):]
    assert f"run {run.pk}" in dynamics and dynamics.count(">resisted<") == 2 and "-1.50" in dynamics
