"""Stored verdicts shaped for the dashboard, the banners and the suspect queue."""

import pytest

from annotation import review
from scaling import selectors
from scaling.models import Verdict
from scaling.services import verdict_compute
from tests.scaling.factories import NEGATIVE, POSITIVE, make_batch, make_labelled_items, make_ladder, make_run
from training.models import Prediction, Run

pytestmark = pytest.mark.django_db


@pytest.fixture
def labels(project, annotator):
    return make_labelled_items(project, annotator, 240)


@pytest.fixture
def rising(project, labels):
    batch = make_batch(project, labels, name="week-1")
    run = make_run(batch, make_ladder("ladder", 4), accuracies=[0.6, 0.7, 0.8, 0.9])
    return verdict_compute(run_id=run.pk)


class TestBanner:
    def test_without_a_run_there_is_nothing_to_wait_for(self, project):
        banner = selectors.verdict_banner(project=project)
        assert banner["kind"] == "none" and banner["finished"]

    def test_a_training_run_keeps_the_banner_polling(self, project, labels):
        run = make_run(make_batch(project, labels, name="b"), make_ladder("l", 2), accuracies=[0.6, 0.7])
        Run.objects.filter(pk=run.pk).update(status=Run.RUNNING)
        banner = selectors.verdict_banner(project=project)
        assert banner["kind"] == "training" and not banner["finished"]
        assert (banner["rungs_done"], banner["rungs_total"]) == (2, 2)

    def test_a_final_run_without_its_verdict_yet_still_polls(self, project, labels):
        make_run(make_batch(project, labels, name="b"), make_ladder("l", 2), accuracies=[0.6, 0.7])
        assert not selectors.verdict_banner(project=project)["finished"]

    def test_a_judged_run_shows_its_verdict_and_stops(self, project, rising):
        banner = selectors.verdict_banner(project=project)
        assert banner["verdict"] == rising and banner["kind"] == Verdict.MONOTONE and banner["finished"]

    def test_a_batch_banner_shows_that_batch_s_run(self, project, labels, rising):
        other = make_batch(project, labels, name="week-2")
        banner = selectors.verdict_banner(project=project, batch=other)
        assert banner["run"] is None and banner["scope"] == "batch"
        assert selectors.verdict_banner(project=project)["run"] == rising.run


class TestCharts:
    def test_f1_by_size_pairs_base_and_tuned_with_intervals(self, rising):
        data = selectors.f1_by_size(verdict=rising)
        assert data["names"] == ["r0", "r1", "r2", "r3"]
        assert data["size_labels"] == ["1M", "10M", "100M", "1B"]
        for stage in ("base", "tuned"):
            series = data[stage]
            assert all(low <= f1 <= high for low, f1, high in zip(series["ci_low"], series["f1"], series["ci_high"]))
        assert [row["tuned_f1"] for row in data["rows"]] == rising.tuned["f1"]

    def test_power_overlay_extrapolates_one_size_past_the_ladder(self, rising):
        data = selectors.power_law_overlay(verdict=rising)
        assert data["next"]["x"] == 2e9 and data["next"]["label"] == "2B"
        assert data["curve"][0]["x"] == pytest.approx(1e6) and data["curve"][-1]["x"] == pytest.approx(2e9)
        assert data["curve"][-1]["y"] == pytest.approx(rising.fits["power"]["next_f1"])
        assert data["rows"][-1]["observed"] is None

    def test_category_growth_lists_each_category(self, rising):
        data = selectors.category_growth(verdict=rising)
        assert {entry["category"] for entry in data["categories"]} == {"easy", "hard"}

    def test_learning_curves_are_absent_without_subset_runs(self, rising):
        assert selectors.learning_curves(verdict=rising) is None

    def test_learning_curves_give_loss_by_size_per_rung(self, rising):
        rising.fits["learning_curves"] = {"r0": {"points": [[50, 0.9], [100, 0.7]]}, "r1": {"points": [[100, 0.6]]}}
        data = selectors.learning_curves(verdict=rising)
        assert data["sizes"] == [50, 100]
        assert [rung["loss_by_size"] for rung in data["rungs"]] == [[0.9, 0.7], [None, 0.6]]

    def test_one_line_per_batch_across_batches(self, project, labels, rising):
        later = make_run(make_batch(project, labels, name="week-2"), rising.run.ladder, accuracies=[0.7, 0.8, 0.9, 0.95], seed=1)
        verdict_compute(run_id=later.pk)
        data = selectors.f1_across_batches(project=project)
        assert [series["batch"] for series in data["series"]] == ["week-1", "week-2"]
        assert data["names"] == ["r0", "r1", "r2", "r3"]

    def test_the_dashboard_sends_only_plain_numbers_to_the_charts(self, project, rising):
        import json

        context = selectors.dashboard(project=project)
        assert context["verdict"] == rising
        assert set(json.loads(json.dumps(context["charts"]))) == {
            "by_size", "across_batches", "power", "categories", "curves", "options_chart", "track_record_chart"
        }


class TestSuspectQueue:
    def test_strongest_first_and_fixed_ones_marked(self, project, lead, labels):
        items = list(labels)
        batch = make_batch(project, labels, name="b")
        run = make_run(batch, make_ladder("l", 4), accuracies=[0.6, 0.7, 0.8, 0.9], wrong_items=items[:3])
        verdict = verdict_compute(run_id=run.pk)
        rows = selectors.suspect_queue(verdict=verdict)
        strengths = [row["strength"] for row in rows]
        assert strengths == sorted(strengths, reverse=True)
        by_item = {row["item"].pk: row for row in rows}
        for item in items[:3]:
            opposite = NEGATIVE if labels[item] == POSITIVE else POSITIVE
            assert by_item[item.pk]["frozen_label"] == project.option_text(labels[item])
            assert by_item[item.pk]["ladder_says"] == project.option_text(opposite)
        fixed = items[0]
        review.item_review(item=fixed, lead=lead, option=NEGATIVE if labels[fixed] == POSITIVE else POSITIVE,
                           reason="the ladder is right", expected_current_id=fixed.current_annotation_id)
        rows = {row["item"].pk: row for row in selectors.suspect_queue(verdict=verdict)}
        assert rows[fixed.pk]["fixed"] and not rows[items[1].pk]["fixed"]


def test_rerun_proposals_name_the_rung_and_its_new_learning_rate(rising):
    rising.diagnostics["rungs"]["proposed_changes"] = [
        {"rung": "r2", "size": 1e8, "parameter": "lr", "factor": 0.1, "current": 2e-4, "proposed": 2e-5},
        {"rung": "gone", "size": 1e9, "parameter": "lr", "factor": 0.1, "current": None, "proposed": None},
    ]
    [proposal] = selectors.rerun_proposals(verdict=rising)
    assert proposal["rung"].name == "r2" and proposal["hyperparameters"] == "lr=2e-05"


class TestRegressionBlame:
    def test_relabelled_items_ranked_by_how_far_the_rung_moved(self, project, labels):
        ladder = make_ladder("l", 3)
        items = list(labels)
        earlier = make_run(make_batch(project, labels, name="week-1"), ladder, accuracies=[0.6, 0.8, 0.9])
        relabelled = {**labels}
        for item in items[:4]:
            relabelled[item] = NEGATIVE if labels[item] == POSITIVE else POSITIVE
        later = make_run(make_batch(project, relabelled, name="week-2"), ladder, accuracies=[0.6, 0.7, 0.5], seed=3)
        job = later.rung_jobs.get(rung__name="r2")
        Prediction.objects.filter(rung_job=job, item=items[2], stage=Prediction.TUNED).update(margin=40.0)
        rows = selectors.regression_blame(earlier=earlier, later=later, rung_name="r2")
        assert {row["item"].pk for row in rows} == {item.pk for item in items[:4]}
        assert rows[0]["item"] == items[2]
        movements = [row["movement"] for row in rows]
        assert movements == sorted(movements, reverse=True)

    def test_the_report_lists_rungs_whose_f1_fell(self, project, labels):
        ladder = make_ladder("l", 3)
        verdict_compute(run_id=make_run(make_batch(project, labels, name="week-1"), ladder, accuracies=[0.6, 0.8, 0.95]).pk)
        verdict_compute(run_id=make_run(make_batch(project, labels, name="week-2"), ladder, accuracies=[0.6, 0.8, 0.5], seed=1).pk)
        report = selectors.regression_report(project=project)
        assert report["earlier"].name == "week-1" and report["later"].name == "week-2"
        assert "r2" in [drop["rung"] for drop in report["drops"]]

    def test_no_report_before_a_second_batch(self, project, rising):
        assert selectors.regression_report(project=project) is None

