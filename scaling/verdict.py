"""Does quality rise with model size? Per-rung F1 with paired bootstrap intervals.

The seed method (arXiv 2405.02817) judges a data batch by whether F1 on the
held-out split rises monotonically across a ladder of model sizes.
`monotonicity` computes each rung's binary F1 (or, for a task with no single
positive option, macro-F1: the mean of every class's one-vs-rest F1), bootstrap confidence intervals
that resample *items* with one shared resample per replicate for every rung
(paired, so rung differences keep their correlation), and names each adjacent
pair whose F1 drops together with the bootstrap probability that it really
drops. The ladder's rise is judged by its fitted gain (see `decide`) with a
paired-bootstrap interval, so that a rise the items cannot support is not
called monotone. `auc_by_size` gives a threshold-free companion score from
per-item margins.

Abstentions: an unparseable answer or "don't know" is a wrong prediction. For
binary F1 it is read as "the label the item does not have": a false negative
on a positive item and a false positive on a negative one. This equals
`sklearn.metrics.f1_score` after replacing each abstention by the opposite of
the item's label. For macro-F1 an abstention is a false negative of the item's
class and no class's false positive, as `sklearn.metrics.f1_score(average=
"macro")` reads an answer outside its `labels`.

Resampling contract (tests rely on it): `rng = np.random.default_rng(seed)`,
`index = rng.integers(0, n_items, size=(n_boot, n_items))`; replicate b scores
every rung on items `index[b]`. Intervals are percentile intervals
(`np.quantile`, linear interpolation), widened where needed to contain the point
estimate.

Pure numpy/scipy: no Django import.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

# Prediction values that mean "no usable answer" unless the caller says otherwise.
DEFAULT_ABSTAIN = (None, -1, "")

MONOTONE = "monotone"
BREAK = "break"
FLAT = "flat"
TOO_FEW_ITEMS = "too_few_items"

# What a ladder is scored by: F1 of one positive option, or macro-F1 over every class.
BINARY_F1 = "f1"
MACRO_F1 = "macro_f1"

# The thresholds of the verdict (see `decide`), all in F1.
# A drop between adjacent rungs is a break when it is at least MIN_DROP and at
# least MIN_DROP_PROBABILITY of the bootstrap replicates show it.
MIN_DROP = 0.01
MIN_DROP_PROBABILITY = 0.9
# A ladder rises when its fitted gain is at least FLAT_GAIN and the lower end
# of the gain's bootstrap interval is above 0.
FLAT_GAIN = 0.02
# A ladder that does not rise is flat, confidently, when the upper end of the
# gain's interval is below MEANINGFUL_GAIN: the items rule out any rise across
# the ladder worth acting on. Otherwise there are too few items to say.
MEANINGFUL_GAIN = 0.10


def size_label(size: float) -> str:
    """A parameter count as people write it: 14M, 0.5B, 1.8B, 4B, 1.2T."""
    size = float(size)
    for unit, value in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        # Qwen writes 0.5B, not 500M: half a unit already takes the unit.
        if abs(size) >= 0.5 * value and (unit == "B" or abs(size) >= value):
            return f"{size / value:.3g}{unit}"
    return f"{size:.3g}"


def _plain_number(value: float) -> int | float:
    value = float(value)
    return int(value) if value.is_integer() else value


@dataclass(frozen=True)
class Break:
    """An adjacent pair of rungs whose F1 falls from the smaller to the larger.

    `probability` is the share of bootstrap replicates in which the larger
    rung's F1 is strictly below the smaller rung's.
    """

    smaller_size: float
    larger_size: float
    smaller_name: str
    larger_name: str
    drop: float
    probability: float

    def to_dict(self) -> dict:
        data = asdict(self)
        data["smaller_size"] = _plain_number(self.smaller_size)
        data["larger_size"] = _plain_number(self.larger_size)
        return data


@dataclass(frozen=True)
class MonotonicityResult:
    """Per-rung scores in ascending size order and the ladder's verdict.

    `fitted_gain`: the least-squares slope of F1 against log2(size) times the
    ladder's span in doublings; `gain_low`/`gain_high` its paired-bootstrap
    `confidence` percentile interval. `verdict` is decided by `decide` from
    these and the breaks: "monotone", "break", "flat" or "too_few_items";
    `items_needed` is, for "too_few_items", about how many more eval items
    would decide (None otherwise). `breaks` holds the drops that pass both
    break thresholds (listed whatever the verdict), `dips` the smaller or less
    certain ones. `gains[i]` is f1[i + 1] − f1[i].
    """

    sizes: list[float]
    names: list[str]
    n_items: int
    n_boot: int
    confidence: float
    precision: list[float]
    recall: list[float]
    f1: list[float]
    ci_low: list[float]
    ci_high: list[float]
    gains: list[float]
    fitted_gain: float
    gain_low: float
    gain_high: float
    verdict: str
    items_needed: int | None
    breaks: list[Break]
    dips: list[Break]
    thresholds: dict[str, float] = field(default_factory=dict)
    metric: str = BINARY_F1

    @property
    def is_monotone(self) -> bool:
        return self.verdict == MONOTONE

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy (plain lists, floats and strings)."""
        return {
            "sizes": [_plain_number(size) for size in self.sizes],
            "names": list(self.names),
            "n_items": self.n_items,
            "n_boot": self.n_boot,
            "confidence": self.confidence,
            "precision": list(self.precision),
            "recall": list(self.recall),
            "f1": list(self.f1),
            "ci_low": list(self.ci_low),
            "ci_high": list(self.ci_high),
            "gains": list(self.gains),
            "fitted_gain": self.fitted_gain,
            "gain_low": self.gain_low,
            "gain_high": self.gain_high,
            "verdict": self.verdict,
            "items_needed": self.items_needed,
            "breaks": [item.to_dict() for item in self.breaks],
            "dips": [item.to_dict() for item in self.dips],
            "thresholds": dict(self.thresholds),
            "metric": self.metric,
        }


@dataclass(frozen=True)
class Ladder:
    """Rungs sorted by size with their per-item values as one (rungs × items) array."""

    sizes: np.ndarray
    names: list[str]
    values: np.ndarray


def ladder_arrays(
    sizes: Sequence[float],
    values_by_size: Mapping[float, Sequence] | Sequence[Sequence],
    n_items: int,
    *,
    names: Sequence[str] | None = None,
    what: str = "predictions_by_size",
) -> Ladder:
    """Line up per-rung values with `sizes` and sort the rungs by size.

    `values_by_size` is a mapping size → per-item values, or a sequence (or 2-D
    array) parallel to `sizes`. Names default to `size_label(size)`.
    """
    size_array = np.asarray(sizes, dtype=float).ravel()
    if len(size_array) < 1 or not np.all(np.isfinite(size_array)) or np.any(size_array <= 0):
        raise ValueError("sizes: need finite sizes > 0")
    if len(np.unique(size_array)) != len(size_array):
        raise ValueError("sizes: each size may appear once")
    if isinstance(values_by_size, Mapping):
        try:
            rows = [values_by_size[size] for size in sizes]
        except KeyError as missing:
            raise ValueError(f"{what}: no values for size {missing.args[0]!r}") from None
    else:
        rows = list(values_by_size)
        if len(rows) != len(size_array):
            raise ValueError(f"{what}: {len(rows)} rows for {len(size_array)} sizes")
    values = np.empty((len(rows), n_items), dtype=object)
    for row_number, row in enumerate(rows):
        row = row if isinstance(row, np.ndarray) else list(row)
        if len(row) != n_items:
            raise ValueError(
                f"{what}: size {sizes[row_number]!r} has {len(row)} values for {n_items} items"
            )
        values[row_number, :] = row
    if names is None:
        names = [size_label(size) for size in size_array]
    elif len(names) != len(size_array):
        raise ValueError(f"names: {len(names)} names for {len(size_array)} sizes")
    order = np.argsort(size_array, kind="stable")
    return Ladder(size_array[order], [str(names[i]) for i in order], values[order])


def _is_abstention(value: Any, abstain: Collection) -> bool:
    if isinstance(value, float) and math.isnan(value):
        return True
    try:
        return any(value is option or value == option for option in abstain)
    except (TypeError, ValueError):
        return False


def abstention_mask(values: np.ndarray, abstain: Collection = DEFAULT_ABSTAIN) -> np.ndarray:
    """True where a value is an abstention (one of `abstain`, or NaN)."""
    # A ladder holds a handful of distinct answers over many items: judge each once.
    known: dict[Any, bool] = {}
    flat = []
    for value in np.asarray(values, dtype=object).ravel():
        try:
            answer = known[value]
        except KeyError:
            answer = known[value] = _is_abstention(value, abstain)
        except TypeError:
            answer = _is_abstention(value, abstain)
        flat.append(answer)
    return np.array(flat, dtype=bool).reshape(np.shape(values))


def _labels(y_true: Sequence, positive: Any, abstain: Collection) -> np.ndarray:
    labels = np.empty(len(y_true), dtype=object)
    labels[:] = list(y_true)
    if len(labels) == 0:
        raise ValueError("y_true: no items")
    if abstention_mask(labels, abstain).any():
        raise ValueError(
            "y_true: labels include abstention values; drop those items or pass another `abstain`"
        )
    if positive is not None and not np.any(labels == positive):
        raise ValueError(f"y_true: the positive label {positive!r} never occurs")
    return labels


def confusion_masks(
    y_true: np.ndarray, predictions: np.ndarray, positive: Any, abstain: Collection
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boolean (rungs × items) masks of true positives, false positives, false negatives.

    An abstention is wrong: a false negative on a positive item, a false
    positive on a negative one.
    """
    actual = np.asarray(y_true == positive, dtype=bool)
    abstained = abstention_mask(predictions, abstain)
    said_positive = np.asarray(predictions == positive, dtype=bool) & ~abstained
    true_pos = said_positive & actual
    false_pos = (said_positive | abstained) & ~actual
    false_neg = actual & ~true_pos
    return true_pos, false_pos, false_neg


def metric_classes(y_true: np.ndarray, predictions: np.ndarray, abstain: Collection) -> list:
    """The classes macro-F1 averages over: every label and every answer, abstentions left out.

    Fixed once for the whole ladder, so that each bootstrap replicate averages
    over the same classes (a class a replicate happens to miss scores 0 there).
    """
    values = np.concatenate([np.asarray(y_true, dtype=object).ravel(), np.asarray(predictions, dtype=object).ravel()])
    kept = values[~abstention_mask(values, abstain)]
    return sorted(set(kept.tolist()), key=lambda value: (str(type(value)), str(value)))


def class_confusion_masks(
    y_true: np.ndarray, predictions: np.ndarray, positive: Any, abstain: Collection
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boolean (classes × rungs × items) masks of TP, FP, FN, one class per row.

    Binary F1 (`positive` given) has one row: `confusion_masks`. Macro-F1
    (`positive` None) has a one-vs-rest row for each of `metric_classes`; an
    abstention there is a false negative of the item's class only.
    """
    predictions = np.asarray(predictions, dtype=object)
    if positive is not None:
        return tuple(mask[np.newaxis] for mask in confusion_masks(y_true, predictions, positive, abstain))
    abstained = abstention_mask(predictions, abstain)
    rows = []
    for value in metric_classes(y_true, predictions, abstain):
        actual = np.asarray(y_true == value, dtype=bool)
        said = np.asarray(predictions == value, dtype=bool) & ~abstained
        rows.append((said & actual, said & ~actual, actual & ~said))
    return tuple(np.stack(masks) for masks in zip(*rows))


def scores_from_masks(true_pos: np.ndarray, false_pos: np.ndarray, false_neg: np.ndarray) -> tuple:
    """Precision, recall and F1 from (classes × … × items) masks, averaged over classes (macro)."""
    tp, fp, fn = (mask.sum(axis=-1, dtype=np.float64) for mask in (true_pos, false_pos, false_neg))
    return (
        _ratio(tp, tp + fp).mean(axis=0),
        _ratio(tp, tp + fn).mean(axis=0),
        f1_from_counts(tp, fp, fn).mean(axis=0),
    )


def f1_scores(y_true: Sequence, predictions: Sequence, *, positive: Any, abstain: Collection = DEFAULT_ABSTAIN) -> dict:
    """One set of answers scored as the verdict scores a rung: precision, recall, F1 (macro when `positive` is None)."""
    labels = np.empty(len(y_true), dtype=object)
    labels[:] = list(y_true)
    answers = np.empty(len(predictions), dtype=object)
    answers[:] = list(predictions)
    precision, recall, f1 = scores_from_masks(*class_confusion_masks(labels, answers, positive, abstain))
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}


def answers_correct(y_true: np.ndarray, predictions: np.ndarray, positive: Any, abstain: Collection) -> np.ndarray:
    """True where a prediction is right: neither a false positive nor a false negative (so never an abstention).

    With `positive` None (macro-F1) an answer is right when it is the label.
    """
    if positive is None:
        return np.asarray(predictions == y_true, dtype=bool) & ~abstention_mask(predictions, abstain)
    _, false_pos, false_neg = confusion_masks(y_true, predictions, positive, abstain)
    return ~(false_pos | false_neg)


def project_abstentions(abstain_options: Collection) -> tuple:
    """What counts as an abstention for a project: its "don't know" options and no answer at all."""
    return (*DEFAULT_ABSTAIN, *abstain_options)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (sklearn's zero_division)."""
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, numerator / safe, 0.0)


def f1_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """Binary F1 = 2·TP / (2·TP + FP + FN), 0 when there is nothing to score."""
    return _ratio(2.0 * tp, 2.0 * tp + fp + fn)


def resample_counts(n_items: int, n_boot: int, seed: int | None) -> np.ndarray:
    """How often each item is drawn in each replicate: an (n_boot × n_items) matrix."""
    rng = np.random.default_rng(seed)
    index = rng.integers(0, n_items, size=(n_boot, n_items))
    offsets = (np.arange(n_boot) * n_items)[:, None]
    counts = np.bincount((index + offsets).ravel(), minlength=n_boot * n_items)
    return counts.reshape(n_boot, n_items).astype(np.float64)


@dataclass(frozen=True)
class Decision:
    """The ladder's verdict and, for "too_few_items", about how many more items would decide."""

    verdict: str
    items_needed: int | None = None


def items_to_decide(
    n_items: int,
    gain: float,
    gain_low: float,
    gain_high: float,
    *,
    flat_gain: float = FLAT_GAIN,
    meaningful_gain: float = MEANINGFUL_GAIN,
) -> int | None:
    """About how many more eval items would make the gain interval decide.

    Interval half-widths shrink like 1/sqrt(n): with n' items the lower end
    is about gain − (gain − gain_low)·sqrt(n/n'), the upper end likewise. The
    answer is the fewest extra items that would lift the lower end above 0
    (a real rise, for a gain of at least `flat_gain`) or bring the upper end
    under `meaningful_gain` (flat, for a gain below `flat_gain`), assuming the
    point estimate stays where it is; rounded up to two significant figures.
    None when neither can happen.
    """
    totals = []
    below, above = gain - gain_low, gain_high - gain
    if gain >= flat_gain and gain > 0 and below > 0:
        totals.append(n_items * (below / gain) ** 2)
    if gain < flat_gain and gain < meaningful_gain and above > 0:
        totals.append(n_items * (above / (meaningful_gain - gain)) ** 2)
    if not totals:
        return None
    more = max(math.ceil(min(totals) - n_items), 1)
    step = 10 ** max(len(str(more)) - 2, 0)
    return int(math.ceil(more / step) * step)


def decide(
    n_items: int,
    gain: float,
    gain_low: float,
    gain_high: float,
    breaks: Sequence[Break],
    *,
    flat_gain: float = FLAT_GAIN,
    meaningful_gain: float = MEANINGFUL_GAIN,
) -> Decision:
    """The one rule that names a ladder's verdict, in this order.

    - break: the fitted gain is at least `flat_gain` and some adjacent drop
      passed the break thresholds (a rung falls out of a rising ladder);
    - monotone: the fitted gain is at least `flat_gain` and its interval's
      lower end is above 0: the rise itself is real, not only "no confident
      drop";
    - flat: the fitted gain is below `flat_gain` and its interval's upper end
      below `meaningful_gain`: the items rule out any rise worth acting on
      (the data holds the ladder back);
    - too_few_items: the interval is too wide to tell a rise from none, with
      `items_to_decide` more items as the estimate of what would decide.
    """
    rises = gain >= flat_gain
    if rises and breaks:
        return Decision(BREAK)
    if rises and gain_low > 0:
        return Decision(MONOTONE)
    if not rises and gain_high < meaningful_gain:
        return Decision(FLAT)
    return Decision(
        TOO_FEW_ITEMS,
        items_to_decide(
            n_items, gain, gain_low, gain_high, flat_gain=flat_gain, meaningful_gain=meaningful_gain
        ),
    )


def fitted_gain_weights(sizes: np.ndarray) -> np.ndarray:
    """Weights w with F1 @ w = least-squares slope of F1 on log2(size) × span in doublings."""
    doublings = np.log2(np.asarray(sizes, dtype=float))
    centred = doublings - doublings.mean()
    return centred / (centred @ centred) * (doublings[-1] - doublings[0])


def monotonicity(
    sizes: Sequence[float],
    y_true: Sequence,
    predictions_by_size: Mapping[float, Sequence] | Sequence[Sequence],
    n_boot: int = 1000,
    seed: int | None = 0,
    *,
    positive: Any = 1,
    abstain: Collection = DEFAULT_ABSTAIN,
    names: Sequence[str] | None = None,
    confidence: float = 0.95,
    min_drop: float = MIN_DROP,
    min_probability: float = MIN_DROP_PROBABILITY,
    flat_gain: float = FLAT_GAIN,
    meaningful_gain: float = MEANINGFUL_GAIN,
) -> MonotonicityResult:
    """Judge whether F1 rises with model size (arXiv 2405.02817).

    `sizes`: the rungs' parameter counts; `y_true`: the held-out labels;
    `predictions_by_size`: per rung, one prediction per item (a mapping
    size → predictions, or rows parallel to `sizes`). `positive` is the
    positive label, or None to score macro-F1 over every class; predictions in `abstain` (or NaN) are abstentions and
    count as wrong. Rungs are reported in ascending size order.

    Bootstrap: `n_boot` replicates resample the items with replacement, the
    same resample for every rung; `ci_low`/`ci_high` and the fitted gain's
    interval are `confidence` percentile intervals. A drop from one rung to
    the next is a break when it is at least `min_drop` F1 and at least
    `min_probability` of replicates show the larger rung below the smaller.
    The verdict follows `decide` with `flat_gain` and `meaningful_gain`.
    """
    labels = _labels(y_true, positive, abstain)
    n_items = len(labels)
    ladder = ladder_arrays(sizes, predictions_by_size, n_items, names=names)
    if len(ladder.sizes) < 2:
        raise ValueError("sizes: a ladder needs at least two rungs")
    if n_boot < 1:
        raise ValueError("n_boot: need at least one bootstrap replicate")
    if not 0 < confidence < 1:
        raise ValueError("confidence: must lie strictly between 0 and 1")

    true_pos, false_pos, false_neg = (
        mask.astype(np.float64)
        for mask in class_confusion_masks(labels, ladder.values, positive, abstain)
    )
    precision, recall, f1 = scores_from_masks(true_pos, false_pos, false_neg)

    counts = resample_counts(n_items, n_boot, seed)
    # Per class, each replicate's counts: (classes × replicates × rungs), then averaged over classes.
    boot_f1 = f1_from_counts(
        *(counts @ mask.transpose(0, 2, 1) for mask in (true_pos, false_pos, false_neg))
    ).mean(axis=0)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(boot_f1, [tail, 1.0 - tail], axis=0)
    low, high = np.minimum(low, f1), np.maximum(high, f1)

    breaks, dips = [], []
    for i in range(len(f1) - 1):
        drop = float(f1[i] - f1[i + 1])
        if drop <= 0:
            continue
        probability = float(np.mean(boot_f1[:, i + 1] < boot_f1[:, i]))
        found = Break(
            smaller_size=float(ladder.sizes[i]),
            larger_size=float(ladder.sizes[i + 1]),
            smaller_name=ladder.names[i],
            larger_name=ladder.names[i + 1],
            drop=drop,
            probability=probability,
        )
        (breaks if drop >= min_drop and probability >= min_probability else dips).append(found)

    # Gains relative to the smallest rung: the same slope, and exactly 0 for identical rungs.
    weights = fitted_gain_weights(ladder.sizes)
    fitted_gain = float((f1 - f1[0]) @ weights)
    boot_gain = (boot_f1 - boot_f1[:, :1]) @ weights
    gain_low, gain_high = (float(value) for value in np.quantile(boot_gain, [tail, 1.0 - tail]))
    gain_low, gain_high = min(gain_low, fitted_gain), max(gain_high, fitted_gain)
    decision = decide(
        n_items, fitted_gain, gain_low, gain_high, breaks,
        flat_gain=flat_gain, meaningful_gain=meaningful_gain,
    )
    return MonotonicityResult(
        sizes=[float(size) for size in ladder.sizes],
        names=ladder.names,
        n_items=n_items,
        n_boot=n_boot,
        confidence=confidence,
        precision=precision.tolist(),
        recall=recall.tolist(),
        f1=f1.tolist(),
        ci_low=low.tolist(),
        ci_high=high.tolist(),
        gains=np.diff(f1).tolist(),
        fitted_gain=fitted_gain,
        gain_low=gain_low,
        gain_high=gain_high,
        verdict=decision.verdict,
        items_needed=decision.items_needed,
        breaks=breaks,
        dips=dips,
        thresholds={
            "min_drop": min_drop,
            "min_probability": min_probability,
            "flat_gain": flat_gain,
            "meaningful_gain": meaningful_gain,
        },
        metric=MACRO_F1 if positive is None else BINARY_F1,
    )


def auc_by_size(
    sizes: Sequence[float],
    y_true: Sequence,
    scores_by_size: Mapping[float, Sequence] | Sequence[Sequence],
    *,
    positive: Any = 1,
) -> dict[float, float]:
    """ROC AUC of each rung's per-item scores (e.g. the positive-option margin).

    A threshold-free companion to F1: the Mann–Whitney U statistic,
    AUC = (R₊ − n₊(n₊ + 1)/2) / (n₊ · n₋), with R₊ the rank sum of the positive
    items (average ranks for ties), computed for all rungs at once. A missing
    score (None or NaN, e.g. an unparseable answer) is ranked as the worst
    possible: below every score on a positive item, above every score on a
    negative one. Returns {size: auc} in ascending size order.
    """
    labels = np.empty(len(y_true), dtype=object)
    labels[:] = list(y_true)
    actual = np.asarray(labels == positive, dtype=bool)
    n_pos, n_neg = int(actual.sum()), int((~actual).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("y_true: AUC needs both positive and negative items")
    ladder = ladder_arrays(sizes, scores_by_size, len(labels), what="scores_by_size")
    scores = np.array(
        [[np.nan if value is None else float(value) for value in row] for row in ladder.values],
        dtype=float,
    ).reshape(ladder.values.shape)
    worst = np.where(actual, -np.inf, np.inf)
    scores = np.where(np.isnan(scores), worst[None, :], scores)
    # Here rather than at the top: the web pages import this module for its
    # names, and scipy.stats would add a second and ~30 MB to every web process.
    from scipy.stats import rankdata

    ranks = rankdata(scores, axis=1)
    rank_sum = ranks[:, actual].sum(axis=1)
    auc = (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)
    return {float(size): float(value) for size, value in zip(ladder.sizes, auc)}
