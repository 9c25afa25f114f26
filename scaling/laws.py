"""Scaling laws for fine-tuning, fitted in log space.

Three laws, each fitted by minimising a loss on log L with L-BFGS-B from a
grid of starting points (the best minimum wins), with analytic gradients:

- `fit_rectified`: the rectified fine-tuning law of arXiv 2402.02314,
  L(D) = B / (D_l + D^β) + E, where D_l is the "pre-learned data size";
  D = 0 (the zero-shot point) is allowed and gives L(0) = B / D_l + E.
- `fit_multiplicative`: the joint law of arXiv 2402.17193,
  L(X, D) = A · X^(−α) · D^(−β) + E, fitted with a Huber loss on log L as in
  Chinchilla (Hoffmann et al., 2022), which the paper follows.
- `fit_power`: err(N) = A · N^(−α) + E, used to extrapolate a ladder's error
  to a rung it has not trained; bounded and lightly regularised so that three
  or four points still give a finite, sensible fit.

Every law is written as a log-sum-exp, so positivity holds by construction:
log L = logaddexp(log(scaled term), log E). Sizes are divided by their
geometric mean before fitting (better conditioned), and the parameters are
mapped back to the caller's units afterwards.

Pure numpy/scipy: no Django import, so the module is usable on its own.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

ArrayLike = Sequence[float] | np.ndarray

# Chinchilla's Huber threshold on log-loss residuals (also 2402.17193's choice).
HUBER_DELTA = 1e-3
# How far below the smallest observation log E may go: e^-30 is "no floor".
LOG_E_SPAN = 30.0
# Log-space losses are tiny (1e-5 for 0.3 % noise) and L-BFGS-B's stopping test
# is absolute below 1, so objectives are scaled up: the test becomes relative.
_OBJECTIVE_SCALE = 1e6
_LBFGS_OPTIONS = {"ftol": 1e-7, "maxiter": 1000}


@dataclass(frozen=True)
class LawFit:
    """A fitted law: its parameters, the quality of the fit, and a predictor.

    `params` is in the caller's units. `rmse_log` is the root mean squared
    residual of log L over the fitted points (0.01 ≈ 1 % typical error).
    """

    law: str
    params: dict[str, float]
    rmse_log: float
    n_points: int
    _predict: Callable[..., np.ndarray] = field(repr=False, compare=False)

    def predict(self, *sizes: ArrayLike | float) -> np.ndarray | float:
        """The law's value at `sizes`; a float for scalar input, else an array."""
        scalar = all(np.ndim(size) == 0 for size in sizes)
        values = self._predict(*(np.asarray(size, dtype=float) for size in sizes))
        return float(values) if scalar else np.asarray(values, dtype=float)

    def to_dict(self) -> dict:
        return {
            "law": self.law,
            "params": dict(self.params),
            "rmse_log": self.rmse_log,
            "n_points": self.n_points,
        }


def _as_positive_array(values: ArrayLike, name: str, *, allow_zero: bool = False) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: every value must be a finite number")
    if allow_zero and np.any(array < 0):
        raise ValueError(f"{name}: values must be >= 0")
    if not allow_zero and np.any(array <= 0):
        raise ValueError(f"{name}: values must be > 0")
    return array


def _check_lengths(min_points: int, **arrays: np.ndarray) -> int:
    lengths = {len(array) for array in arrays.values()}
    if len(lengths) != 1:
        detail = ", ".join(f"{name}={len(array)}" for name, array in arrays.items())
        raise ValueError(f"inputs must have the same length ({detail})")
    n = lengths.pop()
    if n < min_points:
        raise ValueError(f"need at least {min_points} points to fit, got {n}")
    return n


def _geometric_mean(values: np.ndarray) -> float:
    return float(np.exp(np.mean(np.log(values))))


def _huber(residual: np.ndarray, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """Huber loss of each residual and its derivative."""
    small = np.abs(residual) <= delta
    loss = np.where(small, 0.5 * residual**2, delta * (np.abs(residual) - 0.5 * delta))
    slope = np.where(small, residual, delta * np.sign(residual))
    return loss, slope


def _best_minimum(
    objective: Callable[[np.ndarray], tuple[float, np.ndarray]],
    starts: list[np.ndarray],
    bounds: list[tuple[float, float]],
) -> np.ndarray:
    """Run L-BFGS-B from every start; return the parameters of the lowest finite minimum."""

    def scaled(theta):
        value, gradient = objective(theta)
        return value * _OBJECTIVE_SCALE, gradient * _OBJECTIVE_SCALE

    best_value, best_theta = math.inf, None
    # A handful of parameters gains nothing from BLAS threads, and L-BFGS-B's every step pays for
    # waking them: 14× slower on a 2-core machine already busy training (0.53 s → 7.3 s a fit).
    with threadpool_limits(limits=1, user_api="blas"):
        for start in starts:
            start = np.clip(start, [low for low, _ in bounds], [high for _, high in bounds])
            result = minimize(
                scaled, start, jac=True, method="L-BFGS-B", bounds=bounds, options=_LBFGS_OPTIONS
            )
            if np.isfinite(result.fun) and result.fun < best_value and np.all(np.isfinite(result.x)):
                best_value, best_theta = float(result.fun), result.x
    if best_theta is None:
        raise ValueError("the fit did not converge from any starting point")
    return best_theta


def _rmse(residual: np.ndarray) -> float:
    return float(np.sqrt(np.mean(residual**2)))


# --- rectified law (2402.02314) ---------------------------------------------------


def _rectified_log(theta: np.ndarray, log_d: np.ndarray, zero: np.ndarray):
    """log L̂ and its gradient for θ = (log B, log D_l, log β, log E), D scaled.

    log L̂ = logaddexp(log B − logaddexp(log D_l, β·log D), log E); at D = 0 the
    inner term is log D_l alone.
    """
    log_b, log_dl, log_beta, log_e = theta
    beta = math.exp(log_beta)
    # log_d holds 0 where D = 0, so these products stay finite; D^β is 0 there.
    power = np.where(zero, -np.inf, beta * log_d)
    inner = np.logaddexp(log_dl, power)
    share_dl = np.exp(log_dl - inner)
    outer = log_b - inner
    log_pred = np.logaddexp(outer, log_e)
    share_term = np.exp(outer - log_pred)
    d_log_beta = -share_term * (1.0 - share_dl) * log_d * beta
    jacobian = np.stack([share_term, -share_term * share_dl, d_log_beta, 1.0 - share_term], axis=1)
    return log_pred, jacobian


def fit_rectified(data_sizes: ArrayLike, losses: ArrayLike) -> LawFit:
    """Fit the rectified scaling law of arXiv 2402.02314 to one model's losses.

        L(D) = B / (D_l + D^β) + E

    `data_sizes` are fine-tuning set sizes D >= 0 (0 = the zero-shot loss,
    where L(0) = B / D_l + E); `losses` are the test losses, > 0. The paper
    fits a reparametrised form in two BFGS stages; here every parameter lives
    on a log scale (B, D_l, β, E > 0 by construction) and the mean squared
    error of log L is minimised with L-BFGS-B from 27 starts (β × D_l × E),
    keeping the best. `params`: B, E, D_l, beta.
    """
    sizes = _as_positive_array(data_sizes, "data_sizes", allow_zero=True)
    observed = _as_positive_array(losses, "losses")
    n = _check_lengths(3, data_sizes=sizes, losses=observed)
    zero = sizes == 0
    if np.all(zero):
        raise ValueError("data_sizes: need at least one size above 0")
    scale = _geometric_mean(sizes[~zero])
    log_d = np.log(np.where(zero, scale, sizes) / scale)
    log_y = np.log(observed)

    def objective(theta):
        log_pred, jacobian = _rectified_log(theta, log_d, zero)
        residual = log_pred - log_y
        return float(np.mean(residual**2)), 2.0 * residual @ jacobian / n

    low, high = float(observed.min()), float(observed.max())
    log_d_span = (float(log_d[~zero].min()), float(log_d[~zero].max()))
    bounds = [
        (-60.0, 60.0),
        (-40.0, 40.0),
        (math.log(0.01), math.log(5.0)),
        (math.log(low) - LOG_E_SPAN, math.log(low)),
    ]
    starts = []
    for beta, dl_at, e_share in itertools.product(
        (0.2, 0.5, 1.0), (0.0, 0.5, 1.0), (0.1, 0.5, 0.9)
    ):
        # D_l placed where D^β crosses it, at the low end, middle or high end
        # of the observed sizes; B then makes the curve start near the highest loss.
        log_dl = beta * (log_d_span[0] + dl_at * (log_d_span[1] - log_d_span[0]))
        e = e_share * low
        log_b = math.log(max(high - e, 1e-12)) + log_dl
        starts.append(np.array([log_b, log_dl, math.log(beta), math.log(e)]))
    theta = _best_minimum(objective, starts, bounds)

    log_b, log_dl, log_beta, log_e = (float(value) for value in theta)
    beta = math.exp(log_beta)
    # Undo the size scaling: (D/s)^β = D^β / s^β, so B and D_l gain a factor s^β.
    params = {
        "B": math.exp(log_b + beta * math.log(scale)),
        "E": math.exp(log_e),
        "D_l": math.exp(log_dl + beta * math.log(scale)),
        "beta": beta,
    }
    log_pred, _ = _rectified_log(theta, log_d, zero)

    def predict(new_sizes: np.ndarray) -> np.ndarray:
        return params["B"] / (params["D_l"] + np.power(new_sizes, beta)) + params["E"]

    return LawFit("rectified", params, _rmse(log_pred - log_y), n, predict)


# --- multiplicative joint law (2402.17193) ----------------------------------------


def _multiplicative_log(theta: np.ndarray, log_x: np.ndarray, log_d: np.ndarray):
    """log L̂ and gradient for θ = (log A, α, β, log E), sizes scaled."""
    log_a, alpha, beta, log_e = theta
    term = log_a - alpha * log_x - beta * log_d
    log_pred = np.logaddexp(term, log_e)
    share = np.exp(term - log_pred)
    jacobian = np.stack([share, -share * log_x, -share * log_d, 1.0 - share], axis=1)
    return log_pred, jacobian


def fit_multiplicative(model_sizes: ArrayLike, data_sizes: ArrayLike, losses: ArrayLike) -> LawFit:
    """Fit the multiplicative joint scaling law of arXiv 2402.17193.

        L(X, D) = A · X^(−α) · D^(−β) + E

    X is the model size (or pretraining data, or PET parameter count), D the
    fine-tuning data size; both > 0. As in the paper (after Chinchilla), the
    Huber loss (δ = 1e-3) of log L is minimised with L-BFGS-B from a grid of
    starts. `params`: A, alpha, beta, E; `predict(X, D)`.
    """
    xs = _as_positive_array(model_sizes, "model_sizes")
    ds = _as_positive_array(data_sizes, "data_sizes")
    observed = _as_positive_array(losses, "losses")
    n = _check_lengths(4, model_sizes=xs, data_sizes=ds, losses=observed)
    x_scale, d_scale = _geometric_mean(xs), _geometric_mean(ds)
    log_x, log_d = np.log(xs / x_scale), np.log(ds / d_scale)
    log_y = np.log(observed)

    def objective(theta):
        log_pred, jacobian = _multiplicative_log(theta, log_x, log_d)
        loss, slope = _huber(log_pred - log_y, HUBER_DELTA)
        return float(loss.sum()), slope @ jacobian

    low = float(observed.min())
    typical = _geometric_mean(observed)
    bounds = [(-60.0, 60.0), (0.0, 5.0), (0.0, 5.0), (math.log(low) - LOG_E_SPAN, math.log(low))]
    starts = []
    for alpha, beta, e_share in itertools.product(
        (0.1, 0.4, 1.0), (0.1, 0.4, 1.0), (0.1, 0.5, 0.9)
    ):
        e = e_share * low
        # A makes the curve pass through the typical loss at the geometric-mean point.
        starts.append(np.array([math.log(max(typical - e, 1e-12)), alpha, beta, math.log(e)]))
    theta = _best_minimum(objective, starts, bounds)

    log_a, alpha, beta, log_e = (float(value) for value in theta)
    params = {
        "A": math.exp(log_a + alpha * math.log(x_scale) + beta * math.log(d_scale)),
        "alpha": alpha,
        "beta": beta,
        "E": math.exp(log_e),
    }
    log_pred, _ = _multiplicative_log(theta, log_x, log_d)

    def predict(new_x: np.ndarray, new_d: np.ndarray) -> np.ndarray:
        return params["A"] * np.power(new_x, -alpha) * np.power(new_d, -beta) + params["E"]

    return LawFit("multiplicative", params, _rmse(log_pred - log_y), n, predict)


# --- power law in model size --------------------------------------------------------


def _power_log(theta: np.ndarray, log_n: np.ndarray):
    """log ê and gradient for θ = (log A, α, log E), sizes scaled."""
    log_a, alpha, log_e = theta
    term = log_a - alpha * log_n
    log_pred = np.logaddexp(term, log_e)
    share = np.exp(term - log_pred)
    return log_pred, np.stack([share, -share * log_n, 1.0 - share], axis=1)


def power_law(sizes: ArrayLike, *, A: float, alpha: float, E: float) -> np.ndarray:
    """err(N) = A · N^(−α) + E, the law `fit_power` fits; computed in log space."""
    return np.exp(math.log(A) - alpha * np.log(np.asarray(sizes, dtype=float))) + E


def fit_power(
    model_sizes: ArrayLike,
    errors: ArrayLike,
    *,
    min_error: float = 1e-4,
    max_alpha: float = 2.0,
    alpha_penalty: float = 1e-5,
) -> LawFit:
    """Fit err(N) = A · N^(−α) + E to a ladder's errors (e.g. 1 − F1) by model size.

    Used to extrapolate the next rung. Minimises the mean squared error of
    log err plus `alpha_penalty` · α², with α in [0, `max_alpha`] and
    0 < E <= min(err): a ladder whose error rises gets α = 0 (a flat curve)
    rather than a negative exponent. Errors are floored at `min_error` (a
    perfect score would make log err infinite). With two points E is fixed
    at 0 (a straight line in log-log); three or four points still give a
    finite fit, never NaN. `params`: A, alpha, E.
    """
    sizes = _as_positive_array(model_sizes, "model_sizes")
    raw = np.asarray(errors, dtype=float).ravel()
    if not np.all(np.isfinite(raw)) or np.any(raw < 0):
        raise ValueError("errors: every value must be a finite number >= 0")
    observed = np.maximum(raw, min_error)
    n = _check_lengths(2, model_sizes=sizes, errors=observed)
    if len(np.unique(sizes)) < 2:
        raise ValueError("model_sizes: need at least two distinct sizes")
    scale = _geometric_mean(sizes)
    log_n = np.log(sizes / scale)
    log_y = np.log(observed)
    low = float(observed.min())
    log_e_low = math.log(low) - LOG_E_SPAN
    log_e_high = log_e_low if n < 3 else math.log(low)

    def objective(theta):
        log_pred, jacobian = _power_log(theta, log_n)
        residual = log_pred - log_y
        gradient = 2.0 * residual @ jacobian / n
        gradient[1] += 2.0 * alpha_penalty * theta[1]
        return float(np.mean(residual**2) + alpha_penalty * theta[1] ** 2), gradient

    bounds = [
        (math.log(low) - 40.0, math.log(float(observed.max())) + 40.0),
        (0.0, max_alpha),
        (log_e_low, log_e_high),
    ]
    typical = _geometric_mean(observed)
    starts = []
    for alpha, e_share in itertools.product((0.05, 0.3, 1.0), (0.0, 0.5, 0.9)):
        e = e_share * low
        log_e = math.log(e) if e > 0 else log_e_low
        starts.append(np.array([math.log(max(typical - e, 1e-12)), alpha, log_e]))
    theta = _best_minimum(objective, starts, bounds)

    log_a, alpha, log_e = (float(value) for value in theta)
    floor = math.exp(log_e) if n >= 3 else 0.0
    params = {"A": math.exp(log_a + alpha * math.log(scale)), "alpha": alpha, "E": floor}
    log_pred, _ = _power_log(theta, log_n)

    def predict(new_sizes: np.ndarray) -> np.ndarray:
        # Computed on the scaled sizes, as fitted, so huge A never overflows.
        return power_law(np.asarray(new_sizes, dtype=float) / scale, A=math.exp(log_a), alpha=alpha, E=params["E"])

    return LawFit("power", params, _rmse(log_pred - log_y), n, predict)
