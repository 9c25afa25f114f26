"""Accept then Stop: drop the pre-power phase, extrapolate the power line."""

import json

import numpy as np
import pytest

from scaling.selection import accept_then_stop, backtested_bend, rank_models

SUBSETS = np.array([200.0 * 2**i for i in range(10)])  # 200 … 102,400 examples
TARGET = 4 * SUBSETS[-1]


def knee_curve(knee=6400.0, scale=30.0, exponent=0.35):
    """A power law above `knee`, a nearly flat pre-power phase below it."""
    at_knee = scale * knee**-exponent
    return np.where(
        SUBSETS >= knee,
        scale * SUBSETS**-exponent,
        at_knee * (SUBSETS / knee) ** (-exponent / 6),
    )


def test_never_accepts_the_pre_power_phase_and_predicts_the_target():
    # As published (no floor under the residual spread), three accepted points
    # on the power line can have so small a spread that the next point on the
    # same line is rejected too: the stop may come above the knee, never below.
    truth = 30.0 * TARGET**-0.35
    for seed in range(20):
        rng = np.random.default_rng(seed)
        losses = knee_curve() * np.exp(rng.normal(0.0, 0.005, len(SUBSETS)))
        result = accept_then_stop(dict(zip(SUBSETS, losses)), TARGET)
        assert result.stop_size >= 3200.0
        assert min(result.accepted_sizes) >= 6400.0
        assert result.stop_residual > 5.0
        assert result.predicted_loss == pytest.approx(truth, rel=0.05)


def test_a_floor_under_the_residual_spread_finds_the_knee_itself():
    rng = np.random.default_rng(0)
    losses = knee_curve() * np.exp(rng.normal(0.0, 0.005, len(SUBSETS)))
    result = accept_then_stop(dict(zip(SUBSETS, losses)), TARGET, min_residual_std=0.005)
    assert result.stop_size == 3200.0
    assert result.accepted_sizes == [6400.0, 12800.0, 25600.0, 51200.0, 102400.0]
    assert result.pre_power_sizes == [200.0, 400.0, 800.0, 1600.0, 3200.0]
    assert result.slope == pytest.approx(-0.35, abs=0.03)
    assert result.predicted_loss == pytest.approx(30.0 * TARGET**-0.35, rel=0.03)


def test_a_power_curve_is_accepted_whole_and_fitted_without_its_smallest_point():
    # As the paper's reference code does (its Table 1 depends on it): when no
    # point is rejected, the smallest subset is left out of the line.
    wiggle = 1.0 + 0.002 * (-1.0) ** np.arange(len(SUBSETS))
    losses = 12.0 * SUBSETS**-0.3 * wiggle
    result = accept_then_stop((SUBSETS, losses), TARGET)
    assert result.stop_size is None and result.pre_power_sizes == []
    assert result.accepted_sizes == SUBSETS[1:].tolist()
    assert result.predicted_loss == pytest.approx(12.0 * TARGET**-0.3, rel=0.02)
    assert result.predict(1000.0) == pytest.approx(12.0 * 1000.0**-0.3, rel=0.02)
    whole = accept_then_stop((SUBSETS, losses), TARGET, keep_smallest=True)
    assert whole.accepted_sizes == SUBSETS.tolist()


def test_the_result_is_usable_as_the_predicted_loss():
    result = accept_then_stop((SUBSETS, 12.0 * SUBSETS**-0.3), TARGET)
    assert float(result) == result.predicted_loss
    assert float(result) == pytest.approx(12.0 * TARGET**-0.3)


def test_no_floor_under_the_residual_spread_unless_asked():
    # Three large subsets lie within 0.1 % of a line; the next one sits 1 % off
    # it: 20 spreads away, an outlier as published. A floor of 0.005 (0.5 %
    # noise) would make it 2 spreads away and accept it.
    sizes = np.array([800.0, 1600.0, 3200.0, 6400.0])
    jitter = np.array([1.0, 1.001, 0.999, 1.001])
    losses = 5.0 * sizes**-0.2 * jitter
    losses[0] *= 1.01
    published = accept_then_stop((sizes, losses), 10 * sizes[-1])
    assert published.stop_size == 800.0
    assert published.accepted_sizes == [1600.0, 3200.0, 6400.0]
    floored = accept_then_stop((sizes, losses), 10 * sizes[-1], min_residual_std=0.005)
    assert floored.stop_size is None


def test_fitting_the_whole_curve_would_be_worse():
    losses = knee_curve()
    ats = accept_then_stop(dict(zip(SUBSETS, losses)), TARGET)
    everything = accept_then_stop(dict(zip(SUBSETS, losses)), TARGET, delta=float("inf"))
    truth = 30.0 * TARGET**-0.35
    assert abs(ats.predicted_loss - truth) < abs(everything.predicted_loss - truth) / 10


def test_input_forms_and_the_zero_shot_point():
    losses = knee_curve()
    as_mapping = accept_then_stop({0: 9.0, **dict(zip(SUBSETS[::-1], losses[::-1]))}, TARGET)
    as_pair = accept_then_stop((list(SUBSETS), list(losses)), TARGET)
    assert as_mapping == as_pair
    json.dumps(as_pair.to_dict())


def test_fewer_points_than_k_are_all_accepted():
    result = accept_then_stop({100: 2.0, 200: 1.6}, 800, k=3)
    assert result.accepted_sizes == [100.0, 200.0]
    assert result.stop_size is None


@pytest.mark.parametrize(
    "curve, kwargs",
    [
        ({100: 2.0, 200: -1.0, 400: 1.0}, {}),
        ({100: 2.0}, {}),
        ({100: 2.0, 200: 1.5, 400: 1.0}, {"k": 1}),
        (([100, 200], [2.0]), {}),
    ],
)
def test_rejects_bad_input(curve, kwargs):
    with pytest.raises(ValueError):
        accept_then_stop(curve, 1000, **kwargs)


def test_rank_models_orders_by_predicted_loss_not_by_small_subset_loss():
    # "steep" is worse on every small subset but its power phase falls faster,
    # so it wins at the target size; "flat" looks best early and loses.
    curves = {
        "flat": (SUBSETS, 3.0 * SUBSETS**-0.10),
        "steep": (SUBSETS, 12.0 * SUBSETS**-0.20),
        "middle": (SUBSETS, 6.0 * SUBSETS**-0.15),
    }
    assert all(curves["steep"][1] > curves["flat"][1])
    ranked = rank_models(curves, 100 * SUBSETS[-1])
    assert [entry.model for entry in ranked] == ["steep", "middle", "flat"]
    assert ranked[0].predicted_loss == pytest.approx(12.0 * (100 * SUBSETS[-1]) ** -0.20)
    json.dumps([entry.to_dict() for entry in ranked])


class TestBacktestedBend:
    """AtS bent by one slope factor per halving that every curve's own backtest measures."""

    SUBSETS = np.array([200.0 * 2**i for i in range(8)])  # 200 … 25,600 examples

    def steepening(self, start, slope, curvature, sizes=None):
        """A curve whose log-log slope keeps steepening with size, as FLAN's and WMT19's do."""
        doublings = np.log(self.SUBSETS if sizes is None else sizes) - np.log(self.SUBSETS[0])
        return np.exp(start + slope * doublings + curvature * doublings**2)

    def curves(self):
        return {
            "early": (self.SUBSETS, self.steepening(0.0, -0.06, -0.004)),
            "late": (self.SUBSETS, self.steepening(0.15, -0.07, -0.008)),
            "middle": (self.SUBSETS, self.steepening(0.08, -0.065, -0.006)),
        }

    def test_straight_power_laws_keep_the_straight_line(self):
        curves = {name: (SUBSETS, scale * SUBSETS**-exponent) for name, scale, exponent in
                  (("a", 3.0, 0.1), ("b", 12.0, 0.2), ("c", 6.0, 0.15))}
        bent = backtested_bend(curves, TARGET)
        assert bent.explained == pytest.approx(0.0, abs=1e-6)
        for name, curve in curves.items():
            assert bent.predicted[name] == pytest.approx(float(accept_then_stop(curve, TARGET, delta=3.0)))
            assert bent.straight[name] == pytest.approx(bent.predicted[name])

    def test_curves_that_keep_steepening_are_bent_down_towards_their_loss(self):
        target = 2 * self.SUBSETS[-1]
        bent = backtested_bend(self.curves(), target)
        assert bent.factor > 1.0 and bent.explained > 0.9
        assert bent.backtested == ["early", "late", "middle"]
        for name, (start, slope, curvature) in {
            "early": (0.0, -0.06, -0.004), "late": (0.15, -0.07, -0.008), "middle": (0.08, -0.065, -0.006),
        }.items():
            truth = float(self.steepening(start, slope, curvature, np.array([target]))[0])
            assert bent.predicted[name] < bent.straight[name]
            assert abs(np.log(bent.predicted[name] / truth)) < abs(np.log(bent.straight[name] / truth)) / 2
        assert bent.order() == ["late", "middle", "early"]
        json.dumps(bent.to_dict())

    def test_the_bend_stops_at_the_measured_points(self):
        # At or below a curve's largest size the line is not bent: nothing is extrapolated.
        bent = backtested_bend(self.curves(), self.SUBSETS[-1])
        assert bent.factor > 1.0
        assert bent.predicted == bent.straight

    def test_curves_too_short_to_backtest_keep_the_straight_line(self):
        short = {name: (sizes[-2:], losses[-2:]) for name, (sizes, losses) in self.curves().items()}
        bent = backtested_bend(short, TARGET)
        assert bent.backtested == [] and bent.factor == 1.0 and bent.explained == 0.0
        assert bent.predicted == bent.straight

    @pytest.mark.parametrize("kwargs", [{"ratio": 1.0}, {"factors": [1.1, 1.2]}])
    def test_rejects_bad_settings(self, kwargs):
        with pytest.raises(ValueError):
            backtested_bend(self.curves(), TARGET, **kwargs)

    def test_rejects_no_curves_and_a_bad_target(self):
        with pytest.raises(ValueError, match="curves_by_model"):
            backtested_bend({}, TARGET)
        with pytest.raises(ValueError, match="target_size"):
            backtested_bend(self.curves(), 0)
