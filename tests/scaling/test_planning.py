"""Planning answers on ladders generated from known laws: the right rung, the right option, honest intervals."""

import math

import numpy as np
import pytest

from scaling import planning, selection

FULL = 1600
SUBSETS = np.array([FULL / 16, FULL / 8, FULL / 4, FULL / 2, FULL])
LADDER = np.array([1e6, 1e7, 1e8, 1e9, 1e10])
JOINT = {"A": 27.0, "alpha": 0.15, "beta": 0.3, "E": 0.25}


def noisy(values, sigma, seed):
    rng = np.random.default_rng(seed)
    return np.asarray(values, float) * np.exp(rng.normal(0.0, sigma, np.shape(values)))


def grid(sigma=0.005, seed=0):
    """Every rung at every subset size, losses from the joint law with relative noise `sigma`."""
    xs, ds = np.repeat(LADDER, len(SUBSETS)), np.tile(SUBSETS, len(LADDER))
    return xs, ds, noisy(planning.multiplicative_loss(JOINT, xs, ds), sigma, seed)


class TestRectifiedForecast:
    LAW = {"B": 3.0, "D_l": 20.0, "beta": 0.5, "E": 0.3}

    def test_an_exact_curve_gives_back_its_law(self):
        forecast = planning.forecast_curve(SUBSETS, planning.rectified_loss(self.LAW, SUBSETS))
        for name, value in self.LAW.items():
            assert forecast.params[name] == pytest.approx(value, rel=1e-2)
        assert forecast.loss_at(8 * FULL).value == pytest.approx(planning.rectified_loss(self.LAW, 8 * FULL), rel=1e-3)

    def test_intervals_contain_the_truth_at_every_multiple(self):
        forecast = planning.forecast_curve(SUBSETS, noisy(planning.rectified_loss(self.LAW, SUBSETS), 0.01, seed=3))
        assert forecast.interval_source == "residuals"
        for multiple in (2, 4, 8):
            estimate = forecast.loss_at(multiple * FULL)
            assert estimate.low <= planning.rectified_loss(self.LAW, multiple * FULL) <= estimate.high
            assert estimate.low <= estimate.value <= estimate.high

    def test_the_labels_interval_contains_the_truth(self):
        forecast = planning.forecast_curve(SUBSETS, noisy(planning.rectified_loss(self.LAW, SUBSETS), 0.01, seed=3))
        target = planning.rectified_loss(self.LAW, 3 * FULL)
        needed = forecast.labels_for(target)
        assert needed.reachable and needed.low <= 3 * FULL <= (needed.high or math.inf)

    def test_four_points_without_standard_errors_give_a_value_and_say_why_no_interval(self):
        forecast = planning.forecast_curve(SUBSETS[1:], noisy(planning.rectified_loss(self.LAW, SUBSETS[1:]), 0.01, 1))
        estimate = forecast.loss_at(2 * FULL)
        assert estimate.low is None and "fit the law's 4 parameters exactly" in forecast.interval_reason

    def test_standard_errors_give_four_points_an_interval(self):
        losses = planning.rectified_loss(self.LAW, SUBSETS[1:])
        forecast = planning.forecast_curve(SUBSETS[1:], losses, standard_errors=0.01 * losses)
        estimate = forecast.loss_at(2 * FULL)
        assert forecast.interval_source == "standard errors" and estimate.low < estimate.value < estimate.high

    def test_fewer_than_four_sizes_give_no_answer_and_say_why(self):
        forecast = planning.forecast_curve(SUBSETS[:3], planning.rectified_loss(self.LAW, SUBSETS[:3]))
        assert not forecast.answered and forecast.loss_at(FULL) is None and forecast.labels_for(0.5) is None
        assert forecast.reason == "needs losses at 4 or more train sizes to fit the rectified law, has 3"

    def test_a_target_below_the_floor_is_not_reachable(self):
        forecast = planning.forecast_curve(SUBSETS, planning.rectified_loss(self.LAW, SUBSETS))
        needed = forecast.labels_for(0.2)
        assert not needed.reachable and needed.size is None
        assert needed.reason.startswith("not reachable: the fitted floor 0.30")


class TestLabelsForLoss:
    @pytest.mark.parametrize("law", [
        {"B": 3.0, "D_l": 20.0, "beta": 0.5, "E": 0.3},
        {"B": 150.0, "D_l": 400.0, "beta": 0.9, "E": 0.05},
        {"B": 0.8, "D_l": 0.5, "beta": 0.2, "E": 0.0},
    ])
    @pytest.mark.parametrize("size", [10.0, 1600.0, 1e6])
    def test_inverts_the_rectified_law(self, law, size):
        assert planning.data_for_loss(law, planning.rectified_loss(law, size)) == pytest.approx(size, rel=1e-9)

    def test_at_or_below_the_floor_is_infinite_and_above_the_start_is_zero(self):
        law = {"B": 3.0, "D_l": 20.0, "beta": 0.5, "E": 0.3}
        assert planning.data_for_loss(law, 0.3) == math.inf
        assert planning.data_for_loss(law, law["B"] / law["D_l"] + law["E"] + 0.01) == 0.0

    def test_a_forecast_round_trips_its_own_predictions(self):
        law = {"B": 3.0, "D_l": 20.0, "beta": 0.5, "E": 0.3}
        forecast = planning.forecast_curve(SUBSETS, noisy(planning.rectified_loss(law, SUBSETS), 0.01, 5))
        for size in (2 * FULL, 8 * FULL):
            assert forecast.labels_for(forecast.loss_at(size).value).size == pytest.approx(size, rel=1e-6)


class TestRankRungs:
    # Crossing curves: "wide" is best on today's labels, but its floor is higher, so at 2× "deep" wins.
    LAWS = {
        "small": {"B": 2.0, "D_l": 2.0, "beta": 0.3, "E": 0.5},
        "wide": {"B": 6.0, "D_l": 20.0, "beta": 0.35, "E": 0.40},
        "deep": {"B": 40.0, "D_l": 40.0, "beta": 0.55, "E": 0.2},
    }

    def forecasts(self, sizes=SUBSETS):
        return {
            name: planning.forecast_curve(sizes, noisy(planning.rectified_loss(law, sizes), 0.003, seed))
            for seed, (name, law) in enumerate(self.LAWS.items())
        }

    @pytest.mark.parametrize("target, best", [(FULL, "wide"), (2 * FULL, "deep")])
    def test_the_recommendation_is_the_generating_laws_best_at_the_target(self, target, best):
        truth = {name: planning.rectified_loss(law, target) for name, law in self.LAWS.items()}
        assert min(truth, key=truth.get) == best
        ranking = planning.rank_rungs(self.forecasts(), target)
        assert [entry.name for entry in ranking.ranked] == sorted(truth, key=truth.get)
        assert ranking.recommended.name == best and ranking.target_size == target
        assert 0.5 < ranking.recommended.chance_best <= 1.0
        assert ranking.recommended.predicted.low <= ranking.recommended.predicted.value

    def test_accept_then_stop_ranks_the_same_curves_beside_it(self):
        ranking = planning.rank_rungs(self.forecasts(), 2 * FULL)
        assert sorted(ranking.ats_order) == sorted(self.LAWS)
        assert ranking.agrees == (ranking.ats_order[0] == ranking.recommended.name)
        assert all(entry.accept_then_stop > 0 for entry in ranking.ranked)

    def test_the_backtested_bend_ranks_the_same_curves_beside_it(self):
        forecasts = self.forecasts()
        ranking = planning.rank_rungs(forecasts, 2 * FULL)
        bent = selection.backtested_bend(
            {name: (forecast.sizes, forecast.losses) for name, forecast in forecasts.items()}, 2 * FULL
        )
        assert ranking.bend_order == bent.order()
        assert {entry.name: entry.backtested_bend for entry in ranking.ranked} == bent.predicted
        assert ranking.bend_agrees == (ranking.bend_order[0] == ranking.recommended.name)

    def test_rungs_without_enough_points_are_left_out_with_their_reason(self):
        forecasts = self.forecasts()
        forecasts["tiny"] = planning.forecast_curve(SUBSETS[:2], [0.9, 0.8])
        ranking = planning.rank_rungs(forecasts, FULL)
        assert "tiny" not in [entry.name for entry in ranking.ranked]
        assert "has 2" in ranking.unranked["tiny"]

    def test_no_rung_with_enough_points_means_no_recommendation_and_a_reason(self):
        ranking = planning.rank_rungs({"tiny": planning.forecast_curve(SUBSETS[:3], [0.9, 0.8, 0.7])}, FULL)
        assert ranking.recommended is None and ranking.reason


class TestPlanOptions:
    # Seconds per example grow with the rung; the budget buys the largest rung on today's labels only.
    COSTS = [planning.RungCost(f"r{at}", size, 1e-3 * (size / 1e6) ** 0.4, 2.0) for at, size in enumerate(LADDER)]
    BUDGET = 60.0

    def true_best(self, budget):
        priced = [
            (planning.multiplicative_loss(JOINT, rung.model_size, multiple * FULL), rung.name, multiple)
            for rung in self.COSTS for multiple in planning.LABEL_MULTIPLES
            if rung.seconds_per_example * multiple * FULL + rung.fixed_seconds <= budget
        ]
        return sorted(priced)

    def test_the_joint_law_is_recovered_from_the_grid(self):
        joint = planning.joint_fit(*grid())
        assert joint.params["alpha"] == pytest.approx(JOINT["alpha"], abs=0.02)
        assert joint.params["beta"] == pytest.approx(JOINT["beta"], abs=0.03)
        assert joint.params["E"] == pytest.approx(JOINT["E"], abs=0.03)

    @pytest.mark.parametrize("budget", [BUDGET, 12.0, 400.0])
    def test_the_best_option_is_the_generating_laws_best_within_the_budget(self, budget):
        plan = planning.plan_options(planning.joint_fit(*grid()), self.COSTS, current_size=FULL, budget_seconds=budget)
        (best_loss, name, multiple), (runner_up, *_) = self.true_best(budget)[:2]
        assert best_loss < runner_up * 0.99  # the case is not a near tie
        assert (plan.best.name, plan.best.multiple) == (name, multiple)
        assert len(plan.options) == len(self.COSTS) * len(planning.LABEL_MULTIPLES)
        assert all(option.seconds <= budget for option in plan.options if option.within_budget)
        assert plan.best.extra_examples == (multiple - 1) * FULL

    def test_the_interval_of_each_option_contains_its_true_loss(self):
        plan = planning.plan_options(planning.joint_fit(*grid(sigma=0.01, seed=4)), self.COSTS, current_size=FULL,
                                     budget_seconds=self.BUDGET)
        inside = [
            option.predicted.low <= planning.multiplicative_loss(JOINT, option.model_size, option.data_size)
            <= option.predicted.high
            for option in plan.options
        ]
        assert sum(inside) >= 0.8 * len(inside)

    def test_standard_errors_give_an_exact_grid_an_interval(self):
        xs, ds, ys = grid(sigma=0.0)
        joint = planning.joint_fit(xs, ds, ys, standard_errors=0.01 * ys)
        estimate = joint.loss_at(LADDER[2], 4 * FULL)
        assert estimate.low < planning.multiplicative_loss(JOINT, LADDER[2], 4 * FULL) < estimate.high
        alone = planning.joint_fit(xs, ds, ys).loss_at(LADDER[2], 4 * FULL)
        assert alone.high - alone.low < 0.01 * (estimate.high - estimate.low)

    def test_a_budget_nothing_fits_in_gives_no_best_and_says_why(self):
        plan = planning.plan_options(planning.joint_fit(*grid()), self.COSTS, current_size=FULL, budget_seconds=1.0)
        assert plan.best is None and "no option fits in a budget of 1 s" in plan.reason

    def test_an_unmeasured_rung_is_never_the_best(self):
        costs = [*self.COSTS[:-1], planning.RungCost("r4", LADDER[-1], None)]
        plan = planning.plan_options(planning.joint_fit(*grid()), costs, current_size=FULL, budget_seconds=1e9)
        assert plan.best.name != "r4"
        unmeasured = [option for option in plan.options if option.name == "r4"]
        assert all(option.seconds is None and not option.within_budget for option in unmeasured)

    def test_too_few_points_or_one_rung_give_no_joint_law(self):
        xs, ds, ys = grid()
        assert "has 4" in planning.joint_fit(xs[:4], ds[:4], ys[:4]).reason
        assert "two or more rung sizes" in planning.joint_fit(xs[:5], ds[:5], ys[:5]).reason
        plan = planning.plan_options(planning.joint_fit(xs[:4], ds[:4], ys[:4]), self.COSTS, current_size=FULL,
                                     budget_seconds=10.0)
        assert plan.options == [] and plan.best is None and plan.reason
