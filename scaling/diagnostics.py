"""What to do when a ladder does not scale: suspect items, categories, rungs.

- `suspect_items`: items on which the largest rungs agree with each other,
  confidently, against the current label: the first ones to send back to
  review when the ladder does not scale (arXiv 2405.02817 re-annotates its
  data, stage by stage, until it does).
- `label_issues`: the whole batch's labels judged by the judging rungs out of
  sample (cross-fitted folds): confident learning (cleanlab) on their pooled
  probabilities, plus what only a ladder says (do all judges agree against
  the label; does its probability fall as they grow).
- `category_growth`: per-category scores across sizes, since abilities grow
  at different paces under instruction tuning (arXiv 2310.19651); names the
  categories that stay flat or fall.
- `diagnose_rungs`: tells a rung that is off the curve of its neighbours (its
  hyper-parameters: the seed paper fixed its 4B rung by lowering its learning
  rate from 2e-4 to 2e-5) from a ladder that is flat or falling as a whole
  (the data). Given a `MonotonicityResult`, it follows that result's verdict
  (`verdict.decide`), so that the two never contradict each other.

Pure numpy/scipy plus the sibling maths modules: no Django import.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from scaling.laws import fit_power
from scaling.verdict import (
    BREAK,
    DEFAULT_ABSTAIN,
    FLAT,
    FLAT_GAIN,
    MACRO_F1,
    MONOTONE,
    TOO_FEW_ITEMS,
    MonotonicityResult,
    abstention_mask,
    class_confusion_masks,
    f1_from_counts,
    ladder_arrays,
    size_label,
)

HEALTHY = "healthy"
RUNG_OFF_CURVE = "rung_off_curve"
DATA = "data"
TOO_FEW = "too_few_items"

# Which rung diagnosis each verdict of `verdict.monotonicity` comes with.
DIAGNOSIS_FOR_VERDICT = {
    MONOTONE: HEALTHY,
    BREAK: RUNG_OFF_CURVE,
    FLAT: DATA,
    TOO_FEW_ITEMS: TOO_FEW,
}

# The seed paper's fix for an off-curve rung: a tenth of its learning rate.
LEARNING_RATE_FACTOR = 0.1


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds, so results serialise to JSON."""
    return value.item() if isinstance(value, np.generic) else value


def _ordered_rows(values_by_size, what: str) -> tuple[list[float], Any]:
    """Sizes for per-rung values: a mapping's keys, or the row order of a sequence."""
    if isinstance(values_by_size, Mapping):
        return list(values_by_size.keys()), values_by_size
    rows = list(values_by_size)
    if not rows:
        raise ValueError(f"{what}: no rungs")
    return [float(position + 1) for position in range(len(rows))], rows


# --- suspect items -------------------------------------------------------------------


@dataclass(frozen=True)
class Suspect:
    """An item the largest rungs agree on against its label.

    `score` is the mean confidence of the largest rungs in their answer when
    confidences are given, else `agreement`: the share of all rungs giving
    that answer.
    """

    item_id: Any
    label: Any
    predicted: Any
    score: float
    agreement: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def suspect_items(
    item_ids: Sequence,
    labels: Sequence,
    predictions_by_size: Mapping[float, Sequence] | Sequence[Sequence],
    confidences_by_size: Mapping[float, Sequence] | Sequence[Sequence] | None = None,
    top_sizes: int = 3,
    min_confidence: float = 0.7,
    *,
    abstain: Collection = DEFAULT_ABSTAIN,
) -> list[Suspect]:
    """Items whose `top_sizes` largest rungs give one and the same answer, not the label.

    `predictions_by_size` is a mapping size → per-item predictions, or rows
    in ascending size order; `confidences_by_size` (optional, same shape)
    holds each rung's confidence in its own answer, e.g. the probability of
    the chosen option. With confidences, every one of the largest rungs must
    be at least `min_confidence` sure. Abstentions never make an item a
    suspect. Strongest disagreement first (score, then agreement, then input
    order).
    """
    n_items = len(item_ids)
    if len(labels) != n_items:
        raise ValueError(f"labels: {len(labels)} labels for {n_items} items")
    sizes, rows = _ordered_rows(predictions_by_size, "predictions_by_size")
    ladder = ladder_arrays(sizes, rows, n_items)
    if top_sizes < 1:
        raise ValueError("top_sizes: need at least one rung")
    top = ladder.values[-min(top_sizes, len(ladder.sizes)) :]
    label_array = np.empty(n_items, dtype=object)
    label_array[:] = list(labels)

    answer = top[0]
    candidate = np.all(top == answer, axis=0)
    candidate &= ~abstention_mask(top, abstain).any(axis=0)
    candidate &= np.asarray(answer != label_array, dtype=bool)
    agreement = np.mean(ladder.values == answer, axis=0).astype(float)

    if confidences_by_size is None:
        score = agreement
    else:
        confidence = ladder_arrays(sizes, confidences_by_size, n_items, what="confidences_by_size")
        top_confidence = confidence.values[-len(top) :].astype(float)
        candidate &= np.all(top_confidence >= min_confidence, axis=0)
        score = top_confidence.mean(axis=0)

    chosen = np.flatnonzero(candidate)
    order = sorted(chosen, key=lambda i: (-score[i], -agreement[i], i))
    return [
        Suspect(
            item_id=_plain(item_ids[i]),
            label=_plain(label_array[i]),
            predicted=_plain(answer[i]),
            score=float(score[i]),
            agreement=float(agreement[i]),
        )
        for i in order
    ]


# --- label issues over the whole batch ------------------------------------------------------

WRONG = "wrong"
AMBIGUOUS = "ambiguous"
# An item whose label's probability falls by at least this much from the smallest judge to the
# largest, while the largest still gives the label this much, reads as ambiguous, not wrong.
INVERSE_SCALING_DROP = 0.2
AMBIGUOUS_FLOOR = 0.25


def option_probabilities(scores: Mapping[Any, float], classes: Sequence) -> np.ndarray:
    """Softmax over options' log-likelihoods, in `classes` order (0 for an option not scored)."""
    values = np.array([scores.get(value, -np.inf) for value in classes], dtype=float)
    finite = np.isfinite(values)
    if not finite.any():
        return np.full(len(classes), 1.0 / len(classes))
    values = np.where(finite, np.exp(values - values[finite].max()), 0.0)
    return values / values.sum()


@dataclass(frozen=True)
class LabelIssue:
    """A label the judging rungs, out of sample, hold to be wrong or ambiguous.

    `score` (0–1, higher is stronger) is one minus the judges' pooled
    probability of the label (cleanlab's self-confidence), scaled down for
    annotators the judges contradict less often than the most contradicted
    one when that difference is real; `probabilities` is each judge's probability of the label,
    smallest judge first; `against` counts the judges whose best answer is
    not the label, and `unanimous` is true when all of them give `answer`.
    `kind` is "ambiguous" when the label's probability falls as the judges
    grow but the largest is not sure against it (an inverse-scaling item: a
    guideline question more than a slip), else "wrong".
    """

    item_id: Any
    label: Any
    answer: Any
    score: float
    against: int
    judges: int
    unanimous: bool
    flagged_by_cleanlab: bool
    kind: str
    probabilities: dict[str, float]
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _issue_reason(kind: str, against: int, judges: int, unanimous: bool, answer: str, names: list[str],
                  probabilities: list[float]) -> str:
    if kind == AMBIGUOUS:
        return (
            f"ambiguous — check the guideline: the label's probability falls from {probabilities[0]:.2f} at "
            f"{names[0]} to {probabilities[-1]:.2f} at {names[-1]}"
        )
    who = f"all {judges} judging rungs" if unanimous and judges > 1 else f"{against} of {judges} judging rungs"
    return f"{who} answer {answer!r} (label's probability {np.mean(probabilities):.2f})"


# Annotators' disagreement rates with the judges must differ at least this surely before the
# annotator weighs in: with equally careful annotators their rates differ by chance only.
ANNOTATOR_PRIOR_P_VALUE = 0.01


def judge_weights(probabilities: np.ndarray, label_index: np.ndarray) -> np.ndarray:
    """Each judge's weight in the pool: how far its out-of-sample agreement with the labels beats
    always answering the commonest label. A judge that learned nothing weighs nothing; all
    weigh the same when none beats it."""
    agreement = (probabilities.argmax(axis=2) == label_index).mean(axis=1)
    base_rate = np.bincount(label_index).max() / len(label_index)
    weights = np.clip(agreement - base_rate, 0.0, None)
    if weights.sum() <= 0:
        return np.full(len(weights), 1.0 / len(weights))
    return weights / weights.sum()


def prior_matched(probabilities: np.ndarray, label_index: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Each judge's probabilities with its lean toward some option taken out: every labelled
    option's probability is scaled by how often the labels give it over how often the judge does
    (the mean of its probabilities), and each row renormalised. One step of the prior correction
    of Saerens et al. (2002), with the labels' frequencies as the prior.

    A judge that collapses toward the commoner answer (it happens to small judges trained on
    noisy labels) would otherwise contradict only the labels of the other option, and a review
    of its queue would fix errors one way only. A judge whose answers already follow the
    labels' frequencies is left nearly as it was.
    """
    counts = np.bincount(label_index[known], minlength=probabilities.shape[2])
    labelled = np.flatnonzero(counts)
    prior = counts[labelled] / counts.sum()
    adjusted = probabilities.copy()
    for judge in adjusted:
        judge[:, labelled] *= prior / np.clip(judge[known][:, labelled].mean(axis=0), 1e-12, None)
    return adjusted / np.clip(adjusted.sum(axis=2, keepdims=True), 1e-12, None)


def annotator_rates(annotators: Sequence, disagrees: np.ndarray) -> np.ndarray | None:
    """Per item, its annotator's share of labels the judges disagree with; None unless the
    annotators' shares differ beyond chance (chi-squared test of independence)."""
    from scipy.stats import chi2_contingency

    names = np.asarray(list(annotators), dtype=object)
    distinct = sorted(set(names))
    if len(distinct) < 2:
        return None
    table = np.array([[disagrees[names == name].sum(), (~disagrees[names == name]).sum()] for name in distinct])
    if (table.sum(axis=0) == 0).any():
        return None
    if chi2_contingency(table).pvalue >= ANNOTATOR_PRIOR_P_VALUE:
        return None
    rates = {name: row[0] / row.sum() for name, row in zip(distinct, table)}
    return np.array([rates[name] for name in names], dtype=float)


def _label_positions(labels: Sequence, classes: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """Which labels are among `classes`, and each label's position there (0 for the others)."""
    index = {value: position for position, value in enumerate(classes)}
    known = np.array([label in index for label in labels], dtype=bool)
    return known, np.array([index.get(label, 0) for label in labels], dtype=int)


def _judged(probabilities: np.ndarray, label_index: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The judges' prior-matched probabilities, and their pool weighted by `judge_weights`."""
    probabilities = prior_matched(probabilities, label_index, known)
    weights = judge_weights(probabilities[:, known], label_index[known])
    return probabilities, np.tensordot(weights, probabilities, axes=1)


def ladder_answers(labels: Sequence, classes: Sequence, probabilities: np.ndarray) -> list:
    """Each item's answer from the judges' pool, weighed as `label_issues` weighs them."""
    probabilities = np.asarray(probabilities, dtype=float)
    known, label_index = _label_positions(labels, classes)
    if not known.any():
        return [_plain(classes[best]) for best in probabilities.mean(axis=0).argmax(axis=1)]
    _, pooled = _judged(probabilities, label_index, known)
    return [_plain(classes[best]) for best in pooled.argmax(axis=1)]


def label_issues(
    item_ids: Sequence,
    labels: Sequence,
    classes: Sequence,
    probabilities: np.ndarray,
    names: Sequence[str],
    annotators: Sequence | None = None,
) -> list[LabelIssue]:
    """Labels to review, strongest first, from out-of-sample option probabilities of the judging rungs.

    `probabilities` has shape (judges, items, classes), judges in ascending
    size, each row a probability distribution over `classes`, and must come
    from models that did not train on the item's label (cross-fitted folds,
    or a held-out split). An item is an issue when confident learning
    (cleanlab's `find_label_issues`, pruning by noise rate, on the judges'
    mean probabilities) flags it, or when every judge's best answer is one
    and the same other option; or, as "ambiguous", when the label's
    probability falls as the judges grow and the largest leans against it.
    Labels that are not among `classes` are never issues.

    Each judge's probabilities are first matched to the labels' frequencies
    (`prior_matched`), so a judge that leans toward one option does not
    fill the queue with the other option's labels; everything below, the
    probabilities each issue shows included, uses the matched ones.
    The judges are pooled by `judge_weights`, so a rung that learned nothing
    does not dilute one that did. With `annotators` (who gave each label),
    an annotator whose labels the judges contradict more often than the
    others', beyond chance, moves their items up the queue: the score is
    scaled by their disagreement rate over the highest one.
    """
    from cleanlab.filter import find_label_issues

    probabilities = np.asarray(probabilities, dtype=float)
    judges, n_items, n_classes = probabilities.shape
    if len(item_ids) != n_items or len(labels) != n_items:
        raise ValueError(f"labels: {len(labels)} labels and {len(item_ids)} ids for {n_items} items")
    if len(names) != judges or len(classes) != n_classes:
        raise ValueError(f"probabilities: shape {probabilities.shape} for {len(names)} judges, {len(classes)} classes")
    known, label_index = _label_positions(labels, classes)
    # cleanlab estimates a noise rate per labelled class: classes nobody labelled have no column.
    labelled = sorted(set(label_index[known]))
    if not labelled or n_items == 0:
        return []
    probabilities, pooled_all = _judged(probabilities, label_index, known)
    pooled = pooled_all[:, labelled]
    pooled = pooled / np.clip(pooled.sum(axis=1, keepdims=True), 1e-12, None)
    compact = {original: position for position, original in enumerate(labelled)}
    compact_labels = np.array([compact.get(value, 0) for value in label_index])
    flagged = np.zeros(n_items, dtype=bool)
    if len(labelled) >= 2 and known.sum() >= 2:
        with warnings.catch_warnings():
            # Small classes make cleanlab warn that it may miss some of their issues.
            warnings.simplefilter("ignore")
            # n_jobs=1: a prefork worker's processes are daemonic and may not start a pool of their own.
            flagged[known] = find_label_issues(
                compact_labels[known], pooled[known], filter_by="prune_by_noise_rate", n_jobs=1
            )
    per_judge = probabilities[:, np.arange(n_items), label_index]  # (judges, items)
    best = probabilities.argmax(axis=2)
    against = (best != label_index).sum(axis=0)
    unanimous = np.all(best == best[-1], axis=0) & (best[-1] != label_index)
    drop = per_judge[0] - per_judge[-1]
    falls = np.all(np.diff(per_judge, axis=0) < 0, axis=0) if judges >= 2 else np.zeros(n_items, dtype=bool)
    ambiguous = falls & (drop >= INVERSE_SCALING_DROP) & (per_judge[-1] >= AMBIGUOUS_FLOOR) & (per_judge[-1] < 0.5)
    chosen = known & (flagged | unanimous | ambiguous)
    score = 1.0 - pooled[np.arange(n_items), compact_labels]
    if annotators is not None:
        rates = annotator_rates(annotators, pooled_all.argmax(axis=1) != label_index)
        if rates is not None:
            score = score * rates / rates.max()
    alternative = pooled_all.copy()
    alternative[np.arange(n_items), label_index] = -1.0
    answers = alternative.argmax(axis=1)
    issues = []
    for i in sorted(np.flatnonzero(chosen), key=lambda i: (-score[i], -against[i], i)):
        kind = AMBIGUOUS if ambiguous[i] and not unanimous[i] else WRONG
        answer = _plain(classes[answers[i]])
        issues.append(
            LabelIssue(
                item_id=_plain(item_ids[i]),
                label=_plain(labels[i]),
                answer=answer,
                score=float(score[i]),
                against=int(against[i]),
                judges=judges,
                unanimous=bool(unanimous[i]),
                flagged_by_cleanlab=bool(flagged[i]),
                kind=kind,
                probabilities={name: float(per_judge[j, i]) for j, name in enumerate(names)},
                reason=_issue_reason(kind, int(against[i]), judges, bool(unanimous[i]), str(answer), list(names),
                                     [float(value) for value in per_judge[:, i]]),
            )
        )
    return issues


# --- per-category growth -----------------------------------------------------------------


@dataclass(frozen=True)
class CategoryGrowth:
    """One category's score per size and its trend.

    `metric` is "f1" when the category holds both classes, else "accuracy".
    `slope` is the least-squares gain per doubling of model size;
    `fitted_gain` = slope × log2(largest / smallest size).
    """

    category: Any
    n_items: int
    metric: str
    values: list[float]
    slope: float
    fitted_gain: float
    scales: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CategoryGrowthReport:
    sizes: list[float]
    names: list[str]
    categories: list[CategoryGrowth]
    not_scaling: list[Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "sizes": list(self.sizes),
            "names": list(self.names),
            "categories": [category.to_dict() for category in self.categories],
            "not_scaling": list(self.not_scaling),
        }


def category_growth(
    sizes: Sequence[float],
    y_true: Sequence,
    predictions_by_size: Mapping[float, Sequence] | Sequence[Sequence],
    categories: Sequence,
    *,
    positive: Any = 1,
    abstain: Collection = DEFAULT_ABSTAIN,
    names: Sequence[str] | None = None,
    flat_gain: float = 0.02,
) -> CategoryGrowthReport:
    """Score each category at each size and name the ones that do not scale.

    Per category: F1 as `verdict.monotonicity` scores it (binary, or macro
    when `positive` is None; abstentions wrong) when its items hold more than
    one class, accuracy when they hold one. A category
    does not scale when its fitted gain across the ladder (least squares
    against log2 size) is below `flat_gain`. Categories are listed in sorted
    order; `not_scaling` lists the non-scaling ones, worst slope first.
    """
    n_items = len(y_true)
    if len(categories) != n_items:
        raise ValueError(f"categories: {len(categories)} categories for {n_items} items")
    ladder = ladder_arrays(sizes, predictions_by_size, n_items, names=names)
    labels = np.empty(n_items, dtype=object)
    labels[:] = list(y_true)
    category_array = np.empty(n_items, dtype=object)
    category_array[:] = list(categories)
    doublings = np.log2(ladder.sizes)
    span = float(doublings[-1] - doublings[0])

    true_pos, false_pos, false_neg = class_confusion_masks(labels, ladder.values, positive, abstain)
    correct = np.asarray(ladder.values == labels, dtype=bool) & ~abstention_mask(
        ladder.values, abstain
    )
    growth = []
    for category in sorted(
        set(category_array.tolist()), key=lambda value: (str(type(value)), str(value))
    ):
        members = np.array([value == category for value in category_array], dtype=bool)
        classes = labels[members] if positive is None else labels[members] == positive
        if len(set(classes.tolist())) == 1:
            metric, values = "accuracy", correct[:, members].mean(axis=1)
        else:
            metric = "f1"
            tp, fp, fn = (mask[:, :, members].sum(axis=-1) for mask in (true_pos, false_pos, false_neg))
            # Macro-F1 within the category: over the classes its items hold or its answers name.
            seen = (tp + fp + fn).sum(axis=1) > 0
            values = f1_from_counts(tp[seen], fp[seen], fn[seen]).mean(axis=0)
        slope = float(np.polyfit(doublings, values, 1)[0]) if len(values) > 1 else 0.0
        growth.append(
            CategoryGrowth(
                category=_plain(category),
                n_items=int(members.sum()),
                metric=metric,
                values=[float(value) for value in values],
                slope=slope,
                fitted_gain=slope * span,
                scales=slope * span >= flat_gain,
            )
        )
    not_scaling = [
        entry.category
        for entry in sorted(growth, key=lambda entry: entry.slope)
        if not entry.scales
    ]
    return CategoryGrowthReport(
        sizes=[float(size) for size in ladder.sizes],
        names=ladder.names,
        categories=growth,
        not_scaling=not_scaling,
    )


# --- rung-level diagnosis ---------------------------------------------------------------


@dataclass(frozen=True)
class HyperparameterChange:
    """A proposed re-run of one rung; `current`/`proposed` are None when unknown."""

    rung: str
    size: float
    parameter: str
    factor: float
    current: float | None
    proposed: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RungDiagnosis:
    """Why a ladder does or does not scale.

    `kind`: "healthy" (F1 rises), "rung_off_curve" (some rung falls below the
    curve its neighbours draw: re-run it with other hyper-parameters), "data"
    (the ladder is flat or falling as a whole: review the data) or
    "too_few_items" (the eval items cannot tell yet).
    `expected` holds, for each off-curve rung, the F1 its neighbours predict.
    """

    kind: str
    rungs: list[str]
    rung_sizes: list[float]
    expected: list[float]
    message: str
    proposed_changes: list[HyperparameterChange]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "rungs": list(self.rungs),
            "rung_sizes": list(self.rung_sizes),
            "expected": list(self.expected),
            "message": self.message,
            "proposed_changes": [change.to_dict() for change in self.proposed_changes],
        }


def format_learning_rate(value: float) -> str:
    """A learning rate as people write it: 2e-05 → "2e-5", 0.00015 → "1.5e-4"."""
    mantissa, exponent = f"{value:.2e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def _expected_f1(sizes: np.ndarray, f1: np.ndarray, others: list[int], at: int) -> float:
    """F1 at rung `at` on the curve its neighbours draw.

    Between two neighbours: the straight line joining them in log size. At an
    end of the ladder: a power law in error, err = A·N^(−α) + E, through the
    other rungs (it bends as a saturating ladder does), or a line in log size
    when only two remain.
    """
    if len(others) == 1:
        # A two-rung ladder: the larger rung should at least match the other.
        return float(f1[others[0]])
    log_sizes = np.log(sizes[others])
    if log_sizes[0] < np.log(sizes[at]) < log_sizes[-1]:
        return float(np.interp(np.log(sizes[at]), log_sizes, f1[others]))
    if len(others) >= 3:
        fit = fit_power(sizes[others], 1.0 - f1[others])
        return float(1.0 - fit.predict(sizes[at]))
    slope, intercept = np.polyfit(log_sizes, f1[others], 1)
    return float(intercept + slope * np.log(sizes[at]))


def _rises(f1: np.ndarray, rungs: list[int], flat_gain: float, margin: float) -> bool:
    values = f1[rungs]
    return values[-1] - values[0] >= flat_gain and bool(np.all(np.diff(values) > -margin))


def _learning_rate_for(learning_rates, position: int, size: float, name: str) -> float | None:
    if learning_rates is None:
        return None
    if isinstance(learning_rates, (int, float)):
        return float(learning_rates)
    if isinstance(learning_rates, Mapping):
        for key in (size, name):
            if key in learning_rates and learning_rates[key] is not None:
                return float(learning_rates[key])
        return None
    value = list(learning_rates)[position]
    return None if value is None else float(value)


def diagnose_rungs(
    sizes: Sequence[float] | MonotonicityResult,
    f1: Sequence[float] | None = None,
    *,
    names: Sequence[str] | None = None,
    ci_high: Sequence[float] | None = None,
    learning_rates: Mapping | Sequence | float | None = None,
    off_curve_margin: float = 0.03,
    flat_gain: float = FLAT_GAIN,
    max_off_rungs: int | None = None,
) -> RungDiagnosis:
    """Tell a rung off its neighbours' curve (hyper-parameters) from a flat ladder (data).

    Takes a `MonotonicityResult` (its bootstrap intervals are used), or
    sizes and F1 as parallel arrays in any order, with optional upper
    confidence bounds `ci_high`; rungs are reported in ascending size.

    From a `MonotonicityResult`, the kind is the one its verdict goes with
    (`DIAGNOSIS_FOR_VERDICT`): monotone → healthy, flat → data, too few items
    → too_few_items (saying about how many more would decide), break →
    rung_off_curve naming, for each break, the rung of its pair that the
    search below set aside, else the larger one. From bare arrays:

    For every rung, the F1 its neighbours predict is the line joining them in
    log size, or at either end of the ladder a power law in error,
    err = A·N^(−α) + E, through the other rungs (a line in log size when only
    two remain). A rung is off the curve when it lies more than
    `off_curve_margin` below that prediction and, when intervals are known,
    its whole interval lies below it. The furthest such rung is set aside and
    the others re-examined, up to `max_off_rungs` (default: a third of the
    ladder) and while three or more rungs remain.

    - rung_off_curve: rungs were set aside and the rest rises (gains at least
      `flat_gain` from its first to its last rung, no step falls more than the
      margin). Proposed change: a tenth of each such rung's learning rate
      (2405.02817 fixed its 4B rung with 2e-4 → 2e-5); `learning_rates` may be
      one value, a mapping by size or by name, or a sequence parallel to the
      input sizes.
    - data: F1 gains less than `flat_gain` from the smallest to the largest
      rung, or the rungs left after setting some aside do not rise: the data
      holds the ladder back, so its suspect items go to review.
    - healthy: F1 rises.
    """
    result = sizes if isinstance(sizes, MonotonicityResult) else None
    if result is not None:
        size_array, f1_array = np.asarray(result.sizes, float), np.asarray(result.f1, float)
        upper = np.asarray(result.ci_high, float)
        rung_names = list(names) if names is not None else list(result.names)
    else:
        if f1 is None:
            raise ValueError("f1: give per-rung F1 beside the sizes, or a MonotonicityResult")
        size_array, f1_array = np.asarray(sizes, float).ravel(), np.asarray(f1, float).ravel()
        upper = np.full(len(size_array), -np.inf) if ci_high is None else np.asarray(ci_high, float)
        rung_names = list(names) if names is not None else [size_label(size) for size in size_array]
    for what, values in (("f1", f1_array), ("names", rung_names), ("ci_high", upper)):
        if len(values) != len(size_array):
            raise ValueError(f"{what}: {len(values)} values for {len(size_array)} sizes")
    if len(size_array) < 2:
        raise ValueError("sizes: a ladder needs at least two rungs")
    if not (np.all(np.isfinite(f1_array)) and np.all(size_array > 0)):
        raise ValueError("sizes must be > 0 and F1 values finite")
    order = np.argsort(size_array, kind="stable")
    size_array, f1_array, upper = size_array[order], f1_array[order], upper[order]
    rung_names = [rung_names[i] for i in order]
    n_rungs = len(size_array)
    limit = max(n_rungs // 3, 1) if max_off_rungs is None else max_off_rungs
    # A curve to compare against needs three rungs, or two on a three-rung ladder.
    min_left = 2 if n_rungs == 3 else 3

    remaining = list(range(n_rungs))
    off_curve: list[tuple[int, float]] = []
    while len(off_curve) < limit and len(remaining) - 1 >= min_left:
        expected = {
            rung: _expected_f1(size_array, f1_array, [r for r in remaining if r != rung], rung)
            for rung in remaining
        }
        below = [
            rung
            for rung in remaining
            if f1_array[rung] < expected[rung] - off_curve_margin and upper[rung] < expected[rung]
        ]
        if not below:
            break
        worst = min(below, key=lambda rung: f1_array[rung] - expected[rung])
        off_curve.append((worst, expected[worst]))
        remaining.remove(worst)

    if result is not None:
        return _diagnosis_for_verdict(
            result, off_curve, size_array, f1_array, rung_names, order, learning_rates
        )
    if off_curve and _rises(f1_array, remaining, flat_gain, off_curve_margin):
        return _off_curve_diagnosis(
            sorted(off_curve), size_array, f1_array, rung_names, order, learning_rates
        )
    if f1_array[-1] - f1_array[0] < flat_gain or off_curve:
        return _data_diagnosis(f1_array, rung_names)
    return _healthy_diagnosis(f1_array, rung_names)


def metric_label(metric: str) -> str:
    """How a message names the score: "F1", or "macro-F1" for a task with no single positive option."""
    return "macro-F1" if metric == MACRO_F1 else "F1"


def _span(f1: np.ndarray, names: list[str]) -> str:
    return f"{f1[0]:.3f} at {names[0]} → {f1[-1]:.3f} at {names[-1]}"


def _healthy_diagnosis(f1: np.ndarray, names: list[str], metric: str = "F1") -> RungDiagnosis:
    return RungDiagnosis(HEALTHY, [], [], [], f"{metric} rises with model size ({_span(f1, names)}).", [])


def _data_diagnosis(f1: np.ndarray, names: list[str], metric: str = "F1") -> RungDiagnosis:
    trend = "falls" if f1[-1] < f1[0] else "is flat"
    message = (
        f"{metric} {trend} across the ladder ({_span(f1, names)}): the data, not the models, holds it back — "
        "send the suspect items to review."
    )
    return RungDiagnosis(DATA, [], [], [], message, [])


def _diagnosis_for_verdict(
    result: MonotonicityResult,
    off_curve: list[tuple[int, float]],
    sizes: np.ndarray,
    f1: np.ndarray,
    names: list[str],
    order: np.ndarray,
    learning_rates,
) -> RungDiagnosis:
    """The diagnosis that goes with the result's verdict, whatever the curve search found.

    For a break, each break's rung to re-run is the one of its pair the curve
    search set aside, else the larger one (the rung that falls).
    """
    kind = DIAGNOSIS_FOR_VERDICT[result.verdict]
    metric = metric_label(result.metric)
    if kind == HEALTHY:
        return _healthy_diagnosis(f1, names, metric)
    if kind == DATA:
        return _data_diagnosis(f1, names, metric)
    if kind == TOO_FEW:
        more = (
            f"about {result.items_needed} more would decide"
            if result.items_needed
            else "more would decide"
        )
        message = (
            f"Too few eval items to tell whether {metric} rises with model size ({_span(f1, names)}; "
            f"{result.n_items} items): {more}."
        )
        return RungDiagnosis(TOO_FEW, [], [], [], message, [])
    set_aside = dict(off_curve)
    chosen: dict[int, float] = {}
    for found in result.breaks:
        pair = [int(np.flatnonzero(sizes == size)[0]) for size in (found.smaller_size, found.larger_size)]
        rung = next((index for index in pair if index in set_aside), pair[1])
        others = [index for index in range(len(f1)) if index != rung]
        chosen[rung] = set_aside.get(rung, _expected_f1(sizes, f1, others, rung))
    return _off_curve_diagnosis(sorted(chosen.items()), sizes, f1, names, order, learning_rates, metric)


def _off_curve_diagnosis(
    off_curve: list[tuple[int, float]],
    sizes: np.ndarray,
    f1: np.ndarray,
    names: list[str],
    order: np.ndarray,
    learning_rates,
    metric: str = "F1",
) -> RungDiagnosis:
    changes, sentences = [], []
    for rung, expected in off_curve:
        current = _learning_rate_for(
            learning_rates, int(order[rung]), float(sizes[rung]), names[rung]
        )
        proposed = None if current is None else current * LEARNING_RATE_FACTOR
        changes.append(
            HyperparameterChange(
                rung=names[rung],
                size=float(sizes[rung]),
                parameter="learning_rate",
                factor=LEARNING_RATE_FACTOR,
                current=current,
                proposed=proposed,
            )
        )
        if rung > 0 and f1[rung] < f1[rung - 1]:
            what = f"{metric} falls from {names[rung - 1]} to {names[rung]}"
        else:
            what = (
                f"{names[rung]} sits {expected - f1[rung]:.3f} {metric} below the curve of its neighbours"
            )
        if proposed is None:
            fix = "re-run it with a tenth of its learning rate"
        else:
            fix = f"re-run it with lr {format_learning_rate(proposed)}"
        sentences.append(f"{what}: likely that rung's learning rate — {fix}")
    return RungDiagnosis(
        kind=RUNG_OFF_CURVE,
        rungs=[names[rung] for rung, _ in off_curve],
        rung_sizes=[float(sizes[rung]) for rung, _ in off_curve],
        expected=[expected for _, expected in off_curve],
        message="; ".join(sentences) + ".",
        proposed_changes=changes,
    )
