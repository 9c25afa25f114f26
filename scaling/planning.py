"""What a run's learning curves say about the next batch: which rung, how many labels, or a bigger rung.

- `forecast_curve`: one rung's rectified law L(D) = B / (D_l + D^β) + E
  (arXiv 2402.02314) through its eval losses on the train subsets, with a
  bootstrap of the fit, so that each prediction — the loss at 2×, 4×, 8× the
  labels (`CurveForecast.loss_at`), or the labels a target loss needs
  (`CurveForecast.labels_for`) — carries a 10th–90th percentile interval.
- `rank_rungs`: rungs ordered by the loss each is predicted to reach at a
  target data size, by that law and by Accept then Stop, and the rung to train.
- `joint_fit` and `plan_options`: the multiplicative joint law
  L(X, D) = A · X^(−α) · D^(−β) + E (arXiv 2402.17193) over the rung × subset
  grid, with its bootstrap, every rung × label multiple priced in training
  seconds, and the option the law expects best within a budget.

Both laws are fitted here by variable projection rather than with
`laws.fit_rectified` and `laws.fit_multiplicative`: each is linear in its
scale and floor (B, E; A, E) once its other two parameters are fixed, so the
best scale and floor >= 0 come in closed form (least squares on relative
error, which is the squared error of log L to first order); a coarse grid of
the other two, then a pattern search from its best cell, finds the minimum.
Every bootstrap replicate is fitted at once, vectorised: two hundred refits
take a tenth of a second, where one L-BFGS fit from a grid of starts in
laws.py takes seconds on a loaded machine.

Pure numpy: no Django import.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from scaling import selection

# Fewer train sizes than the rectified law's four parameters leave it undetermined.
MIN_POINTS = 4
BOOTSTRAP_SAMPLES = 200
INTERVAL_PERCENTILES = (10.0, 90.0)
LABEL_MULTIPLES = (1, 2, 4, 8)
# Both laws have four parameters.
FITTED_PARAMETERS = 4

# D_l = c · s^β with s the sizes' geometric mean; log c and log β on these grids.
_LOG_C_GRID = np.linspace(-12.0, 12.0, 25)
_LOG_BETA_GRID = np.linspace(math.log(0.02), math.log(3.0), 21)
# α and β of the joint law, as laws.fit_multiplicative bounds them (its upper 5 never fits a ladder).
_EXPONENT_GRID = np.linspace(0.0, 2.0, 21)
_SEARCH_STEPS = 120


@dataclass(frozen=True)
class Estimate:
    """A predicted value and its bootstrap interval (None when the fit has no spread to resample)."""

    value: float
    low: float | None = None
    high: float | None = None

    def to_dict(self) -> dict:
        return {"value": self.value, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class LabelsNeeded:
    """Train examples a rung needs to reach `target_loss` by its rectified law.

    `reachable` is false when the fitted floor E is at or above the target;
    `size` is then None. `low`/`high` bound it over the bootstrap refits; `high`
    is None when at least the upper percentile of refits never reach it.
    """

    target_loss: float
    reachable: bool
    size: float | None
    low: float | None
    high: float | None
    floor: float
    reason: str | None = None

    def to_dict(self) -> dict:
        return {
            "target_loss": self.target_loss, "reachable": self.reachable, "size": self.size,
            "low": self.low, "high": self.high, "floor": self.floor, "reason": self.reason,
        }


def rectified_loss(params: Mapping[str, float], sizes) -> np.ndarray | float:
    """L(D) = B / (D_l + D^β) + E; a float for a scalar size."""
    values = params["B"] / (params["D_l"] + np.power(np.asarray(sizes, dtype=float), params["beta"])) + params["E"]
    return float(values) if np.ndim(sizes) == 0 else values


def data_for_loss(params: Mapping[str, float], target_loss: float) -> float:
    """The data size D at which the rectified law reaches `target_loss`: its inverse.

    D = (B / (L − E) − D_l)^(1/β); infinite when L <= E (the floor is in the
    way), 0 when the law starts at or below L (L(0) = B / D_l + E <= L).
    """
    excess = target_loss - params["E"]
    if excess <= 0:
        return math.inf
    power = params["B"] / excess - params["D_l"]
    if power <= 0:
        return 0.0
    return float(power ** (1.0 / params["beta"]))


def _project(h: np.ndarray, w: np.ndarray, v: np.ndarray, s_w: np.ndarray, s_y: np.ndarray, count: int):
    """Best B, E >= 0 for y ≈ B·h + E, weights w = 1/y², over the last axis; and the weighted squared error.

    `v` is 1/y, `s_w` = Σw and `s_y` = Σw·y = Σv per row: they do not depend on h, so they come in
    precomputed; Σw·y² is `count`. The squared error is expanded in those sums, never formed point by point.
    """
    weighted = w * h
    s_h, s_hh, s_hy = weighted.sum(-1), (weighted * h).sum(-1), (v * h).sum(-1)
    det = s_hh * s_w - s_h**2
    with np.errstate(divide="ignore", invalid="ignore"):
        b = (s_w * s_hy - s_h * s_y) / det
        e = (s_hh * s_y - s_h * s_hy) / det
        # E < 0 is no floor at all: fit B alone; B <= 0 (or no spread in h) is a flat curve.
        no_floor = ~(e >= 0)
        b = np.where(no_floor, s_hy / s_hh, b)
        e = np.where(no_floor, 0.0, e)
    flat = ~(b > 0) | ~np.isfinite(b) | (det <= 1e-12 * s_hh * s_w)
    b = np.where(flat, 0.0, b)
    e = np.where(flat, s_y / s_w, e)
    sse = b * b * s_hh + 2 * b * e * s_h + e * e * s_w - 2 * b * s_hy - 2 * e * s_y + count
    return b, e, sse


def _rectified_h(x: np.ndarray, log_c: np.ndarray, log_beta: np.ndarray) -> np.ndarray:
    """1 / (c + x^β) for every (c, β) cell (…, G) and size x (n,): shape (…, G, n)."""
    beta = np.exp(log_beta)[..., None]
    with np.errstate(divide="ignore"):
        log_x = np.log(x)
    power = np.where(x > 0, np.exp(beta * np.where(x > 0, log_x, 0.0)), 0.0)
    return 1.0 / (np.exp(log_c)[..., None] + power)


def _fit_projected(h_of, replicates: np.ndarray, grid_p: np.ndarray, grid_q: np.ndarray):
    """Fit y ≈ scale · h(p, q) + floor to each row of `replicates` (R, n) over shape parameters (p, q).

    `h_of(p, q)` gives h for cells (R, G) as (R, G, n). A coarse grid, then a
    pattern search from its best cell: move to the best neighbour, or halve
    the step when none is better, until the step is a millionth of the grid's.
    Returns p, q, scale, floor, each (R,).
    """
    count, points = replicates.shape
    v = 1.0 / replicates[:, None, :]
    w = v * v
    s_w, s_y = w.sum(-1), v.sum(-1)

    def best_cells(rows, cells_p, cells_q):
        scale, floor, sse = _project(h_of(cells_p, cells_q), w[rows], v[rows], s_w[rows], s_y[rows], points)
        sse = np.where(np.isfinite(sse), sse, np.inf)
        best = np.argmin(sse, axis=1)
        at = np.arange(len(rows))
        return cells_p[at, best], cells_q[at, best], scale[at, best], floor[at, best], sse[at, best]

    everyone = np.arange(count)
    cells_p, cells_q = (
        np.broadcast_to(part.ravel(), (count, part.size)) for part in np.meshgrid(grid_p, grid_q, indexing="ij")
    )
    p, q, scale, floor, sse = best_cells(everyone, cells_p, cells_q)
    first_p, first_q = float(grid_p[1] - grid_p[0]), float(grid_q[1] - grid_q[0])
    step_p, step_q = np.full(count, first_p), np.full(count, first_q)
    around = np.array([-1.0, 0.0, 1.0])
    stencil_p, stencil_q = (part.ravel() for part in np.meshgrid(around, around, indexing="ij"))
    for _ in range(_SEARCH_STEPS):
        # Only the rows still searching: most settle long before the last step.
        rows = np.flatnonzero((step_p > 1e-6 * first_p) | (step_q > 1e-6 * first_q))
        if not len(rows):
            break
        moved = best_cells(
            rows,
            np.clip(p[rows, None] + step_p[rows, None] * stencil_p, grid_p[0], grid_p[-1]),
            np.clip(q[rows, None] + step_q[rows, None] * stencil_q, grid_q[0], grid_q[-1]),
        )
        # A gain within rounding of the expanded squared error is no gain: the step must shrink.
        better = moved[4] < sse[rows] * (1 - 1e-9) - 1e-14 * points
        for values, new in zip((p, q, scale, floor, sse), moved):
            values[rows] = np.where(better, new, values[rows])
        step_p[rows] = np.where(better, step_p[rows], step_p[rows] / 2)
        step_q[rows] = np.where(better, step_q[rows], step_q[rows] / 2)
    return p, q, scale, floor


def _fit_rectified_many(sizes: np.ndarray, replicates: np.ndarray) -> np.ndarray:
    """The rectified law fitted to each row of `replicates` (R, n) at `sizes`: (R, 4) of B, E, D_l, β."""
    scale = _geometric_mean(sizes[sizes > 0])
    x = sizes / scale
    log_c, log_beta, b, e = _fit_projected(
        lambda log_c, log_beta: _rectified_h(x, log_c, log_beta), replicates, _LOG_C_GRID, _LOG_BETA_GRID
    )
    beta = np.exp(log_beta)
    # Undo the size scaling: (D/s)^β = D^β / s^β, so B and D_l gain a factor s^β.
    gain = np.power(scale, beta)
    return np.stack([b * gain, e, np.exp(log_c) * gain, beta], axis=1)


def _fit_multiplicative_many(model_sizes: np.ndarray, data_sizes: np.ndarray, replicates: np.ndarray) -> np.ndarray:
    """The joint law fitted to each row of `replicates` (R, n): (R, 4) of A, alpha, beta, E."""
    x_scale, d_scale = _geometric_mean(model_sizes), _geometric_mean(data_sizes)
    log_x, log_d = np.log(model_sizes / x_scale), np.log(data_sizes / d_scale)
    alpha, beta, a, e = _fit_projected(
        lambda alpha, beta: np.exp(-alpha[..., None] * log_x - beta[..., None] * log_d),
        replicates, _EXPONENT_GRID, _EXPONENT_GRID,
    )
    return np.stack([a * np.power(x_scale, alpha) * np.power(d_scale, beta), alpha, beta, e], axis=1)


def _geometric_mean(values: np.ndarray) -> float:
    return float(np.exp(np.mean(np.log(values))))


def _params(row: np.ndarray) -> dict[str, float]:
    return {"B": float(row[0]), "E": float(row[1]), "D_l": float(row[2]), "beta": float(row[3])}


def _percentiles(values: np.ndarray) -> tuple[float, float]:
    # "nearest" never interpolates between a finite value and an infinite one.
    low, high = np.percentile(values, INTERVAL_PERCENTILES, method="nearest")
    return float(low), float(high)


@dataclass(frozen=True)
class CurveForecast:
    """One rung's rectified law through its learning curve, and its bootstrap refits.

    `params` is None when there is no answer; `reason` says why. `replicates`
    holds each refit's (B, E, D_l, β); it is empty when the interval could not be
    made (`interval_reason`).
    """

    sizes: list[float]
    losses: list[float]
    params: dict[str, float] | None
    reason: str | None = None
    rmse_log: float | None = None
    replicates: np.ndarray = field(default_factory=lambda: np.empty((0, 4)), repr=False, compare=False)
    interval_source: str | None = None
    interval_reason: str | None = None

    @property
    def answered(self) -> bool:
        return self.params is not None

    def replicate_losses(self, size: float) -> np.ndarray:
        """Each bootstrap refit's loss at `size`."""
        b, e, d_l, beta = self.replicates.T
        return b / (d_l + np.power(float(size), beta)) + e

    def loss_at(self, size: float) -> Estimate | None:
        """Predicted eval loss after training on `size` examples; None without an answer."""
        if self.params is None:
            return None
        value = rectified_loss(self.params, float(size))
        if not len(self.replicates):
            return Estimate(value)
        low, high = _percentiles(self.replicate_losses(size))
        return Estimate(value, min(low, value), max(high, value))

    def curve(self, sizes: Sequence[float]) -> list[float]:
        return [] if self.params is None else rectified_loss(self.params, np.asarray(sizes, dtype=float)).tolist()

    def labels_for(self, target_loss: float) -> LabelsNeeded | None:
        """Train examples needed to reach `target_loss`; None without an answer."""
        if self.params is None:
            return None
        floor = self.params["E"]
        size = data_for_loss(self.params, target_loss)
        if math.isinf(size):
            return LabelsNeeded(
                target_loss, False, None, None, None, floor,
                reason=f"not reachable: the fitted floor {floor:.3f} is at or above the target {target_loss:.3f}",
            )
        low = high = None
        if len(self.replicates):
            needed = np.array([data_for_loss(_params(row), target_loss) for row in self.replicates])
            low, high = _percentiles(needed)
            low = min(low, size)
            high = max(high, size) if math.isfinite(high) else None
        return LabelsNeeded(target_loss, True, size, low, high, floor)


def _relative_errors(standard_errors: np.ndarray | None, fitted: np.ndarray) -> np.ndarray | None:
    """Standard errors relative to the fitted losses; None unless every one is a number and some are above 0."""
    if standard_errors is None:
        return None
    relative = np.asarray(standard_errors, dtype=float) / fitted
    return relative if np.all(np.isfinite(relative)) and np.any(relative > 0) else None


def _bootstrap_noise(residuals: np.ndarray, standard_errors: np.ndarray | None, samples: int, seed: int):
    """Relative noise for `samples` redraws of the points, and what it came from; (None, None) when there is none.

    From whichever spread is larger: the residuals, centred, resampled and
    inflated by √(n / (n − 4)) for the four fitted parameters (none with four
    points or fewer), or each point's own standard error.
    """
    count = len(residuals)
    inflation = math.sqrt(count / (count - FITTED_PARAMETERS)) if count > FITTED_PARAMETERS else 0.0
    residual_spread = float(np.sqrt(np.mean(residuals**2))) * inflation
    measured_spread = float(np.sqrt(np.mean(standard_errors**2))) if standard_errors is not None else 0.0
    if residual_spread == 0.0 and measured_spread == 0.0:
        return None, None
    rng = np.random.default_rng(seed)
    if residual_spread >= measured_spread:
        return rng.choice((residuals - residuals.mean()) * inflation, size=(samples, count)), "residuals"
    return rng.normal(0.0, 1.0, size=(samples, count)) * standard_errors, "standard errors"


def forecast_curve(
    sizes: Sequence[float],
    losses: Sequence[float],
    *,
    standard_errors: Sequence[float] | None = None,
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
) -> CurveForecast:
    """Fit the rectified law to one rung's losses by train size, and bootstrap it.

    Needs at least `MIN_POINTS` distinct sizes, else the forecast has no
    params and says why. The bootstrap redraws each loss around the fitted
    curve, with relative noise from whichever is larger: the fit's residuals
    (resampled, inflated by √(n / (n − 4)) for the four fitted parameters;
    only possible with more than four points) or each point's own standard
    error (`standard_errors`, e.g. of the mean over eval items; None for
    unknown); then refits.
    """
    size_array = np.asarray(sizes, dtype=float).ravel()
    loss_array = np.asarray(losses, dtype=float).ravel()
    if len(size_array) != len(loss_array):
        raise ValueError(f"{len(size_array)} sizes but {len(loss_array)} losses")
    usable = np.isfinite(size_array) & np.isfinite(loss_array) & (size_array >= 0) & (loss_array > 0)
    size_array, loss_array = size_array[usable], loss_array[usable]
    order = np.argsort(size_array)
    size_array, loss_array = size_array[order], loss_array[order]
    plain = (size_array.tolist(), loss_array.tolist())
    distinct = len(np.unique(size_array[size_array > 0]))
    if distinct < MIN_POINTS:
        return CurveForecast(
            *plain, params=None,
            reason=f"needs losses at {MIN_POINTS} or more train sizes to fit the rectified law, has {distinct}",
        )

    point = _fit_rectified_many(size_array, loss_array[None, :])[0]
    params = _params(point)
    fitted = rectified_loss(params, size_array)
    relative = (loss_array - fitted) / fitted
    rmse_log = float(np.sqrt(np.mean((np.log(loss_array) - np.log(fitted)) ** 2)))

    count = len(size_array)
    measured = None
    if standard_errors is not None:
        errors = np.asarray(standard_errors, dtype=float).ravel()
        if len(errors) == len(usable):
            measured = errors[usable][order]
    noise, source = _bootstrap_noise(relative, _relative_errors(measured, fitted), samples, seed)
    if noise is None:
        return CurveForecast(
            *plain, params=params, rmse_log=rmse_log,
            interval_reason=(
                f"no interval: {count} points fit the law's {FITTED_PARAMETERS} parameters exactly "
                "and the losses carry no standard errors"
            ),
        )
    # A draw can never make a loss negative: floor it at a hundredth of the fitted value.
    replicates = fitted * np.maximum(1.0 + noise, 0.01)
    return CurveForecast(
        *plain, params=params, rmse_log=rmse_log,
        replicates=_fit_rectified_many(size_array, replicates), interval_source=source,
    )


# --- which rung -------------------------------------------------------------------------


@dataclass(frozen=True)
class RungRank:
    """One rung's predicted loss at the target size: by the rectified law (with its interval), by AtS,
    and by AtS with the bend backtested on every rung's curve (`selection.backtested_bend`).

    `chance_best`: the share of bootstrap refits in which this rung has the lowest loss.
    """

    name: str
    predicted: Estimate
    accept_then_stop: float | None
    chance_best: float | None = None
    backtested_bend: float | None = None

    def to_dict(self) -> dict:
        return {
            "name": self.name, "predicted": self.predicted.to_dict(),
            "accept_then_stop": self.accept_then_stop, "chance_best": self.chance_best,
            "backtested_bend": self.backtested_bend,
        }


@dataclass(frozen=True)
class Ranking:
    """Rungs by predicted loss at `target_size`, best first, and the one to train.

    `recommended` is the lowest by the rectified law; `ats_order` the names by
    AtS; `agrees` whether AtS names the same rung first; `bend_order` and
    `bend_agrees` the same for the backtested bend. `unranked` gives each
    rung left out and why; `reason` says why nothing is recommended.
    """

    target_size: float
    ranked: list[RungRank]
    ats_order: list[str]
    recommended: RungRank | None
    agrees: bool | None
    unranked: dict[str, str]
    reason: str | None = None
    bend_order: list[str] = field(default_factory=list)
    bend_agrees: bool | None = None


def _positive_points(forecast: CurveForecast) -> tuple | None:
    """The curve's points above size 0, as (sizes, losses); None with fewer than two."""
    positive = [(size, loss) for size, loss in zip(forecast.sizes, forecast.losses) if size > 0]
    return tuple(zip(*positive)) if len(positive) >= 2 else None


def _ats_loss(forecast: CurveForecast, target_size: float) -> float | None:
    points = _positive_points(forecast)
    return None if points is None else selection.accept_then_stop(points, target_size).predicted_loss


def _bend_losses(forecasts: Mapping[str, CurveForecast], target_size: float) -> dict[str, float]:
    curves = {name: points for name, forecast in forecasts.items() if (points := _positive_points(forecast))}
    return selection.backtested_bend(curves, target_size).predicted if curves else {}


def rank_rungs(forecasts: Mapping[str, CurveForecast], target_size: float) -> Ranking:
    """Order rungs by the loss their rectified law predicts at `target_size`; recommend the lowest.

    Accept then Stop (`selection.accept_then_stop`, the paper's selector) and
    AtS with a backtested bend (`selection.backtested_bend`, which ranked
    better on the paper's benchmark) rank the same curves beside it. Rungs
    whose forecast has no answer are left out, with its reason.
    """
    if not target_size > 0:
        raise ValueError("target_size: must be > 0")
    answered = {name: forecast for name, forecast in forecasts.items() if forecast.answered}
    unranked = {name: forecast.reason for name, forecast in forecasts.items() if not forecast.answered}
    ats = {name: _ats_loss(forecast, target_size) for name, forecast in forecasts.items()}
    ats_order = sorted((name for name, loss in ats.items() if loss is not None), key=lambda name: ats[name])
    bend = _bend_losses(forecasts, target_size)
    bend_order = sorted(bend, key=bend.get)
    if not answered:
        return Ranking(target_size, [], ats_order, None, None, unranked,
                       reason="no rung has enough learning-curve points for the rectified law", bend_order=bend_order)

    chances: dict[str, float] = {}
    samples = {len(forecast.replicates) for forecast in answered.values()}
    if len(samples) == 1 and samples != {0}:
        # Refits of different rungs are independent draws; pair them by index.
        losses = np.stack([forecast.replicate_losses(target_size) for forecast in answered.values()])
        winners = np.bincount(np.argmin(losses, axis=0), minlength=len(answered))
        chances = {name: float(wins / losses.shape[1]) for name, wins in zip(answered, winners)}
    ranked = sorted(
        (
            RungRank(name, forecast.loss_at(target_size), ats.get(name), chances.get(name), bend.get(name))
            for name, forecast in answered.items()
        ),
        key=lambda entry: entry.predicted.value,
    )
    best = ranked[0]
    return Ranking(
        target_size, ranked, ats_order, best, (ats_order[0] == best.name) if ats_order else None, unranked,
        bend_order=bend_order, bend_agrees=(bend_order[0] == best.name) if bend_order else None,
    )


# --- label more, or go bigger ---------------------------------------------------------------


def multiplicative_loss(params: Mapping[str, float], model_size, data_size) -> np.ndarray | float:
    """L(X, D) = A · X^(−α) · D^(−β) + E; a float for scalar sizes."""
    values = (
        params["A"] * np.power(np.asarray(model_size, dtype=float), -params["alpha"])
        * np.power(np.asarray(data_size, dtype=float), -params["beta"]) + params["E"]
    )
    return float(values) if np.ndim(values) == 0 else values


@dataclass(frozen=True)
class JointFit:
    """The multiplicative joint law over the rung × subset grid, and its bootstrap refits.

    `params` (A, alpha, beta, E) is None when there is no answer; `reason` says why.
    """

    params: dict[str, float] | None
    reason: str | None = None
    rmse_log: float | None = None
    n_points: int = 0
    replicates: np.ndarray = field(default_factory=lambda: np.empty((0, 4)), repr=False, compare=False)

    def loss_at(self, model_size: float, data_size: float) -> Estimate | None:
        if self.params is None:
            return None
        value = multiplicative_loss(self.params, float(model_size), float(data_size))
        if not len(self.replicates):
            return Estimate(value)
        a, alpha, beta, e = self.replicates.T
        low, high = _percentiles(a * np.power(float(model_size), -alpha) * np.power(float(data_size), -beta) + e)
        return Estimate(value, min(low, value), max(high, value))

    def to_dict(self) -> dict:
        return {"params": self.params, "reason": self.reason, "rmse_log": self.rmse_log, "n_points": self.n_points}


def joint_fit(
    model_sizes: Sequence[float],
    data_sizes: Sequence[float],
    losses: Sequence[float],
    *,
    standard_errors: Sequence[float] | None = None,
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
) -> JointFit:
    """Fit L(X, D) = A · X^(−α) · D^(−β) + E (arXiv 2402.17193) to every measured (rung, train size) loss.

    The same law as `laws.fit_multiplicative`, fitted by variable projection on
    relative error (fast enough to bootstrap); the refits redraw the points as
    `forecast_curve` does. Needs more than `MIN_POINTS` points, over at least
    two model sizes and two data sizes.
    """
    xs, ds, ys = (np.asarray(values, dtype=float).ravel() for values in (model_sizes, data_sizes, losses))
    if not len(xs) == len(ds) == len(ys):
        raise ValueError(f"{len(xs)} model sizes, {len(ds)} data sizes and {len(ys)} losses")
    if standard_errors is not None and len(standard_errors) != len(ys):
        raise ValueError(f"{len(standard_errors)} standard errors for {len(ys)} losses")
    keep = np.isfinite(xs) & np.isfinite(ds) & np.isfinite(ys) & (xs > 0) & (ds > 0) & (ys > 0)
    xs, ds, ys = xs[keep], ds[keep], ys[keep]
    count = len(ys)
    if count <= MIN_POINTS:
        return JointFit(None, f"needs more than {MIN_POINTS} (rung, train size) losses for the joint law, has {count}")
    if len(np.unique(xs)) < 2 or len(np.unique(ds)) < 2:
        return JointFit(None, "needs losses at two or more rung sizes and two or more train sizes for the joint law")
    point = _fit_multiplicative_many(xs, ds, ys[None, :])[0]
    params = {"A": float(point[0]), "alpha": float(point[1]), "beta": float(point[2]), "E": float(point[3])}
    fitted = multiplicative_loss(params, xs, ds)
    measured = None if standard_errors is None else np.asarray(standard_errors, dtype=float).ravel()[keep]
    noise, _ = _bootstrap_noise((ys - fitted) / fitted, _relative_errors(measured, fitted), samples, seed)
    return JointFit(
        params,
        rmse_log=float(np.sqrt(np.mean((np.log(ys) - np.log(fitted)) ** 2))),
        n_points=count,
        replicates=(
            np.empty((0, 4)) if noise is None
            else _fit_multiplicative_many(xs, ds, fitted * np.maximum(1.0 + noise, 0.01))
        ),
    )


@dataclass(frozen=True)
class RungCost:
    """What a rung costs to train: measured seconds per train example, plus its fixed (scoring) seconds.

    `seconds_per_example` None: never measured; its options are priced at None.
    """

    name: str
    model_size: float
    seconds_per_example: float | None
    fixed_seconds: float = 0.0


@dataclass(frozen=True)
class Option:
    name: str
    model_size: float
    multiple: int
    data_size: float
    extra_examples: float
    predicted: Estimate
    seconds: float | None
    within_budget: bool

    def to_dict(self) -> dict:
        return {
            "name": self.name, "model_size": self.model_size, "multiple": self.multiple,
            "data_size": self.data_size, "extra_examples": self.extra_examples,
            "predicted": self.predicted.to_dict(), "seconds": self.seconds, "within_budget": self.within_budget,
        }


@dataclass(frozen=True)
class OptionsPlan:
    """Every rung × label multiple with the joint law's loss and its cost; `best` within the budget."""

    budget_seconds: float
    options: list[Option]
    best: Option | None
    reason: str | None = None


def plan_options(
    joint: JointFit,
    rungs: Sequence[RungCost],
    *,
    current_size: float,
    budget_seconds: float,
    multiples: Sequence[int] = LABEL_MULTIPLES,
) -> OptionsPlan:
    """Each rung trained on each multiple of `current_size` examples: predicted loss and training seconds.

    Cost = seconds per example × examples + the rung's fixed seconds (one
    fine-tune at the measured speed: epochs fixed, so linear in the examples).
    `best` is the lowest predicted loss among the options priced within
    `budget_seconds` (the cheaper on a tie); None, with a reason, when none is.
    """
    if not current_size > 0:
        raise ValueError("current_size: must be > 0")
    if not budget_seconds > 0:
        raise ValueError("budget_seconds: must be > 0")
    if joint.params is None:
        return OptionsPlan(budget_seconds, [], None, reason=joint.reason)
    options = []
    for rung in rungs:
        for multiple in multiples:
            data_size = float(current_size * multiple)
            seconds = (
                None if rung.seconds_per_example is None
                else float(rung.seconds_per_example * data_size + rung.fixed_seconds)
            )
            options.append(Option(
                rung.name, float(rung.model_size), int(multiple), data_size, data_size - current_size,
                joint.loss_at(rung.model_size, data_size), seconds,
                bool(seconds is not None and seconds <= budget_seconds),
            ))
    affordable = [option for option in options if option.within_budget]
    if not affordable:
        return OptionsPlan(budget_seconds, options, None,
                           reason=f"no option fits in a budget of {budget_seconds:g} s (or none is measured)")
    best = min(affordable, key=lambda option: (option.predicted.value, option.seconds))
    return OptionsPlan(budget_seconds, options, best)
