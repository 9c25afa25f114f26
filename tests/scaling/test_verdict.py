"""Per-rung F1, paired bootstrap intervals and breaks in a model ladder."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

from scaling.verdict import (
    BREAK,
    FLAT,
    MONOTONE,
    TOO_FEW_ITEMS,
    auc_by_size,
    decide,
    monotonicity,
    size_label,
)

SIZES = [0.5e9, 1.8e9, 4e9, 7e9, 14e9, 32e9]


def ladder_predictions(accuracies, n_items=1000, seed=0, jitter=0.0):
    """Labels and per-rung predictions; rung r is right on items easier than accuracies[r].

    With jitter 0 every larger, more accurate rung is right on a superset of
    the items a smaller one gets right; jitter makes rungs disagree item by item.
    """
    rng = np.random.default_rng(seed)
    labels = (rng.random(n_items) < 0.4).astype(int)
    difficulty = rng.random(n_items)
    predictions = []
    for accuracy in accuracies:
        right = difficulty + rng.normal(0.0, jitter, n_items) < accuracy
        predictions.append(np.where(right, labels, 1 - labels))
    return labels, predictions


def as_sklearn(labels, predictions, positive, negative, abstain):
    """Replace each abstention with the opposite of the item's label."""
    return [
        ((negative if label == positive else positive) if prediction in abstain else prediction)
        for label, prediction in zip(labels, predictions)
    ]


class TestPointEstimates:
    def test_f1_precision_recall_equal_sklearn_with_abstentions(self):
        rng = np.random.default_rng(1)
        labels = list(rng.integers(0, 2, 300))
        predictions = {}
        for size in SIZES[:3]:
            row = [int(value) for value in rng.integers(0, 2, 300)]
            for i in rng.choice(300, 30, replace=False):
                row[i] = None if i % 2 else -1
            predictions[size] = row
        result = monotonicity(SIZES[:3], labels, predictions, n_boot=50)
        for rung, size in enumerate(SIZES[:3]):
            mapped = as_sklearn(labels, predictions[size], 1, 0, (None, -1))
            assert result.f1[rung] == pytest.approx(f1_score(labels, mapped))
            assert result.precision[rung] == pytest.approx(precision_score(labels, mapped))
            assert result.recall[rung] == pytest.approx(recall_score(labels, mapped))

    def test_string_labels_with_project_abstentions(self):
        labels = [
            "extraction",
            "no_extraction",
            "extraction",
            "no_extraction",
            "extraction",
            "no_extraction",
        ]
        small = ["extraction", "dont_know", "", "no_extraction", "no_extraction", "extraction"]
        large = [
            "extraction",
            "no_extraction",
            "extraction",
            "dont_know",
            "extraction",
            "no_extraction",
        ]
        abstain = ("dont_know", "")
        result = monotonicity(
            [1e9, 2e9], labels, [small, large], n_boot=20, positive="extraction", abstain=abstain
        )
        for rung, row in enumerate([small, large]):
            expected = f1_score(
                labels,
                as_sklearn(labels, row, "extraction", "no_extraction", abstain),
                pos_label="extraction",
            )
            assert result.f1[rung] == pytest.approx(expected)

    def test_abstaining_on_a_negative_item_is_a_false_positive(self):
        result = monotonicity([1, 2], [1, 0], [[1, 0], [1, None]], n_boot=10)
        assert result.f1 == pytest.approx([1.0, 2 / 3])

    def test_rungs_come_back_sorted_with_names(self):
        labels, predictions = ladder_predictions([0.6, 0.7, 0.8], n_items=100)
        shuffled = monotonicity(
            [4e9, 0.5e9, 1.8e9], labels, [predictions[2], predictions[0], predictions[1]], n_boot=20
        )
        ordered = monotonicity(SIZES[:3], labels, dict(zip(SIZES[:3], predictions)), n_boot=20)
        assert shuffled.sizes == SIZES[:3]
        assert shuffled.names == ["0.5B", "1.8B", "4B"]
        assert shuffled.f1 == ordered.f1

    def test_size_labels(self):
        assert [size_label(size) for size in (14e6, 0.5e9, 1.8e9, 4e9, 32e9)] == [
            "14M",
            "0.5B",
            "1.8B",
            "4B",
            "32B",
        ]

    @pytest.mark.parametrize(
        "labels, predictions, message",
        [
            ([1, None], [[1, 0], [1, 1]], "abstention"),
            (["a", "b"], [["a", "b"], ["a", "b"]], "positive"),
            ([1, 0], [[1, 0], [1]], "values"),
            ([1, 0], [[1, 0]], "rows"),
        ],
    )
    def test_rejects_bad_input(self, labels, predictions, message):
        with pytest.raises(ValueError, match=message):
            monotonicity([1e9, 2e9], labels, predictions, n_boot=10)


class TestBootstrap:
    def test_hand_computed_four_item_case(self):
        labels = [1, 1, 0, 0]
        small = [1, 0, 1, 0]
        large = [1, 1, None, 0]
        n_boot, seed = 8, 42
        result = monotonicity(
            [1e9, 2e9], labels, [small, large], n_boot=n_boot, seed=seed, confidence=0.8
        )

        # The documented resampling: one index row per replicate, shared by both rungs.
        index = np.random.default_rng(seed).integers(0, 4, size=(n_boot, 4))
        mapped_large = [1, 1, 1, 0]  # the abstention on a negative item reads as positive
        replicates = np.array(
            [
                [
                    f1_score(np.take(labels, row), np.take(small, row), zero_division=0),
                    f1_score(np.take(labels, row), np.take(mapped_large, row), zero_division=0),
                ]
                for row in index
            ]
        )
        point = [f1_score(labels, small), f1_score(labels, mapped_large)]
        low, high = np.quantile(replicates, [0.1, 0.9], axis=0)
        assert result.f1 == pytest.approx(point)
        assert result.ci_low == pytest.approx(np.minimum(low, point))
        assert result.ci_high == pytest.approx(np.maximum(high, point))

    def test_drop_probability_is_the_share_of_replicates_that_drop(self):
        labels = [1, 1, 1, 0, 0, 0]
        small = [1, 1, 1, 0, 0, 0]
        large = [1, 0, 1, 0, 1, 0]
        n_boot, seed = 200, 3
        result = monotonicity([1e9, 2e9], labels, [small, large], n_boot=n_boot, seed=seed)
        index = np.random.default_rng(seed).integers(0, 6, size=(n_boot, 6))
        drops = [
            f1_score(np.take(labels, row), np.take(large, row), zero_division=0)
            < f1_score(np.take(labels, row), np.take(small, row), zero_division=0)
            for row in index
        ]
        (found,) = result.breaks + result.dips
        assert found.probability == pytest.approx(np.mean(drops))
        assert found.drop == pytest.approx(1.0 - 2 / 3)

    def test_same_seed_same_result(self):
        labels, predictions = ladder_predictions([0.6, 0.7, 0.75], n_items=200, jitter=0.1)
        first = monotonicity(SIZES[:3], labels, predictions, n_boot=100, seed=5)
        again = monotonicity(SIZES[:3], labels, predictions, n_boot=100, seed=5)
        assert first == again


class TestVerdict:
    def test_planted_drop_is_a_break_with_high_probability(self):
        labels, predictions = ladder_predictions([0.60, 0.70, 0.58, 0.78, 0.83, 0.88], jitter=0.05)
        result = monotonicity(SIZES, labels, predictions)
        assert result.verdict == BREAK
        (found,) = result.breaks
        assert (found.smaller_name, found.larger_name) == ("1.8B", "4B")
        assert found.drop > 0.08
        assert found.probability > 0.99

    def test_noise_around_a_rising_curve_is_not_flagged(self):
        labels, predictions = ladder_predictions(
            [0.60, 0.64, 0.68, 0.72, 0.76, 0.80], jitter=0.15, seed=4
        )
        result = monotonicity(SIZES, labels, predictions)
        assert result.verdict == MONOTONE
        assert result.breaks == []

    def test_flat_ladder(self):
        labels, predictions = ladder_predictions([0.70] * 6, jitter=0.02, seed=2)
        result = monotonicity(SIZES, labels, predictions)
        assert result.verdict == FLAT
        assert abs(result.f1[-1] - result.f1[0]) < 0.02

    def test_falling_ladder_is_flat_not_monotone(self):
        labels, predictions = ladder_predictions([0.80, 0.76, 0.72, 0.68], jitter=0.05)
        assert monotonicity(SIZES[:4], labels, predictions).verdict == FLAT

    def test_thresholds_are_configurable(self):
        labels, predictions = ladder_predictions([0.60, 0.70, 0.66, 0.78], jitter=0.05)
        strict = monotonicity(SIZES[:4], labels, predictions, min_drop=0.2)
        assert strict.verdict == MONOTONE and strict.dips
        assert strict.thresholds == {
            "min_drop": 0.2,
            "min_probability": 0.9,
            "flat_gain": 0.02,
            "meaningful_gain": 0.10,
        }

    def test_to_dict_is_json(self):
        labels, predictions = ladder_predictions([0.60, 0.72, 0.62, 0.85], n_items=200)
        data = json.loads(
            json.dumps(monotonicity(SIZES[:4], labels, predictions, n_boot=50).to_dict())
        )
        assert data["sizes"] == [500000000, 1800000000, 4000000000, 7000000000]
        assert data["verdict"] == BREAK
        assert set(data["breaks"][0]) == {
            "smaller_size",
            "larger_size",
            "smaller_name",
            "larger_name",
            "drop",
            "probability",
        }
        assert len(data["gains"]) == 3


def pure_noise(n_items, seed, rungs=4):
    """Labels and rungs that answer by coin flip: F1 says nothing about size."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n_items) < 0.4).astype(int)
    return labels, [rng.integers(0, 2, n_items) for _ in range(rungs)]


def verdict_counts(make, trials, n_boot):
    counts = {}
    for trial in range(trials):
        labels, predictions = make(trial)
        verdict = monotonicity(SIZES[: len(predictions)], labels, predictions, n_boot=n_boot, seed=trial)
        counts[verdict.verdict] = counts.get(verdict.verdict, 0) + 1
    return counts


class TestNoiseCannotFoolIt:
    """Trial rates with fixed seeds; n_boot=200 keeps 200-trial runs quick."""

    @pytest.mark.parametrize("n_items, trials, n_boot", [(100, 200, 200), (300, 200, 200), (4000, 100, 100)])
    def test_pure_noise_is_called_monotone_in_at_most_5_percent_of_trials(self, n_items, trials, n_boot):
        counts = verdict_counts(lambda trial: pure_noise(n_items, 1000 + trial), trials, n_boot)
        assert counts.get(MONOTONE, 0) <= 0.05 * trials
        if n_items >= 4000:
            # So many items rule out any meaningful rise: the ladder is flat.
            assert counts.get(FLAT, 0) >= 0.9 * trials

    def test_a_true_rise_of_005_per_rung_on_300_items_is_monotone_in_90_percent(self):
        def rising(trial):
            return ladder_predictions([0.60, 0.65, 0.70, 0.75], n_items=300, seed=trial, jitter=0.25)

        rises = [np.diff(monotonicity(SIZES[:4], *rising(t), n_boot=20).f1).mean() for t in range(20)]
        assert np.mean(rises) == pytest.approx(0.05, abs=0.01)
        counts = verdict_counts(rising, 200, n_boot=200)
        assert counts.get(MONOTONE, 0) >= 0.9 * 200

    def test_a_planted_one_rung_drop_on_300_items_is_named(self):
        labels, predictions = ladder_predictions([0.60, 0.70, 0.56, 0.80], n_items=300, jitter=0.05)
        result = monotonicity(SIZES[:4], labels, predictions)
        assert result.verdict == BREAK
        (found,) = result.breaks
        assert (found.smaller_name, found.larger_name) == ("1.8B", "4B")

    def test_the_gain_interval_is_paired_and_holds_the_fitted_gain(self):
        labels, predictions = ladder_predictions([0.6, 0.7, 0.8], n_items=300, jitter=0.1)
        result = monotonicity(SIZES[:3], labels, predictions)
        assert result.gain_low <= result.fitted_gain <= result.gain_high
        assert 0 < result.gain_low
        # Identical rungs: every replicate has the same F1 on each, a gain of exactly 0.
        same = monotonicity(SIZES[:3], labels, [predictions[0]] * 3)
        assert same.gain_low == same.gain_high == 0.0
        assert same.verdict == FLAT

    def test_too_few_items_says_about_how_many_more_would_decide(self):
        labels, predictions = ladder_predictions([0.60, 0.64, 0.68, 0.72], n_items=60, seed=3, jitter=0.3)
        thin = monotonicity(SIZES[:4], labels, predictions)
        assert thin.verdict == TOO_FEW_ITEMS
        assert thin.gain_low <= 0 < thin.fitted_gain
        assert thin.items_needed > 0
        # The same items repeated keep every F1 and narrow the interval like
        # 1/sqrt(n): repeated up to 60 + items_needed, the rise is established
        # (on these items a dip then shows too, so the verdict is a break).
        copies = math.ceil((60 + thin.items_needed) / 60)
        more = monotonicity(
            SIZES[:4], np.tile(labels, copies), [np.tile(row, copies) for row in predictions]
        )
        assert more.fitted_gain == pytest.approx(thin.fitted_gain)
        assert more.gain_low > 0
        assert more.verdict != TOO_FEW_ITEMS

    @pytest.mark.parametrize(
        "gain, low, high, breaks, expected",
        [
            (0.10, 0.02, 0.18, [], MONOTONE),
            (0.10, -0.02, 0.22, [], TOO_FEW_ITEMS),
            (0.10, 0.02, 0.18, ["drop"], BREAK),
            (-0.03, -0.08, 0.02, [], FLAT),
            (-0.03, -0.15, 0.12, [], TOO_FEW_ITEMS),
            (0.01, -0.02, 0.04, ["drop"], FLAT),
        ],
    )
    def test_one_rule_decides(self, gain, low, high, breaks, expected):
        assert decide(300, gain, low, high, breaks).verdict == expected

    def test_the_clean_and_noisy_batches_of_the_real_training_test(self):
        # Their tuned F1 per rung on 300 eval items: cpu-xs, cpu-s, cpu-m.
        clean = ladder_with_f1([0.747, 0.931, 0.972], seed=0)
        noisy = ladder_with_f1([0.489, 0.503, 0.453], seed=0)
        assert monotonicity(SIZES[:3], *clean).verdict == MONOTONE
        result = monotonicity(SIZES[:3], *noisy)
        assert result.fitted_gain == pytest.approx(-0.032, abs=0.01)
        assert result.verdict == FLAT


def ladder_with_f1(targets, n_items=300, seed=0, jitter=0.1):
    """Rungs of a difficulty ladder whose F1 on `n_items` items comes as close as it can to `targets`."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n_items) < 0.5).astype(int)
    difficulty = rng.random(n_items)
    positive = labels == 1
    rows = []
    for target in targets:
        shaken = difficulty + rng.normal(0.0, jitter, n_items)
        right = shaken[None, :] < np.linspace(-0.5, 1.5, 401)[:, None]
        true_pos = (right & positive).sum(axis=1)
        wrong = (~right).sum(axis=1)
        f1 = 2 * true_pos / (2 * true_pos + wrong)
        bar = int(np.argmin(np.abs(f1 - target)))
        rows.append(np.where(right[bar], labels, 1 - labels))
    return labels, rows


@st.composite
def nested_ladders(draw):
    """Rungs where each larger one is right on a superset of the items a smaller one gets right."""
    n_items = draw(st.integers(min_value=2, max_value=30))
    n_rungs = draw(st.integers(min_value=2, max_value=5))
    labels = draw(
        st.lists(st.integers(0, 1), min_size=n_items, max_size=n_items).filter(lambda ls: 1 in ls)
    )
    first_right = draw(st.lists(st.integers(0, n_rungs), min_size=n_items, max_size=n_items))
    wrong_kind = draw(
        st.lists(
            st.sampled_from(["flip", "abstain"]),
            min_size=n_items * n_rungs,
            max_size=n_items * n_rungs,
        )
    )
    rows = []
    for rung in range(n_rungs):
        row = []
        for item, label in enumerate(labels):
            if rung >= first_right[item]:
                row.append(label)
            else:
                row.append(None if wrong_kind[rung * n_items + item] == "abstain" else 1 - label)
        rows.append(row)
    return labels, rows


class TestProperties:
    @settings(max_examples=60, deadline=None)
    @given(ladder=nested_ladders(), seed=st.integers(0, 2**16))
    def test_nested_correctness_never_breaks(self, ladder, seed):
        labels, rows = ladder
        sizes = [1e9 * 2**rung for rung in range(len(rows))]
        result = monotonicity(sizes, labels, rows, n_boot=100, seed=seed)
        assert result.verdict != BREAK
        assert result.breaks == [] and result.dips == []
        assert all(0.0 <= value <= 1.0 for value in result.f1)
        assert all(
            low <= f1 <= high for low, f1, high in zip(result.ci_low, result.f1, result.ci_high)
        )
        assert all(0.0 <= value <= 1.0 for value in result.ci_low + result.ci_high)


class TestAuc:
    def test_equals_sklearn_and_ranks_missing_scores_worst(self):
        rng = np.random.default_rng(0)
        labels = rng.integers(0, 2, 200)
        scores = {
            size: list(rng.normal(labels * (rung + 1) * 0.3, 1.0))
            for rung, size in enumerate(SIZES[:3])
        }
        aucs = auc_by_size(SIZES[:3], labels, scores)
        for size in SIZES[:3]:
            assert aucs[size] == pytest.approx(roc_auc_score(labels, scores[size]))
        assert list(aucs) == SIZES[:3]

        scores[SIZES[0]][0] = None
        worst = -1e9 if labels[0] == 1 else 1e9
        expected = roc_auc_score(labels, [worst] + scores[SIZES[0]][1:])
        assert auc_by_size(SIZES[:1], labels, {SIZES[0]: scores[SIZES[0]]})[
            SIZES[0]
        ] == pytest.approx(expected)

    def test_needs_both_classes(self):
        with pytest.raises(ValueError, match="both"):
            auc_by_size([1e9], [1, 1], [[0.2, 0.3]])


class TestMacroF1:
    """A task with no single positive option is judged by macro-F1 over its classes."""

    OPTIONS = ["context", "standalone", "greeting"]

    def three_class_ladder(self, accuracies, n_items=400, seed=3):
        rng = np.random.default_rng(seed)
        labels = rng.choice(self.OPTIONS, n_items, p=[0.5, 0.3, 0.2])
        difficulty = rng.random(n_items)
        predictions = []
        for accuracy in accuracies:
            wrong = rng.choice(self.OPTIONS, n_items)
            row = np.where(difficulty < accuracy, labels, wrong).astype(object)
            row[rng.choice(n_items, 10, replace=False)] = None
            predictions.append(list(row))
        return list(labels), predictions

    def test_point_estimates_equal_sklearn_macro_with_abstentions_outside_the_labels(self):
        labels, predictions = self.three_class_ladder([0.5, 0.7, 0.9])
        result = monotonicity(SIZES[:3], labels, predictions, n_boot=50, positive=None)
        assert result.metric == "macro_f1" and result.to_dict()["metric"] == "macro_f1"
        for row, f1, precision, recall in zip(predictions, result.f1, result.precision, result.recall):
            answers = ["abstained" if value is None else value for value in row]
            kwargs = {"labels": self.OPTIONS, "average": "macro", "zero_division": 0}
            assert f1 == pytest.approx(f1_score(labels, answers, **kwargs))
            assert precision == pytest.approx(precision_score(labels, answers, **kwargs))
            assert recall == pytest.approx(recall_score(labels, answers, **kwargs))

    def test_a_rising_three_class_ladder_is_monotone_and_a_planted_drop_is_named(self):
        labels, predictions = self.three_class_ladder([0.4, 0.6, 0.8, 0.95])
        rising = monotonicity(SIZES[:4], labels, predictions, n_boot=300, positive=None)
        assert rising.verdict == MONOTONE
        assert all(low <= f1 <= high for low, f1, high in zip(rising.ci_low, rising.f1, rising.ci_high))
        dropped = monotonicity(
            SIZES[:4], labels, [predictions[0], predictions[3], predictions[1], predictions[2]],
            n_boot=300, positive=None,
        )
        assert dropped.verdict == BREAK
        assert dropped.breaks[0].smaller_name == size_label(SIZES[1])

    def test_binary_results_say_they_are_binary_f1(self):
        labels, predictions = ladder_predictions([0.6, 0.8], n_items=200)
        assert monotonicity(SIZES[:2], labels, predictions, n_boot=20).metric == "f1"
