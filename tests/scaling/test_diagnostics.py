"""Suspect items, per-category growth, and rung-level diagnosis."""

import json

import numpy as np
import pytest
from sklearn.metrics import f1_score

from scaling.diagnostics import (
    DATA,
    HEALTHY,
    RUNG_OFF_CURVE,
    TOO_FEW,
    category_growth,
    diagnose_rungs,
    format_learning_rate,
    suspect_items,
)
from scaling.verdict import BREAK, FLAT, MONOTONE, TOO_FEW_ITEMS, monotonicity

SIZES = [0.5e9, 1.8e9, 4e9, 7e9, 14e9, 32e9]


class TestSuspectItems:
    ITEMS = ["a", "b", "c", "d", "e", "f"]
    LABELS = [1, 1, 0, 0, 1, 0]
    # Rows from the smallest rung to the largest.
    PREDICTIONS = [
        [1, 0, 0, 1, 1, 0],
        [0, 0, 1, 1, 1, 1],
        [0, 0, 1, 1, None, 1],
        [0, 0, 1, 1, 0, 1],
    ]

    def test_larger_rungs_agreeing_against_the_label_ordered_by_agreement(self):
        suspects = suspect_items(self.ITEMS, self.LABELS, self.PREDICTIONS, top_sizes=3)
        # "e": one top rung abstains; "a", "b", "c", "d", "f": top three agree on another label.
        assert [suspect.item_id for suspect in suspects] == ["b", "d", "a", "c", "f"]
        assert suspects[0].score == 1.0 and suspects[0].predicted == 0 and suspects[0].label == 1
        assert suspects[2].agreement == pytest.approx(0.75)

    def test_confidences_filter_and_order(self):
        confidences = {
            1e9: [0.9] * 6,
            2e9: [0.80, 0.95, 0.60, 0.99, 0.9, 0.9],
            4e9: [0.80, 0.95, 0.90, 0.99, 0.9, 0.7],
            8e9: [0.90, 0.95, 0.90, 0.98, 0.9, 0.8],
        }
        predictions = dict(zip(confidences, self.PREDICTIONS))
        suspects = suspect_items(
            self.ITEMS, self.LABELS, predictions, confidences, top_sizes=3, min_confidence=0.7
        )
        # "c" has a rung at 0.60 < 0.7; the rest ordered by mean top-rung confidence.
        assert [suspect.item_id for suspect in suspects] == ["d", "b", "a", "f"]
        assert suspects[0].score == pytest.approx((0.99 + 0.99 + 0.98) / 3)
        json.dumps([suspect.to_dict() for suspect in suspects])

    def test_nothing_to_suspect_when_the_ladder_agrees_with_labels(self):
        assert suspect_items([1, 2], [1, 0], [[1, 0], [1, 0]]) == []


class TestCategoryGrowth:
    def make(self):
        rng = np.random.default_rng(0)
        n = 600
        categories = np.array(["code", "chat", "negatives"])[np.arange(n) % 3]
        labels = (rng.random(n) < 0.5).astype(int)
        labels[categories == "negatives"] = 0
        difficulty = rng.random(n)
        rows = []
        for rung in range(4):
            accuracy = np.where(categories == "code", 0.6 + 0.1 * rung, 0.7)
            accuracy = np.where(categories == "negatives", 0.9 - 0.05 * rung, accuracy)
            right = difficulty < accuracy
            rows.append(np.where(right, labels, 1 - labels))
        return categories, labels, rows

    def test_growth_per_category_and_which_do_not_scale(self):
        categories, labels, rows = self.make()
        report = category_growth(SIZES[:4], labels, rows, categories)
        by_name = {entry.category: entry for entry in report.categories}
        assert [entry.category for entry in report.categories] == ["chat", "code", "negatives"]
        assert by_name["code"].scales and by_name["code"].slope > 0
        assert not by_name["chat"].scales
        assert by_name["negatives"].metric == "accuracy" and by_name["negatives"].slope < 0
        assert report.not_scaling == ["negatives", "chat"]
        code = categories == "code"
        for rung in range(4):
            assert by_name["code"].values[rung] == pytest.approx(
                f1_score(labels[code], rows[rung][code])
            )
        json.dumps(report.to_dict())


class TestDiagnoseRungs:
    def test_planted_off_curve_rung_gets_a_learning_rate_proposal(self):
        diagnosis = diagnose_rungs(SIZES, [0.62, 0.70, 0.66, 0.78, 0.82, 0.85], learning_rates=2e-4)
        assert diagnosis.kind == RUNG_OFF_CURVE
        assert diagnosis.rungs == ["4B"]
        assert diagnosis.message == (
            "F1 falls from 1.8B to 4B: likely that rung's learning rate — re-run it with lr 2e-5."
        )
        (change,) = diagnosis.proposed_changes
        assert (change.parameter, change.current, change.proposed) == (
            "learning_rate",
            2e-4,
            pytest.approx(2e-5),
        )
        assert diagnosis.expected[0] > 0.72
        json.dumps(diagnosis.to_dict())

    def test_learning_rates_by_name_and_unsorted_input(self):
        diagnosis = diagnose_rungs(
            [4e9, 0.5e9, 1.8e9, 7e9],
            [0.60, 0.62, 0.70, 0.78],
            names=["qwen-4b", "qwen-0.5b", "qwen-1.8b", "qwen-7b"],
            learning_rates={"qwen-4b": 1e-4},
        )
        assert diagnosis.rungs == ["qwen-4b"]
        assert "F1 falls from qwen-1.8b to qwen-4b" in diagnosis.message
        assert diagnosis.proposed_changes[0].proposed == pytest.approx(1e-5)

    def test_without_a_learning_rate_proposes_a_tenth(self):
        diagnosis = diagnose_rungs(SIZES[:4], [0.60, 0.72, 0.64, 0.80])
        assert diagnosis.kind == RUNG_OFF_CURVE
        assert diagnosis.proposed_changes[0].proposed is None
        assert "a tenth of its learning rate" in diagnosis.message

    @pytest.mark.parametrize(
        "f1",
        [[0.70, 0.71, 0.69, 0.70, 0.71, 0.70], [0.80, 0.75, 0.70, 0.68, 0.65, 0.60]],
    )
    def test_flat_or_falling_ladder_is_data(self, f1):
        diagnosis = diagnose_rungs(SIZES, f1)
        assert diagnosis.kind == DATA
        assert diagnosis.rungs == [] and diagnosis.proposed_changes == []
        assert "suspect items to review" in diagnosis.message

    def test_rising_ladder_is_healthy(self):
        diagnosis = diagnose_rungs(SIZES, [0.60, 0.70, 0.75, 0.78, 0.80, 0.81])
        assert diagnosis.kind == HEALTHY
        assert diagnosis.message == "F1 rises with model size (0.600 at 0.5B → 0.810 at 32B)."

    def test_from_a_monotonicity_result(self):
        rng = np.random.default_rng(0)
        labels = (rng.random(1000) < 0.4).astype(int)
        difficulty = rng.random(1000)
        rows = [
            np.where(difficulty < accuracy, labels, 1 - labels)
            for accuracy in (0.60, 0.70, 0.58, 0.78, 0.83, 0.88)
        ]
        result = monotonicity(SIZES, labels, rows, n_boot=200)
        diagnosis = diagnose_rungs(result, learning_rates=[2e-4] * 6)
        assert diagnosis.kind == RUNG_OFF_CURVE and diagnosis.rungs == ["4B"]
        assert "re-run it with lr 2e-5" in diagnosis.message

    def test_a_break_is_named_even_where_the_curve_search_sees_none(self):
        # 83 eval items: 4B → 7B drops 0.048 F1 in 98% of replicates, a break,
        # while the rung's interval still reaches its neighbours' curve.
        rng = np.random.default_rng(30)
        labels = (rng.random(83) < 0.4).astype(int)
        difficulty = rng.random(83)
        rows = [
            np.where(difficulty + rng.normal(0.0, 0.05, 83) < accuracy, labels, 1 - labels)
            for accuracy in (0.60, 0.70, 0.80, 0.74)
        ]
        result = monotonicity(SIZES[:4], labels, rows)
        assert result.verdict == BREAK
        assert diagnose_rungs(result.sizes, result.f1, ci_high=result.ci_high).kind == HEALTHY
        diagnosis = diagnose_rungs(result, learning_rates=2e-4)
        assert diagnosis.kind == RUNG_OFF_CURVE and diagnosis.rungs == ["7B"]
        assert diagnosis.message.startswith("F1 falls from 4B to 7B")
        assert diagnosis.proposed_changes[0].proposed == pytest.approx(2e-5)

    @pytest.mark.parametrize(
        "accuracies, n_items, verdict, kind",
        [
            ((0.60, 0.70, 0.80, 0.90), 300, MONOTONE, HEALTHY),
            ((0.70, 0.70, 0.70, 0.70), 300, FLAT, DATA),
            ((0.60, 0.62, 0.64, 0.66), 40, TOO_FEW_ITEMS, TOO_FEW),
        ],
    )
    def test_the_diagnosis_follows_the_verdict(self, accuracies, n_items, verdict, kind):
        rng = np.random.default_rng(1)
        labels = (rng.random(n_items) < 0.4).astype(int)
        difficulty = rng.random(n_items)
        rows = [np.where(difficulty < accuracy, labels, 1 - labels) for accuracy in accuracies]
        result = monotonicity(SIZES[:4], labels, rows)
        assert result.verdict == verdict
        diagnosis = diagnose_rungs(result)
        assert diagnosis.kind == kind and diagnosis.proposed_changes == []
        if kind == TOO_FEW:
            assert f"about {result.items_needed} more would decide" in diagnosis.message

    def test_a_dip_inside_its_confidence_interval_is_not_off_the_curve(self):
        f1 = [0.60, 0.70, 0.72, 0.80, 0.85, 0.87]
        assert diagnose_rungs(SIZES, f1).rungs == ["4B"]
        wide = diagnose_rungs(SIZES, f1, ci_high=[value + 0.05 for value in f1])
        assert wide.kind == HEALTHY

    def test_needs_f1_with_sizes(self):
        with pytest.raises(ValueError, match="f1"):
            diagnose_rungs(SIZES)


def test_learning_rate_format():
    assert [format_learning_rate(value) for value in (2e-5, 1.5e-4, 0.1)] == [
        "2e-5",
        "1.5e-4",
        "1e-1",
    ]


class TestLabelIssues:
    """Whole-batch label issues from out-of-sample probabilities of the judging rungs."""

    CLASSES = ["yes", "no", "dont_know"]

    @staticmethod
    def judged(gold, accuracies, seed=0):
        """(judges, items, classes) probabilities: each judge right with probability `accuracy`, as sure as that."""
        rng = np.random.default_rng(seed)
        n = len(gold)
        probabilities = np.zeros((len(accuracies), n, 3))
        for judge, accuracy in enumerate(accuracies):
            right = rng.random(n) < accuracy
            answer = np.where(right, gold, 1 - gold)
            probabilities[judge, np.arange(n), answer] = 0.85
            probabilities[judge, np.arange(n), 1 - answer] = 0.12
            probabilities[judge, :, 2] = 0.03
        return probabilities

    def test_planted_wrong_labels_come_first(self):
        from scaling.diagnostics import label_issues

        rng = np.random.default_rng(1)
        gold = rng.integers(0, 2, 400)
        labels = gold.copy()
        planted = set(rng.choice(400, 60, replace=False).tolist())
        for item in planted:
            labels[item] = 1 - labels[item]
        issues = label_issues(
            list(range(400)), [self.CLASSES[label] for label in labels], self.CLASSES,
            self.judged(gold, [0.9, 0.95]), ["m", "l"],
        )
        top = {issue.item_id for issue in issues[:60]}
        assert len(top & planted) >= 50
        first = issues[0]
        assert first.answer != first.label and first.kind == "wrong" and set(first.probabilities) == {"m", "l"}
        assert first.reason and 0 <= first.score <= 1
        assert [issue.score for issue in issues] == sorted((issue.score for issue in issues), reverse=True)

    def test_a_label_whose_probability_falls_with_size_is_ambiguous_not_wrong(self):
        from scaling.diagnostics import AMBIGUOUS, label_issues

        # Item 0: 0.9 at the small judge, 0.6 in the middle, 0.35 at the large one.
        probabilities = np.array([[[0.9, 0.1, 0.0]], [[0.6, 0.4, 0.0]], [[0.35, 0.65, 0.0]]])
        # Thirty items of both options that every judge gets right.
        filler = np.tile(np.array([[[0.05, 0.95, 0.0]] * 15 + [[0.95, 0.05, 0.0]] * 15]), (3, 1, 1))
        issues = label_issues(
            list(range(31)), ["yes"] + ["no"] * 15 + ["yes"] * 15, self.CLASSES,
            np.concatenate([probabilities, filler], axis=1), ["s", "m", "l"],
        )
        assert [(issue.item_id, issue.kind) for issue in issues] == [(0, AMBIGUOUS)]
        assert "check the guideline" in issues[0].reason

    def test_clean_labels_give_few_issues_and_unknown_labels_none(self):
        from scaling.diagnostics import label_issues

        gold = np.array([0, 1] * 100)
        labels = [self.CLASSES[label] for label in gold]
        labels[0] = "retired_option"
        issues = label_issues(list(range(200)), labels, self.CLASSES, self.judged(gold, [0.99, 0.99]), ["m", "l"])
        assert len(issues) <= 8 and 0 not in {issue.item_id for issue in issues}

    def test_shapes_that_do_not_match_are_refused(self):
        from scaling.diagnostics import label_issues

        with pytest.raises(ValueError, match="probabilities"):
            label_issues([1, 2], ["yes", "no"], self.CLASSES, np.zeros((2, 2, 3)), ["only-one"])

    def test_a_careless_annotator_s_items_move_up_and_equal_annotators_change_nothing(self):
        from scaling.diagnostics import label_issues

        rng = np.random.default_rng(3)
        gold = rng.integers(0, 2, 600)
        who = np.array([f"a{index % 3}" for index in range(600)])
        labels = gold.copy()
        careless = np.flatnonzero((who == "a2") & (rng.random(600) < 0.5))
        labels[careless] = 1 - labels[careless]
        probabilities = self.judged(gold, [0.75, 0.8], seed=4)
        names = [self.CLASSES[label] for label in labels]
        without = label_issues(list(range(600)), names, self.CLASSES, probabilities, ["m", "l"])
        with_annotators = label_issues(list(range(600)), names, self.CLASSES, probabilities, ["m", "l"], annotators=who)
        n = len(careless)
        hits = [len({issue.item_id for issue in issues[:n]} & set(careless.tolist())) for issues in (without, with_annotators)]
        assert hits[1] > hits[0]
        equal = np.array([f"a{index % 3}" for index in range(600)])
        assert [issue.item_id for issue in label_issues(list(range(600)), [self.CLASSES[g] for g in gold], self.CLASSES,
                                                        probabilities, ["m", "l"], annotators=equal)] == [
            issue.item_id for issue in label_issues(list(range(600)), [self.CLASSES[g] for g in gold], self.CLASSES,
                                                    probabilities, ["m", "l"])
        ]

    def test_judges_that_lean_toward_one_option_still_find_wrong_labels_of_both(self):
        from scaling.diagnostics import label_issues

        # Judges that rank items rightly but answer "no" to nearly everything, as small rungs
        # trained on noisy labels do: raw, they contradict every "yes" label and no "no" label.
        rng = np.random.default_rng(5)
        gold = rng.integers(0, 2, 600)
        labels = gold.copy()
        planted = rng.choice(600, 180, replace=False)
        labels[planted] = 1 - labels[planted]
        probabilities = np.zeros((2, 600, 3))
        for judge in range(2):
            yes = np.clip(np.where(gold == 0, 0.4, 0.1) + rng.normal(0, 0.05, 600), 0.01, 0.6)
            probabilities[judge, :, 0] = yes
            probabilities[judge, :, 1] = 0.98 - yes
            probabilities[judge, :, 2] = 0.02
        issues = label_issues(list(range(600)), [self.CLASSES[label] for label in labels], self.CLASSES,
                              probabilities, ["m", "l"])
        top = {issue.item_id for issue in issues[:180]}
        for wrong_as in (0, 1):
            wrong = {int(item) for item in planted if labels[item] == wrong_as}
            assert len(top & wrong) >= 0.8 * len(wrong), self.CLASSES[wrong_as]
        # The ladder's answer for a "no" label it holds wrong is "yes", though every judge's best guess was "no".
        assert [issue.answer for issue in issues[:180]].count("yes") >= 60

    def test_a_judge_that_learned_nothing_does_not_dilute_the_pool(self):
        from scaling.diagnostics import judge_weights

        label_index = np.array([0, 1] * 50)
        useless = np.tile([0.6, 0.4, 0.0], (100, 1))
        good = np.zeros((100, 3))
        good[np.arange(100), label_index] = 0.9
        good[np.arange(100), 1 - label_index] = 0.1
        weights = judge_weights(np.stack([useless, good]), label_index)
        assert weights[0] == 0 and weights[1] == 1
