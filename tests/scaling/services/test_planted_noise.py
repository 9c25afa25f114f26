"""Planted label noise is called out: the same ladder, judged against a clean and a noisy batch.

Labels come from the annotation simulator (`noise` flips a share of items to
the other class); the ladder's answers are drawn toward each item's hidden
gold label, as a ladder that learned the task would answer, so only the
labels differ between the two verdicts. Whether noise also flattens the
curve depends on how the rungs learn from it, which only real training
shows; what the labels alone decide is which items are queued as suspects.
"""

import pytest

from annotation.importers import messages_import
from annotation.models import Batch, Item
from annotation.preprocessing import items_preprocess
from annotation.sample_corpus import write_jsonl
from annotation.simulation import annotators_simulate
from scaling.models import Verdict
from scaling.services import verdict_compute
from tests.scaling.factories import make_ladder, make_run

pytestmark = pytest.mark.django_db

ACCURACIES = [0.7, 0.8, 0.9, 0.97]


@pytest.fixture
def gold_project(project, tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    write_jsonl(path=corpus, messages=6000, seed=11)
    messages_import(project=project, path=corpus)
    items_preprocess(project=project)
    project.eval_share = 0.5
    project.save(update_fields=["eval_share"])
    return project


def judge(project, batch_id: int, ladder, *, seed: int) -> Verdict:
    batch = Batch.objects.get(pk=batch_id)
    gold = dict(Item.objects.filter(batch_items__batch=batch).values_list("pk", "gold"))
    return verdict_compute(run_id=make_run(batch, ladder, accuracies=ACCURACIES, truth=gold, seed=seed).pk)


def test_a_noisy_batch_gets_its_planted_items_queued_and_the_clean_one_none(gold_project):
    ladder = make_ladder("ladder", len(ACCURACIES))
    clean = annotators_simulate(project=gold_project, accuracy=1.0, limit=160, seed=1, batch_name="clean")
    noisy = annotators_simulate(project=gold_project, accuracy=1.0, noise=0.3, limit=160, seed=2, batch_name="noisy")
    clean_verdict = judge(gold_project, clean.batch_id, ladder, seed=0)
    noisy_verdict = judge(gold_project, noisy.batch_id, ladder, seed=0)

    assert clean_verdict.kind == Verdict.MONOTONE and not clean_verdict.suspects
    assert noisy_verdict.tuned["f1"][-1] < clean_verdict.tuned["f1"][-1] - 0.1
    suspects = {suspect["item_id"] for suspect in noisy_verdict.suspects}
    planted_in_eval = set(noisy.planted) & set(
        Item.objects.filter(batch_items__batch_id=noisy.batch_id, batch_items__split="eval").values_list("pk", flat=True)
    )
    assert len(planted_in_eval) >= 10
    assert len(suspects & planted_in_eval) >= 0.5 * len(planted_in_eval)
    assert len(suspects - planted_in_eval) <= 0.1 * len(suspects)
