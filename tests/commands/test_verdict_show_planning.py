"""verdict_show prints a learning-curve run's planning answers and how its laws' predictions fared."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from scaling.services import verdict_compute
from tests.scaling.factories import make_batch, make_labelled_items, make_ladder, make_measured_run, make_run
from tests.scaling.selectors.test_law_track_record import predictions_made
from tests.scaling.selectors.test_planning_selectors import FULL, joint_loss

pytestmark = pytest.mark.django_db


def run_command(*args, **options) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue()


@pytest.fixture
def predicted(project, annotator):
    return predictions_made(project, annotator)


def test_it_prints_the_rung_to_train_the_losses_at_2_4_8x_and_what_would_test_the_law(predicted):
    shown = run_command("verdict_show", predicted["run"].pk, "--target-loss", "0.34")
    assert f"which rung for the full batch ({FULL} train examples): r4 (10B), predicted eval loss" in shown
    assert "loss at 2x" in shown and "loss at 8x" in shown and "examples for loss 0.340" in shown
    assert "  Accept then Stop ranks r4, " in shown and "  the backtested bend ranks r" in shown
    # r2's line of the tuned F1 table, then its line of the planning table.
    _, r2 = [line for line in shown.splitlines() if line.startswith("r2 ")]
    assert r2.count("–") == 3 and "labels to add" in r2
    assert f"nothing measured yet: train r4 on a later batch with about {2 * FULL} train examples" in shown


def test_after_a_later_batch_it_prints_each_law_s_error_and_json_carries_the_same(predicted):
    later = make_measured_run(make_batch(predicted["project"], predicted["labels"], name="week-2"),
                              predicted["ladder"], loss=lambda rung, size: joint_loss(rung, size) + 0.02,
                              train_count=2 * FULL)
    shown = run_command("verdict_show", predicted["run"].pk)
    assert "was the law right? (later runs on the same rung and train size, ±15%)" in shown
    assert "Rectified law: 5 points, mean absolute error" in shown and "Accept then Stop: 5 points" in shown
    assert f"r4 Rectified law, 2x: run {predicted['run'].pk} predicted" in shown
    assert f"run {later.pk} measured" in shown
    report = json.loads(run_command("verdict_show", predicted["run"].pk, "--json", "--target-loss", "0.34"))
    assert report["run"]["id"] == predicted["run"].pk
    assert report["planning"]["recommendation"]["full"]["recommended"]["name"] == "r4"
    assert report["planning"]["target_loss"] == 0.34
    record = report["law_track_record"]
    assert len(record["rows"]) == 15 and [law["count"] for law in record["laws"]] == [5, 5, 5]
    # The later run's own report shows the points it measured.
    measured = json.loads(run_command("verdict_show", later.pk, "--json"))["law_track_record"]
    assert len(measured["rows"]) == 15 and measured["predictions"] == 0


def test_a_plain_run_says_it_has_no_predictions(project, annotator):
    labels = make_labelled_items(project, annotator, 20)
    run = make_run(make_batch(project, labels, name="plain"), make_ladder("p", 2), accuracies=[0.6, 0.7])
    verdict_compute(run_id=run.pk)
    shown = run_command("verdict_show", run.pk)
    assert "which rung" not in shown and "this run made no predictions (no learning curves)" in shown
    assert json.loads(run_command("verdict_show", run.pk, "--json"))["planning"] is None


@pytest.mark.parametrize("typed", ["0", "-1", "nan", "inf"])
def test_a_target_loss_that_is_not_above_0_is_refused_by_name(predicted, typed):
    with pytest.raises(CommandError, match="--target-loss must be a number above 0"):
        run_command("verdict_show", predicted["run"].pk, "--target-loss", typed)
