"""A rung's stored metrics count right and wrong as the verdict does."""

import pytest
from sklearn.metrics import f1_score

from annotation.models import Item
from scaling import verdict
from tests.annotation.assignments.test_assignment_claim import make_items
from training import services

pytestmark = pytest.mark.django_db


def test_an_unparseable_or_dont_know_answer_is_wrong_in_the_metrics_as_in_the_verdict(project):
    items = make_items(project, 4)
    Item.objects.filter(pk__in=[item.pk for item in items]).update(category="easy")
    positive = project.positive_option
    negative = next(o["value"] for o in project.options if o["value"] not in {positive, *project.abstain_options})
    dont_know = project.abstain_options[0]
    answers = [(positive, positive), (negative, ""), (negative, dont_know), (negative, negative)]
    rows = [
        {"item_id": item.pk, "label": label, "option": option, "margin": None}
        for item, (label, option) in zip(items, answers)
    ]

    metrics = services.stage_metrics(rows=rows, project=project)

    # The unparseable and the "don't know" answers on negative items are two false positives.
    assert metrics["precision"] == pytest.approx(1 / 3)
    assert metrics["recall"] == 1.0
    assert metrics["per_category"]["easy"]["accuracy"] == 0.5
    ladder_f1 = verdict.monotonicity(
        [1.0, 2.0], [label == positive for label, _ in answers],
        [[None if option in ("", dont_know) else option == positive for _, option in answers]] * 2,
        positive=True, n_boot=10,
    ).f1[0]
    assert metrics["f1"] == pytest.approx(ladder_f1)


def test_a_task_with_no_positive_option_stores_macro_f1_as_the_verdict_scores_it(project):
    project.options = [
        {"value": "question", "text": "a question", "key": "q"},
        {"value": "answer", "text": "an answer", "key": "a"},
        {"value": "chatter", "text": "chatter", "key": "c"},
    ]
    project.positive_option = ""
    project.abstain_options = []
    project.save()
    items = make_items(project, 6)
    answers = [("question", "question"), ("question", "answer"), ("answer", "answer"),
               ("answer", ""), ("chatter", "chatter"), ("chatter", "question")]
    rows = [
        {"item_id": item.pk, "label": label, "option": option, "margin": None}
        for item, (label, option) in zip(items, answers)
    ]

    metrics = services.stage_metrics(rows=rows, project=project)

    # The unparseable answer is a miss of its item's class, as sklearn reads an answer outside `labels`.
    expected = f1_score([label for label, _ in answers], [option or "none" for _, option in answers],
                        labels=["question", "answer", "chatter"], average="macro", zero_division=0)
    assert metrics["metric"] == "macro-F1" and metrics["auc"] is None
    assert metrics["f1"] == pytest.approx(expected)
    ladder_f1 = verdict.monotonicity(
        [1.0, 2.0], [label for label, _ in answers], [[option or None for _, option in answers]] * 2,
        positive=None, n_boot=10,
    ).f1[0]
    assert metrics["f1"] == pytest.approx(ladder_f1)
