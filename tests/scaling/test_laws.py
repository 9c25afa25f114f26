"""The three scaling laws recover the parameters that generated a noisy curve."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaling.laws import fit_multiplicative, fit_power, fit_rectified

HALVING_SUBSETS = np.array([200.0 * 2**i for i in range(9)])  # 200 … 51,200 examples
LADDER = np.array([14e6, 60e6, 0.15e9, 0.5e9, 1.8e9, 4e9, 7e9, 14e9, 32e9])


def noisy(values, sigma, seed):
    rng = np.random.default_rng(seed)
    return values * np.exp(rng.normal(0.0, sigma, len(values)))


class TestRectified:
    B, D_L, BETA, E = 200.0, 30.0, 0.6, 0.8

    def law(self, sizes):
        return self.B / (self.D_L + np.asarray(sizes, float) ** self.BETA) + self.E

    def test_recovers_exact_curve_including_zero_shot(self):
        sizes = np.concatenate([[0.0], HALVING_SUBSETS])
        fit = fit_rectified(sizes, self.law(sizes))
        expected = {"B": self.B, "E": self.E, "D_l": self.D_L, "beta": self.BETA}
        for name, value in expected.items():
            assert fit.params[name] == pytest.approx(value, rel=1e-3)
        assert fit.rmse_log < 1e-5

    def test_recovers_noisy_curve_and_predicts_held_out_sizes(self):
        sizes = np.concatenate([[0.0], HALVING_SUBSETS])
        fit = fit_rectified(sizes, noisy(self.law(sizes), 0.005, seed=7))
        assert fit.params["beta"] == pytest.approx(self.BETA, rel=0.05)
        assert fit.params["E"] == pytest.approx(self.E, rel=0.05)
        assert fit.params["D_l"] == pytest.approx(self.D_L, rel=0.25)
        assert fit.params["B"] == pytest.approx(self.B, rel=0.25)
        held_out = np.array([300.0, 3000.0, 30000.0, 102400.0])
        np.testing.assert_allclose(fit.predict(held_out), self.law(held_out), rtol=0.03)
        assert 0.001 < fit.rmse_log < 0.02

    def test_zero_shot_point_is_b_over_dl_plus_e(self):
        sizes = np.concatenate([[0.0], HALVING_SUBSETS])
        fit = fit_rectified(sizes, self.law(sizes))
        params = fit.params
        assert fit.predict(0.0) == pytest.approx(params["B"] / params["D_l"] + params["E"])
        assert fit.predict(0.0) == pytest.approx(self.law(0.0), rel=1e-4)

    def test_scalar_in_float_out_array_in_array_out(self):
        fit = fit_rectified(HALVING_SUBSETS, self.law(HALVING_SUBSETS))
        assert isinstance(fit.predict(1000), float)
        assert fit.predict([1000, 2000]).shape == (2,)
        json.dumps(fit.to_dict())

    @pytest.mark.parametrize(
        "sizes, losses",
        [
            ([0, 100, 200], [1.0, -0.5, 0.4]),
            ([0, -100, 200], [1.0, 0.5, 0.4]),
            ([0, 100], [1.0, 0.5]),
            ([0, 0, 0], [1.0, 1.0, 1.0]),
            ([0, 100, 200], [1.0, 0.5]),
            ([0, 100, 200], [1.0, float("nan"), 0.4]),
        ],
    )
    def test_rejects_bad_input(self, sizes, losses):
        with pytest.raises(ValueError):
            fit_rectified(sizes, losses)


class TestMultiplicative:
    A, ALPHA, BETA, E = 3000.0, 0.3, 0.25, 0.6

    def law(self, x, d):
        return self.A * np.power(x, -self.ALPHA) * np.power(d, -self.BETA) + self.E

    def grid(self):
        x, d = np.meshgrid(
            [0.5e9, 1.8e9, 4e9, 7e9, 14e9, 32e9], [250, 500, 1000, 2000, 4000, 8000.0]
        )
        return x.ravel(), d.ravel()

    def test_recovers_exact_surface(self):
        x, d = self.grid()
        fit = fit_multiplicative(x, d, self.law(x, d))
        assert fit.params["alpha"] == pytest.approx(self.ALPHA, rel=1e-3)
        assert fit.params["beta"] == pytest.approx(self.BETA, rel=1e-3)
        assert fit.params["E"] == pytest.approx(self.E, rel=1e-3)
        assert fit.params["A"] == pytest.approx(self.A, rel=1e-2)

    def test_recovers_noisy_surface_and_predicts_a_larger_model(self):
        x, d = self.grid()
        fit = fit_multiplicative(x, d, noisy(self.law(x, d), 0.01, seed=3))
        assert fit.params["alpha"] == pytest.approx(self.ALPHA, abs=0.03)
        assert fit.params["beta"] == pytest.approx(self.BETA, abs=0.03)
        assert fit.params["E"] == pytest.approx(self.E, rel=0.1)
        assert fit.predict(72e9, 16000) == pytest.approx(self.law(72e9, 16000), rel=0.03)
        assert fit.rmse_log < 0.02

    def test_rejects_zero_data_size(self):
        with pytest.raises(ValueError, match="data_sizes"):
            fit_multiplicative([1e9, 2e9, 4e9, 8e9], [0, 100, 200, 400], [1.0, 0.9, 0.8, 0.7])


class TestPower:
    A, ALPHA, E = 50.0, 0.25, 0.1

    def law(self, n):
        return self.A * np.power(np.asarray(n, float), -self.ALPHA) + self.E

    def test_recovers_noisy_ladder_and_extrapolates_next_rung(self):
        fit = fit_power(LADDER, noisy(self.law(LADDER), 0.005, seed=11))
        assert fit.params["alpha"] == pytest.approx(self.ALPHA, abs=0.02)
        assert fit.params["E"] == pytest.approx(self.E, rel=0.15)
        assert fit.predict(72e9) == pytest.approx(self.law(72e9), rel=0.02)

    @pytest.mark.parametrize("n_points", [3, 4])
    def test_few_rungs_still_extrapolate(self, n_points):
        ladder = np.array([0.5e9, 1.8e9, 4e9, 7e9, 14e9])
        fit = fit_power(ladder[:n_points], noisy(self.law(ladder[:n_points]), 0.01, seed=5))
        assert all(math.isfinite(value) for value in fit.params.values())
        assert fit.predict(ladder[n_points]) == pytest.approx(self.law(ladder[n_points]), rel=0.1)

    def test_two_points_give_a_pure_power_line(self):
        fit = fit_power([1e9, 2e9], [0.3, 0.24])
        assert fit.params["E"] == 0.0
        assert fit.predict([1e9, 2e9]) == pytest.approx([0.3, 0.24], rel=1e-4)

    def test_rising_error_gives_a_flat_curve_not_a_negative_exponent(self):
        fit = fit_power([1e9, 2e9, 4e9], [0.30, 0.35, 0.40])
        assert fit.params["alpha"] == pytest.approx(0.0, abs=1e-6)

    def test_zero_error_is_floored_not_infinite(self):
        fit = fit_power([1e9, 2e9, 4e9], [0.2, 0.1, 0.0])
        assert all(math.isfinite(value) for value in fit.params.values())
        assert fit.predict(8e9) >= 0.0

    @settings(max_examples=30, deadline=None)
    @given(
        errors=st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=3, max_size=4),
        first=st.floats(min_value=1e6, max_value=1e10),
    )
    def test_never_nan(self, errors, first):
        sizes = first * 2.0 ** np.arange(len(errors))
        fit = fit_power(sizes, errors)
        assert all(math.isfinite(value) for value in fit.params.values())
        assert 0.0 <= fit.params["alpha"] <= 2.0
        assert np.all(np.isfinite(fit.predict(sizes * 4)))
        assert math.isfinite(fit.rmse_log)
