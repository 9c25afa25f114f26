"""Was the law right? Stored predictions against what later batches' runs measured on the same rung."""

from datetime import timedelta

import pytest

from scaling import selectors
from scaling.models import LawPrediction
from scaling.services import law_predictions_record, verdict_compute
from tests.scaling.factories import (
    add_learning_curves, make_batch, make_labelled_items, make_ladder, make_measured_run, make_run,
)
from tests.scaling.selectors.test_planning_selectors import FULL, joint_loss, seconds_per_example
from training.models import Run

pytestmark = pytest.mark.django_db

# What the later batch measures: a little worse than the generating law.
WORSE_BY = 0.02


def measured_loss(rung, size):
    return joint_loss(rung, size) + WORSE_BY


def predictions_made(project, annotator) -> dict:
    """Run 1 of batch week-1 (1600 train examples) with five rungs' learning curves, its predictions stored."""
    labels = make_labelled_items(project, annotator, 40)
    ladder = make_ladder("l", 5)
    run = make_run(make_batch(project, labels, name="week-1"), ladder, accuracies=[0.6, 0.7, 0.8, 0.85, 0.9])
    verdict = add_learning_curves(verdict_compute(run_id=run.pk), loss=joint_loss,
                                  seconds_per_example=seconds_per_example)
    law_predictions_record(verdict=verdict)
    return {"project": project, "labels": labels, "ladder": ladder, "run": verdict.run}


@pytest.fixture
def predicted(project, annotator):
    return predictions_made(project, annotator)


def later_run(predicted, *, name="week-2", train_count=2 * FULL, **kwargs) -> Run:
    batch = make_batch(predicted["project"], predicted["labels"], name=name)
    return make_measured_run(batch, predicted["ladder"], loss=measured_loss, train_count=train_count, **kwargs)


def test_a_later_batch_on_twice_the_labels_measures_each_law_s_2x_prediction(predicted):
    later = later_run(predicted)
    record = selectors.law_track_record(project=predicted["project"])
    rows = record["rows"]
    assert len(rows) == 5 * 3
    assert {(row["multiple"], row["predicted_train_size"], row["measured_train_size"]) for row in rows} == {
        (2, 2 * FULL, 2 * FULL)
    }
    rungs = {rung.name: rung for rung in predicted["ladder"].rungs.all()}
    for row in rows:
        stored = LawPrediction.objects.get(run=predicted["run"], rung__name=row["rung"], law=row["law"],
                                           train_size=2 * FULL)
        assert (row["predicting_run_id"], row["predicting_batch"]) == (predicted["run"].pk, "week-1")
        assert (row["measuring_run_id"], row["measuring_batch"]) == (later.pk, "week-2")
        assert row["predicted_loss"] == stored.predicted_loss
        assert row["measured_loss"] == pytest.approx(measured_loss(rungs[row["rung"]], 2 * FULL))
        assert row["error"] == pytest.approx(row["measured_loss"] - row["predicted_loss"])
        assert row["measured_f1"] == 0.8
    rectified = [row for row in rows if row["law"] == LawPrediction.RECTIFIED]
    # The rectified law found the generating law: it is off by about what the later batch added.
    assert all(row["error"] == pytest.approx(WORSE_BY, abs=0.01) for row in rectified)
    assert all(row["within_interval"] is not None for row in rectified)
    laws = {entry["law"]: entry for entry in record["laws"]}
    assert [entry["law"] for entry in record["laws"]] == selectors.LAW_ORDER
    errors = [row["error"] for row in rectified]
    assert laws["rectified"]["count"] == 5
    assert laws["rectified"]["mean_signed_error"] == pytest.approx(sum(errors) / 5)
    assert laws["rectified"]["mean_absolute_error"] == pytest.approx(sum(abs(error) for error in errors) / 5)
    assert record["next_measurement"] is None


@pytest.mark.parametrize("train_count, matched", [
    (2500, None), (int(2 * FULL * 0.85), 2), (int(2 * FULL * 0.84), None),
    (int(2 * FULL * 1.15), 2), (int(2 * FULL * 1.16), None), (FULL + 100, 1),
])
def test_only_a_train_size_within_the_tolerance_measures_a_prediction(predicted, train_count, matched):
    later_run(predicted, train_count=train_count)
    rows = selectors.law_track_record(project=predicted["project"])["rows"]
    assert {row["multiple"] for row in rows} == ({matched} if matched else set())


def test_a_learning_curve_s_subset_jobs_measure_too(predicted):
    later_run(predicted, train_count=8 * FULL, subsets=(4 * FULL, FULL))
    rows = selectors.law_track_record(project=predicted["project"])["rows"]
    assert sorted({(row["multiple"], row["measured_train_size"]) for row in rows}) == [
        (1, FULL), (4, 4 * FULL), (8, 8 * FULL)
    ]


def test_the_predicting_batch_and_earlier_runs_measure_nothing(predicted):
    same_batch = make_measured_run(predicted["run"].batch, predicted["ladder"], loss=measured_loss,
                                   train_count=2 * FULL)
    earlier = later_run(predicted, name="week-0")
    Run.objects.filter(pk=earlier.pk).update(created_at=predicted["run"].created_at - timedelta(days=1))
    assert selectors.law_track_record(project=predicted["project"])["rows"] == []
    assert same_batch.batch_id == predicted["run"].batch_id


def test_a_result_copied_into_another_run_is_one_measurement(predicted):
    later = later_run(predicted)
    copies = {job.rung.name: job for job in later.rung_jobs.full().select_related("rung")}
    # A label check of the later batch reuses its full fine-tunes.
    later_run(predicted, name="week-2-checked", reused_from=copies)
    rows = selectors.law_track_record(project=predicted["project"])["rows"]
    assert len(rows) == 5 * 3 and {row["measuring_run_id"] for row in rows} == {later.pk}
    # A later batch whose jobs reuse the predicting run's own results measures nothing new.
    own = {job.rung.name: job for job in predicted["run"].rung_jobs.full().select_related("rung")}
    later_run(predicted, name="week-1-again", train_count=FULL, reused_from=own)
    assert {row["multiple"] for row in selectors.law_track_record(project=predicted["project"])["rows"]} == {2}


def test_with_nothing_measured_it_names_the_point_that_would_test_the_law(predicted, project):
    record = selectors.law_track_record(project=project)
    assert record["rows"] == [] and record["laws"] == []
    assert record["predictions"] == 5 * 3 * 4
    following = record["next_measurement"]
    assert (following["rung"], following["train_size"], following["multiple"]) == ("r4", 2 * FULL, 2)
    assert (following["law"], following["run_id"], following["batch"]) == ("rectified", predicted["run"].pk, "week-1")
    assert following["interval_low"] <= following["predicted_loss"] <= following["interval_high"]


def test_without_predictions_there_is_nothing_to_measure(project, annotator):
    labels = make_labelled_items(project, annotator, 20)
    make_run(make_batch(project, labels, name="plain"), make_ladder("p", 2), accuracies=[0.6, 0.7])
    record = selectors.law_track_record(project=project)
    assert (record["predictions"], record["rows"], record["next_measurement"]) == (0, [], None)


def test_for_one_run_only_the_points_it_predicted_or_measured(predicted):
    later = later_run(predicted)
    project = predicted["project"]
    other = later_run(predicted, name="week-3", train_count=2500)
    assert len(selectors.law_track_record(project=project, run=predicted["run"])["rows"]) == 15
    measuring = selectors.law_track_record(project=project, run=later)
    assert len(measuring["rows"]) == 15 and measuring["predictions"] == 0
    alone = selectors.law_track_record(project=project, run=other)
    assert (alone["rows"], alone["laws"], alone["next_measurement"]) == ([], [], None)
