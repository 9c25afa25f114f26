"""Clean labels against 30% planted label noise, on real training through the worker.

Two projects import the same corpus, so their batches hold the same items in
the same train/eval split; simulated annotators label one correctly and plant
30% label noise in the other. Each freeze starts a run of the demo ladder
(three rungs, built here, fixed seeds) on the test worker, and the verdict
task judges it. On clean labels tuned F1 rises with size; noise lowers every
rung and the ladder stops rising, so the verdicts differ: "monotone" against
"flat" or "break". Which of the two depends on the draw of items: with
2,000 items a batch, F1 0.75 / 0.93 / 0.97 against 0.49 / 0.50 / 0.45 (flat)
on one draw, 0.79 / 0.99 / 0.99 against 0.08 / 0.71 / 0.59 (break: the
smallest rung answers "no" to nearly everything) on another; with the 1,600
items below, 0.60 / 0.97 / 0.98 against 0.44 / 0.57 / 0.33 (flat), twice.

The slowest test of the suite (about 13 minutes alone on two cores): the
ladder only tells clean from noisy labels once its rungs have learned the
task, which takes this many examples.
"""

import time

import pytest

from annotation import services as annotation_services
from annotation.importers import messages_import
from annotation.models import Batch, Project
from annotation.preprocessing import items_preprocess
from annotation.sample_corpus import write_jsonl
from annotation.simulation import annotators_simulate
from scaling.models import Verdict
from training.examples import pretraining_texts
from training.ml.ladder import build_demo_ladder
from training.models import Run, RungJob
from training.services import ladder_register

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SIZES = ["cpu-xs", "cpu-s", "cpu-m"]
ITEMS_PER_BATCH = 1600


def labelled_projects(corpus) -> dict:
    projects = {}
    for name in ("clean", "noisy"):
        project = annotation_services.project_create(name=name)
        project.eval_share = 0.15
        # The noisy verdict would start a label check; its fold jobs would outlast this test.
        project.label_check = Project.LABEL_CHECK_ON_REQUEST
        project.save(update_fields=["eval_share", "label_check"])
        messages_import(project=project, path=corpus)
        items_preprocess(project=project)
        projects[name] = project
    return projects


def verdict_when_done(project, seconds: float) -> Verdict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        verdict = Verdict.objects.filter(run__batch__project=project, run__status=Run.DONE).first()
        if verdict is not None:
            return verdict
        failed = RungJob.objects.filter(run__batch__project=project, status=RungJob.FAILED).first()
        assert failed is None, f"{project.name}: rung {failed.rung.name} failed: {failed.error}"
        time.sleep(2)
    raise AssertionError(f"no verdict for {project.name} after {seconds} s")


def test_planted_label_noise_lowers_the_ladder_and_changes_its_verdict(celery_worker_process, tmp_path):
    write_jsonl(path=tmp_path / "corpus.jsonl", messages=58_000, seed=0)
    projects = labelled_projects(tmp_path / "corpus.jsonl")
    rungs = build_demo_ladder(
        texts=pretraining_texts(project=projects["clean"]), output_dir=tmp_path / "ladder", sizes=SIZES, seed=0
    )
    ladder_register(name="demo", rungs=rungs, projects=projects.values())
    # Each freeze starts the project's run on the worker.
    annotators_simulate(project=projects["clean"], accuracy=1.0, limit=ITEMS_PER_BATCH, seed=1, batch_name="clean")
    noisy = annotators_simulate(
        project=projects["noisy"], accuracy=1.0, noise=0.3, limit=ITEMS_PER_BATCH, seed=1, batch_name="noisy"
    )
    clean_verdict = verdict_when_done(projects["clean"], 1800)
    noisy_verdict = verdict_when_done(projects["noisy"], 1200)

    clean_f1, noisy_f1 = clean_verdict.tuned["f1"], noisy_verdict.tuned["f1"]
    summary = (
        f"clean F1 {clean_f1} ({clean_verdict.kind}, {len(clean_verdict.suspects)} suspects), "
        f"noisy F1 {noisy_f1} ({noisy_verdict.kind}, {len(noisy_verdict.suspects)} suspects)"
    )
    clean_batch, noisy_batch = (Batch.objects.get(project=projects[name], name=name) for name in ("clean", "noisy"))
    assert clean_batch.eval_count == noisy_batch.eval_count >= 200
    # Clean: F1 rises with size, and the verdict says so.
    assert clean_verdict.kind == Verdict.MONOTONE, summary
    assert clean_f1[-1] - clean_f1[0] >= 0.1, summary
    # Noise lowers every rung and the ladder stops rising with size; the verdict
    # tells the lead where to look: the data for a flat ladder, the falling rung for a break.
    assert all(noisy < clean - 0.1 for noisy, clean in zip(noisy_f1, clean_f1)), summary
    assert noisy_verdict.kind in (Verdict.FLAT, Verdict.BREAK), summary
    if noisy_verdict.kind == Verdict.FLAT:
        assert noisy_verdict.tuned["fitted_gain"] < clean_verdict.tuned["fitted_gain"] / 4, summary
        assert "likely the data" in noisy_verdict.message
    else:
        breaks = noisy_verdict.tuned["breaks"]
        assert breaks, summary
        for found in breaks:
            named = (found["smaller_name"], found["larger_name"])
            assert any(name in noisy_verdict.message for name in named), noisy_verdict.message
        assert "learning rate" in noisy_verdict.message, noisy_verdict.message
    # What the ladder queues for review is mostly the planted items.
    suspects = {suspect["item_id"] for suspect in noisy_verdict.suspects}
    assert len(suspects & set(noisy.planted)) >= 0.8 * len(suspects), summary
    assert len(clean_verdict.suspects) <= 0.02 * clean_batch.eval_count, summary
