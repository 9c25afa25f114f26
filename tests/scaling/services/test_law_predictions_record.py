"""A run's laws' predictions are stored with their inputs when its verdict is computed, once each."""

import pytest

from scaling import selectors
from scaling.models import LawPrediction
from scaling.services import law_predictions_record, verdict_compute
from tests.scaling.factories import (
    add_learning_curves, make_batch, make_labelled_items, make_ladder, make_measured_run, make_run,
)
from tests.scaling.selectors.test_planning_selectors import FULL, joint_loss, seconds_per_example

pytestmark = pytest.mark.django_db

LAWS = {LawPrediction.RECTIFIED, LawPrediction.JOINT, LawPrediction.ACCEPT_THEN_STOP}


@pytest.fixture
def verdict(project, annotator):
    labels = make_labelled_items(project, annotator, 60)
    run = make_run(make_batch(project, labels, name="week-1"), make_ladder("l", 5),
                   accuracies=[0.6, 0.7, 0.8, 0.85, 0.9])
    return add_learning_curves(verdict_compute(run_id=run.pk), loss=joint_loss,
                               seconds_per_example=seconds_per_example)


def test_each_law_s_prediction_is_stored_with_its_interval_parameters_and_points(verdict):
    law_predictions_record(verdict=verdict)
    stored = LawPrediction.objects.filter(run=verdict.run)
    assert stored.count() == 5 * 3 * 4
    assert {(row.law, row.multiple, row.train_size) for row in stored} == {
        (law, multiple, multiple * FULL) for law in LAWS for multiple in (1, 2, 4, 8)
    }
    r2 = verdict.run.ladder.rungs.get(name="r2")
    rectified = stored.get(rung=r2, law=LawPrediction.RECTIFIED, multiple=4)
    assert rectified.predicted_loss == pytest.approx(joint_loss(r2, 4 * FULL), rel=0.03)
    assert rectified.interval_low <= rectified.predicted_loss <= rectified.interval_high
    assert set(rectified.params) == {"B", "E", "D_l", "beta"}
    curve = verdict.fits["learning_curves"]["r2"]
    assert [[point["train_size"], point["loss"]] for point in rectified.points] == curve["points"]
    assert [point["stderr"] for point in rectified.points] == curve["stderr"]
    # The same answer the planning section shows for 4x.
    shown = {rung["name"]: rung for rung in selectors.run_planning(verdict=verdict)["rungs"]}["r2"]["at"][2]
    assert shown["loss"]["value"] == pytest.approx(rectified.predicted_loss)

    joint = stored.get(rung=r2, law=LawPrediction.JOINT, multiple=8)
    assert joint.predicted_loss == pytest.approx(joint_loss(r2, 8 * FULL), rel=0.03)
    assert joint.params["model_size"] == r2.parameters and len(joint.points) == 25
    ats = stored.get(rung=r2, law=LawPrediction.ACCEPT_THEN_STOP, multiple=2)
    assert ats.interval_low is None and {"slope", "intercept", "accepted_sizes"} <= set(ats.params)
    assert all(row.predicted_f1 is None for row in stored)


def test_recording_again_updates_the_same_rows(verdict):
    first = {row.pk: row.predicted_loss for row in law_predictions_record(verdict=verdict)}
    curves = verdict.fits["learning_curves"]
    curves["r0"]["points"] = [[size, loss * 1.1] for size, loss in curves["r0"]["points"]]
    verdict.save(update_fields=["fits"])
    again = law_predictions_record(verdict=verdict)
    assert {row.pk for row in again} == set(first)
    assert LawPrediction.objects.filter(run=verdict.run).count() == len(first)
    moved = next(row for row in again if row.rung.name == "r0" and row.law == LawPrediction.RECTIFIED)
    assert moved.predicted_loss == pytest.approx(first[moved.pk] * 1.1, rel=0.02)


def test_a_verdict_recomputed_without_fitted_curves_keeps_no_stale_prediction(verdict):
    law_predictions_record(verdict=verdict)
    # The subset jobs scored nothing: recomputed, each rung has one point left and no law fits.
    verdict_compute(run_id=verdict.run_id)
    assert not LawPrediction.objects.filter(run=verdict.run).exists()


def test_computing_a_learning_curve_run_s_verdict_stores_its_predictions_once(project, annotator):
    labels = make_labelled_items(project, annotator, 30)
    ladder = make_ladder("l", 3)
    # Three train sizes per rung: too few for the rectified law, enough for the joint law over the grid.
    run = make_measured_run(make_batch(project, labels, name="week-1"), ladder, loss=joint_loss,
                            train_count=FULL, subsets=(400, 800))
    verdict_compute(run_id=run.pk)
    stored = LawPrediction.objects.filter(run=run)
    assert {row.law for row in stored} == {LawPrediction.JOINT} and stored.count() == 3 * 4
    r1 = ladder.rungs.get(name="r1")
    # Measured exactly on the generating law, the joint law finds it again.
    assert stored.get(rung=r1, multiple=2).predicted_loss == pytest.approx(joint_loss(r1, 2 * FULL), rel=0.03)
    verdict_compute(run_id=run.pk)
    assert LawPrediction.objects.filter(run=run).count() == 3 * 4
