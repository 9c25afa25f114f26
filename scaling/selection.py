"""Pick the model to fine-tune from cheap runs: "Accept then Stop" (arXiv 2402.02314).

Fine-tuning loss against data size has a *pre-power phase* (small D: the
loss barely moves, the model leans on what it pre-learned) followed by a
*power phase* (a straight line in log-log). To predict a model's loss at a
full data size from runs on halving subsets, AtS walks from the largest
subset down, fitting a line in log-log to the points accepted so far, and
stops at the first smaller point that falls off that line; the line through
the accepted points predicts the loss at the target size.

Stop rule, as the paper's reference code has it (so that, with the default
arguments, model selection on the paper's public benchmark reproduces its
Table 1): with a line fitted to the accepted points, a point is rejected when
its standardized residual |log L − line(log D)| / σ exceeds `delta`, σ being
the population standard deviation of the accepted points' residuals. Testing
begins once `k` points are accepted. When every point is accepted, the line is
fitted to all of them but the smallest, which the reference code also leaves
out.

Two departures are available as explicit options, both off by default because
each changes which points are accepted on the paper's benchmark and costs it
up to 15 Pearson points: `min_residual_std` floors σ (three points lying
almost exactly on a line otherwise make every next point an outlier), and
`keep_smallest=True` fits all the points when every one is accepted.

Pure numpy: no Django import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

LossCurve = Mapping[float, float] | tuple[Sequence[float], Sequence[float]]


@dataclass(frozen=True)
class AtSResult:
    """The AtS prediction and how it was reached.

    The line is log L = intercept + slope · log D (natural logs).
    `stop_size` is the first (largest) size rejected, None when every point
    was accepted; `pre_power_sizes` are it and every size below it.
    `float(result)` is the predicted loss.
    """

    target_size: float
    predicted_loss: float
    slope: float
    intercept: float
    accepted_sizes: list[float]
    stop_size: float | None
    stop_residual: float | None
    pre_power_sizes: list[float]

    def __float__(self) -> float:
        return self.predicted_loss

    def predict(self, sizes: Sequence[float] | float) -> np.ndarray | float:
        """The fitted power line at other sizes."""
        values = np.exp(self.intercept + self.slope * np.log(np.asarray(sizes, dtype=float)))
        return float(values) if np.ndim(sizes) == 0 else values

    def to_dict(self) -> dict[str, Any]:
        return {
            "target_size": self.target_size,
            "predicted_loss": self.predicted_loss,
            "slope": self.slope,
            "intercept": self.intercept,
            "accepted_sizes": list(self.accepted_sizes),
            "stop_size": self.stop_size,
            "stop_residual": self.stop_residual,
            "pre_power_sizes": list(self.pre_power_sizes),
        }


def loss_curve_arrays(losses_by_size: LossCurve) -> tuple[np.ndarray, np.ndarray]:
    """Sizes and losses in ascending size order, from a mapping or a pair of sequences.

    Size 0 (the zero-shot loss) is dropped: it has no place on a log-log line.
    """
    if isinstance(losses_by_size, Mapping):
        pairs = list(losses_by_size.items())
        sizes = np.array([size for size, _ in pairs], dtype=float)
        losses = np.array([loss for _, loss in pairs], dtype=float)
    else:
        try:
            raw_sizes, raw_losses = losses_by_size
        except (TypeError, ValueError):
            raise ValueError(
                "losses_by_size: give a mapping size -> loss or (sizes, losses)"
            ) from None
        sizes = np.asarray(raw_sizes, dtype=float).ravel()
        losses = np.asarray(raw_losses, dtype=float).ravel()
        if len(sizes) != len(losses):
            raise ValueError(f"losses_by_size: {len(sizes)} sizes but {len(losses)} losses")
    if not (np.all(np.isfinite(sizes)) and np.all(np.isfinite(losses))):
        raise ValueError("losses_by_size: sizes and losses must be finite numbers")
    if np.any(sizes < 0) or np.any(losses <= 0):
        raise ValueError("losses_by_size: sizes must be >= 0 and losses > 0")
    keep = sizes > 0
    sizes, losses = sizes[keep], losses[keep]
    if len(np.unique(sizes)) != len(sizes):
        raise ValueError("losses_by_size: each size may appear once")
    order = np.argsort(sizes)
    return sizes[order], losses[order]


def _line(log_x: np.ndarray, log_y: np.ndarray) -> tuple[float, float]:
    slope, intercept = np.polyfit(log_x, log_y, 1)
    return float(slope), float(intercept)


def accept_then_stop(
    losses_by_size: LossCurve,
    target_size: float,
    k: int = 3,
    delta: float = 5.0,
    *,
    min_residual_std: float = 0.0,
    keep_smallest: bool = False,
) -> AtSResult:
    """Predict a model's fine-tuning loss at `target_size` with AtS (arXiv 2402.02314).

    `losses_by_size`: one model's test losses after fine-tuning on halving
    subsets, as {size: loss} or (sizes, losses); a size-0 point is ignored.
    Starting from the `k` largest sizes, each next smaller point is accepted
    while its standardized residual from the line through the accepted points
    stays at or below `delta` (the paper's k = 3, δ = 5); the first point past
    it and every smaller point form the pre-power phase. The line through the
    accepted points gives the predicted loss; when no point is rejected, the
    smallest is left out of that line unless `keep_smallest`. σ is floored at
    `min_residual_std` (0: none, as published). Returns an `AtSResult`, whose
    `float()` is the predicted loss.
    """
    if k < 2:
        raise ValueError("k: a line needs at least 2 accepted points")
    if not target_size > 0:
        raise ValueError("target_size: must be > 0")
    sizes, losses = loss_curve_arrays(losses_by_size)
    if len(sizes) < 2:
        raise ValueError("losses_by_size: need losses at two or more sizes above 0")
    log_x, log_y = np.log(sizes), np.log(losses)

    first = max(len(sizes) - k, 0)
    stop, stop_residual = None, None
    for candidate in range(first - 1, -1, -1):
        accepted = slice(candidate + 1, None)
        slope, intercept = _line(log_x[accepted], log_y[accepted])
        residual = log_y[accepted] - (intercept + slope * log_x[accepted])
        spread = max(float(residual.std()), min_residual_std)
        distance = abs(log_y[candidate] - (intercept + slope * log_x[candidate]))
        # As published: a zero spread makes any off-line point an outlier (inf)
        # and an on-line one not (nan compares false).
        with np.errstate(divide="ignore", invalid="ignore"):
            standardized = float(np.float64(distance) / spread)
        if standardized > delta:
            stop, stop_residual = candidate, standardized
            break
        first = candidate
    if stop is None and first == 0 and len(sizes) > k and not keep_smallest:
        first = 1

    slope, intercept = _line(log_x[first:], log_y[first:])
    predicted = float(np.exp(intercept + slope * np.log(target_size)))
    return AtSResult(
        target_size=float(target_size),
        predicted_loss=predicted,
        slope=slope,
        intercept=intercept,
        accepted_sizes=sizes[first:].tolist(),
        stop_size=None if stop is None else float(sizes[stop]),
        stop_residual=stop_residual,
        pre_power_sizes=[] if stop is None else sizes[: stop + 1].tolist(),
    )


@dataclass(frozen=True)
class RankedModel:
    model: str
    predicted_loss: float
    result: AtSResult

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "predicted_loss": self.predicted_loss,
            "result": self.result.to_dict(),
        }


def rank_models(
    curves_by_model: Mapping[str, LossCurve],
    target_size: float,
    k: int = 3,
    delta: float = 5.0,
    *,
    min_residual_std: float = 0.0,
    keep_smallest: bool = False,
) -> list[RankedModel]:
    """Candidate models ordered by AtS-predicted loss at `target_size`, best first.

    This is the paper's selection: fine-tune each candidate on small subsets,
    extrapolate each with `accept_then_stop`, and pick the lowest prediction.
    Ties keep the input order.
    """
    ranked = []
    for model, curve in curves_by_model.items():
        result = accept_then_stop(
            curve, target_size, k, delta, min_residual_std=min_residual_std, keep_smallest=keep_smallest
        )
        ranked.append(RankedModel(model=model, predicted_loss=result.predicted_loss, result=result))
    return sorted(ranked, key=lambda entry: entry.predicted_loss)


# --- AtS with a backtested bend -------------------------------------------------------------
#
# On the paper's benchmark, fine-tuning curves in log-log often keep steepening
# past the largest subset AtS sees (FLAN, WMT19), so its straight line
# predicts too high a loss, most for the models whose curves bend most. A
# ladder can measure that bend without seeing the target: AtS on each curve's
# points up to half its largest size predicts that largest point, and one
# slope factor per halving, shared by every curve, is fitted to those
# predictions; how much of the backtest's error it removes decides how far to
# trust it. Tuned on two of the paper's datasets and scored on the third, it
# ranks above AtS on all three with RelAcc no lower (GIGAWORD by a hair:
# benchmarks/bench_selector_holdout.py, RESULTS.md).

BEND_FACTORS = np.round(np.arange(0.6, 2.0001, 0.05), 2)


@dataclass(frozen=True)
class BendResult:
    """Each curve's predicted loss at `target_size`, by AtS bent by the backtested slope factor.

    `factor`: the slope factor that best turns the backtest's AtS lines into
    the curves' largest points (1.0: no bend); `explained`: the share of the
    backtest's squared log error that factor removes, which scales how much
    of it is applied; `backtested`: the curves the backtest could use (two or
    more points up to 1/`ratio` of their largest size). `straight`: each
    curve's AtS line, unbent, at the target.
    """

    target_size: float
    predicted: dict[str, float]
    straight: dict[str, float]
    factor: float
    explained: float
    backtested: list[str]

    def order(self) -> list[str]:
        """Curve names by predicted loss, lowest first (ties keep the input order)."""
        return sorted(self.predicted, key=self.predicted.get)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target_size": self.target_size,
            "predicted": dict(self.predicted),
            "straight": dict(self.straight),
            "factor": self.factor,
            "explained": self.explained,
            "backtested": list(self.backtested),
        }


def _extended(result: AtSResult, start: float, target: float, factor: float) -> float:
    """Log loss at `target`: the AtS line up to `start`, then its slope times `factor`."""
    at_start = result.intercept + result.slope * np.log(start)
    return float(at_start + factor * result.slope * (np.log(target) - np.log(start)))


def backtested_bend(
    curves_by_model: Mapping[str, LossCurve],
    target_size: float,
    k: int = 3,
    delta: float = 3.0,
    *,
    ratio: float = 2.0,
    trust_power: float = 2.0,
    growth: float = 1.0,
    factors: Sequence[float] = BEND_FACTORS,
) -> BendResult:
    """Predict every curve's loss at `target_size` by AtS with a slope bend backtested on the curves themselves.

    Backtest: for each curve, `accept_then_stop` (`k`, `delta`) on its points
    up to 1/`ratio` of its largest size predicts that largest point, with the
    line's slope past its last point multiplied by a factor f from `factors`;
    the f with the lowest mean squared log error over all curves is chosen,
    and `explained` = 1 − that error / the error at f = 1. Prediction: each
    curve's AtS line on all its points, past its largest size D with its
    slope times 1 + explained^`trust_power` · (f − 1) · (1 + `growth` ·
    (ln(T/D) / ln(`ratio`) − 1)): the bend, trusted as far as it explained
    the backtest and, with `growth` = 1, carried per backtest distance to
    the target. A target at or below D, or no curve with enough points to
    backtest, gives the straight AtS line. The defaults are the settings
    the held-out benchmark chose (δ = 3, not the paper's 5, among them).
    """
    if not target_size > 0:
        raise ValueError("target_size: must be > 0")
    if not ratio > 1:
        raise ValueError("ratio: must be > 1")
    factors = np.asarray(factors, dtype=float)
    if not np.any(np.isclose(factors, 1.0)):
        raise ValueError("factors: must include 1.0 (no bend)")
    curves = {model: loss_curve_arrays(curve) for model, curve in curves_by_model.items()}
    if not curves:
        raise ValueError("curves_by_model: need at least one curve")

    backtests = {}
    for model, (sizes, losses) in curves.items():
        largest = sizes[-1]
        early = sizes <= largest / ratio
        if early.sum() >= 2:
            line = accept_then_stop((sizes[early], losses[early]), largest, k, delta)
            backtests[model] = (line, float(sizes[early][-1]), float(largest), float(np.log(losses[-1])))
    factor, explained = 1.0, 0.0
    if backtests:
        errors = np.array([
            np.mean([
                (_extended(line, start, largest, f) - truth) ** 2
                for line, start, largest, truth in backtests.values()
            ])
            for f in factors
        ])
        best = int(np.argmin(errors))
        unbent = errors[int(np.argmin(np.abs(factors - 1.0)))]
        factor = float(factors[best])
        explained = float(1.0 - errors[best] / unbent) if unbent > 0 else 0.0

    predicted, straight = {}, {}
    for model, (sizes, losses) in curves.items():
        line = accept_then_stop((sizes, losses), target_size, k, delta)
        straight[model] = line.predicted_loss
        largest = float(sizes[-1])
        if target_size <= largest or factor == 1.0:
            predicted[model] = line.predicted_loss
            continue
        further = np.log(target_size / largest) / np.log(ratio)
        applied = 1.0 + explained**trust_power * (factor - 1.0) * (1.0 + growth * (further - 1.0))
        predicted[model] = float(np.exp(_extended(line, largest, target_size, applied)))
    return BendResult(
        target_size=float(target_size), predicted=predicted, straight=straight, factor=factor,
        explained=explained, backtested=list(backtests),
    )
