"""The planning answers read from a verdict's learning curves: which rung, how many labels, which option."""

import json
import math

import pytest

from annotation.models import Batch
from scaling import planning, selectors
from scaling.services import verdict_compute
from tests.scaling.factories import (
    POSITIVE, add_learning_curves, make_batch, make_labelled_items, make_ladder, make_run,
)
from training.models import Prediction, Run, RungJob

pytestmark = pytest.mark.django_db

FULL = 1600
JOINT = {"A": 27.0, "alpha": 0.15, "beta": 0.3, "E": 0.25}


def joint_loss(rung, size):
    return planning.multiplicative_loss(JOINT, rung.parameters, size)


def seconds_per_example(rung):
    return 1e-3 * (rung.parameters / 1e6) ** 0.4


@pytest.fixture
def verdict(project, annotator):
    """Five rungs (1M–10B) whose learning curves follow the joint law; 200 eval items and 1600 train."""
    labels = make_labelled_items(project, annotator, 200)
    run = make_run(make_batch(project, labels, name="week-1"), make_ladder("l", 5),
                   accuracies=[0.6, 0.7, 0.8, 0.85, 0.9])
    return add_learning_curves(verdict_compute(run_id=run.pk), loss=joint_loss,
                               seconds_per_example=seconds_per_example)


def test_nothing_to_plan_without_learning_curves(project, annotator):
    labels = make_labelled_items(project, annotator, 40)
    run = make_run(make_batch(project, labels, name="b"), make_ladder("l", 2), accuracies=[0.6, 0.7])
    verdict = verdict_compute(run_id=run.pk)
    assert selectors.run_planning(verdict=verdict) is None
    assert selectors.rung_recommendation(verdict=verdict) is None
    assert selectors.run_planning(verdict=None) is None


def test_the_recommendation_is_the_rung_the_law_expects_lowest_on_the_full_batch(verdict):
    data = selectors.run_planning(verdict=verdict)
    full, double = data["recommendation"]["full"], data["recommendation"]["double"]
    assert data["full_train_size"] == FULL
    assert full["target_size"] == FULL and double["target_size"] == 2 * FULL
    assert full["recommended"]["name"] == "r4" and full["recommended"]["size"] == "10B"
    predicted = full["recommended"]["predicted"]
    assert predicted["low"] <= predicted["value"] <= predicted["high"]
    assert predicted["value"] == pytest.approx(joint_loss(verdict.run.ladder.rungs.get(name="r4"), FULL), rel=0.01)
    assert full["ats_order"][0] == "r4" and full["agrees"]
    assert sorted(full["bend_order"]) == sorted(full["ats_order"])
    assert full["bend_agrees"] == (full["bend_order"][0] == "r4")
    assert [row["name"] for row in data["recommendation"]["rows"]] == ["r4", "r3", "r2", "r1", "r0"]
    assert selectors.rung_recommendation(verdict=verdict)["full"] == full


def test_each_rung_predicts_2_4_8_times_the_labels_with_intervals(verdict):
    rungs = {rung["name"]: rung for rung in selectors.run_planning(verdict=verdict)["rungs"]}
    assert list(rungs) == ["r0", "r1", "r2", "r3", "r4"]
    r2 = verdict.run.ladder.rungs.get(name="r2")
    at = {entry["multiple"]: entry for entry in rungs["r2"]["at"]}
    assert sorted(at) == [1, 2, 4, 8]
    for multiple in (2, 4, 8):
        loss = at[multiple]["loss"]
        assert at[multiple]["train_size"] == multiple * FULL
        assert loss["low"] <= loss["value"] <= loss["high"]
        assert loss["value"] == pytest.approx(joint_loss(r2, multiple * FULL), rel=0.03)
    assert rungs["r2"]["interval_source"] in {"residuals", "standard errors"}
    fitted = rungs["r2"]["fitted"]
    assert fitted[0]["x"] == pytest.approx(FULL / 16) and fitted[-1]["x"] == pytest.approx(8 * FULL)


def test_labels_for_a_target_loss_count_the_eval_share_too(verdict):
    r2 = verdict.run.ladder.rungs.get(name="r2")
    target = joint_loss(r2, 3 * FULL)
    data = selectors.run_planning(verdict=verdict, target_loss=target)
    needed = {rung["name"]: rung["labels_needed"] for rung in data["rungs"]}["r2"]
    assert needed["reachable"] and needed["size"] == pytest.approx(3 * FULL, rel=0.1)
    # 1600 train of 1800 items: each train example costs 1800/1600 labels.
    assert data["train_share"] == pytest.approx(FULL / (FULL + 200))
    assert needed["extra_labels"] == math.ceil((needed["size"] - FULL) / data["train_share"])


def test_a_target_below_every_floor_is_not_reachable(verdict):
    data = selectors.run_planning(verdict=verdict, target_loss=0.01)
    for rung in data["rungs"]:
        assert not rung["labels_needed"]["reachable"]
        assert rung["labels_needed"]["reason"].startswith("not reachable: the fitted floor")


def test_options_cover_every_rung_and_multiple_within_the_run_s_cost_by_default(verdict):
    data = selectors.run_planning(verdict=verdict)
    run_cost = sum(seconds_per_example(rung) * FULL + 2.0 for rung in verdict.run.ladder.rungs.all())
    assert data["run_cost_seconds"] == pytest.approx(run_cost)
    options = data["options"]
    assert options["budget_seconds"] == pytest.approx(run_cost)
    assert len(options["rows"]) == 5 * 4
    affordable = [row for row in options["rows"] if row["within_budget"]]
    best = min(affordable, key=lambda row: row["predicted"]["value"])
    assert options["best"]["name"] == best["name"] and options["best"]["multiple"] == best["multiple"]
    assert [row for row in options["rows"] if row["best"]] == [best]
    for row in options["rows"]:
        assert row["extra_labels"] == math.ceil(row["extra_examples"] / data["train_share"])


def test_a_smaller_budget_chooses_among_cheaper_options(verdict):
    options = selectors.run_planning(verdict=verdict, budget_seconds=10.0)["options"]
    assert options["budget_seconds"] == 10.0
    assert options["best"]["seconds"] <= 10.0
    assert all(row["seconds"] <= 10.0 for row in options["rows"] if row["within_budget"])


def test_a_rung_without_enough_points_is_named_with_its_reason(verdict):
    curves = verdict.fits["learning_curves"]
    curves["r0"] = {"points": curves["r0"]["points"][-3:], "stderr": curves["r0"]["stderr"][-3:]}
    verdict.save(update_fields=["fits"])
    data = selectors.run_planning(verdict=verdict)
    r0 = data["rungs"][0]
    assert not r0["answered"] and "has 3" in r0["reason"]
    assert data["recommendation"]["full"]["unranked"] == [{"name": "r0", "reason": r0["reason"]}]


def test_untimed_full_fine_tunes_leave_the_budget_to_the_lead(verdict):
    RungJob.objects.filter(run=verdict.run, train_size__isnull=True).update(train_seconds=None)
    data = selectors.run_planning(verdict=verdict)
    assert data["options"] is None and "not timed" in data["options_reason"]
    assert selectors.run_planning(verdict=verdict, budget_seconds=50.0)["options"]["budget_seconds"] == 50.0


def test_the_dashboard_draws_the_fitted_lines_and_the_options(project, verdict):
    context = selectors.dashboard(project=project)
    charts = json.loads(json.dumps(context["charts"]))
    assert all(rung["fitted"] for rung in charts["curves"]["rungs"])
    assert len(charts["options_chart"]["rows"]) == 20
    assert sum(row["best"] for row in charts["options_chart"]["rows"]) == 1


def test_the_verdict_stores_each_learning_curve_point_s_standard_error(project, annotator):
    """Subset jobs' predictions as the worker writes them: the stored curve carries each mean's standard error."""
    labels = make_labelled_items(project, annotator, 40)
    run = make_run(make_batch(project, labels, name="b"), make_ladder("l", 2), accuracies=[0.6, 0.7])
    Run.objects.filter(pk=run.pk).update(learning_curve=True)
    Batch.objects.filter(pk=run.batch_id).update(train_count=40)
    rung = run.ladder.rungs.get(name="r1")
    job = RungJob.objects.create(run=run, rung=rung, train_size=20, status=RungJob.DONE)
    Prediction.objects.bulk_create(
        Prediction(rung_job=job, item_id=item.pk, stage=Prediction.TUNED, option=POSITIVE, label=label,
                   scores={POSITIVE: 0.0, "no_extraction": float(index % 2), "dont_know": -5.0}, margin=0.0)
        for index, (item, label) in enumerate(labels.items())
    )
    curve = verdict_compute(run_id=run.pk).fits["learning_curves"]["r1"]
    assert [point[0] for point in curve["points"]] == [20, 40]
    assert len(curve["stderr"]) == 2 and all(error > 0 for error in curve["stderr"])
