"""Simulated annotators label through the real services."""

import pytest

from annotation.models import Annotation, Batch, Item
from annotation.preprocessing import items_preprocess
from annotation.simulation import annotators_simulate
from tests.annotation.factories import make_chat


@pytest.fixture
def gold_items(project):
    for chat in range(30):
        make_chat(project, f"c{chat}", [
            (f"u{n % 3}", n * 40, f"is the cache {chat}-{n} warm?", {"gold": "extraction" if n % 2 else "no_extraction", "category": "x"})
            for n in range(10)
        ])
    items_preprocess(project=project)
    return Item.objects.filter(project=project)


def test_accuracy_is_roughly_honoured_and_labels_are_revisions(project, gold_items):
    result = annotators_simulate(project=project, accuracy=0.8, limit=200, annotators=2, seed=1)
    assert result.labelled == 200
    assert 0.12 <= result.wrong / 200 <= 0.28
    labelled = Item.objects.filter(project=project).exclude(label="")
    assert labelled.count() == 200
    assert labelled.filter(reviewed=True).count() == 200
    assert Annotation.objects.filter(kind=Annotation.SIMULATED).values("annotator").distinct().count() == 2
    for item in labelled[:20]:
        accept = item.current_annotation
        assert accept.kind == Annotation.REVIEW_ACCEPT and accept.previous.kind == Annotation.SIMULATED


def test_planted_noise_flips_exactly_that_many_labels(project, gold_items):
    result = annotators_simulate(project=project, accuracy=1.0, limit=100, noise=0.3, seed=2)
    assert len(result.planted) == 30
    assert result.wrong == 30
    flipped = Item.objects.filter(pk__in=result.planted)
    assert all(item.label != item.gold for item in flipped)


def test_a_rerun_labels_only_what_is_left_and_can_freeze_a_batch(project, gold_items):
    annotators_simulate(project=project, limit=250, seed=3)
    second = annotators_simulate(project=project, limit=250, seed=3, batch_name="rest")
    assert second.labelled == 50
    assert Annotation.objects.filter(kind=Annotation.SIMULATED).count() == 300
    batch = Batch.objects.get(pk=second.batch_id)
    assert batch.is_frozen and batch.train_count + batch.eval_count <= 50
