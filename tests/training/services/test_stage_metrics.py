"""A rung's stored metrics count right and wrong as the verdict does."""

import pytest

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
