"""From a frozen batch to per-rung metrics and a verdict, on a real worker."""

import os
import signal
import subprocess
import time

import pytest
from django.conf import settings

from annotation.importers import messages_import
from annotation.models import Batch
from annotation.preprocessing import items_preprocess
from annotation.sample_corpus import write_jsonl
from annotation.simulation import annotators_simulate
from scaling.models import Verdict
from tests.worker_process import wait_for, worker_start, worker_stop
from training import services
from training.models import Prediction, RungJob, Run

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FAST = {"r": 8, "alpha": 16, "lr": 5e-3, "batch_tokens": 4096, "modules_to_save": ["lm_head"]}



@pytest.fixture
def labelled_project(project, tiny_ladder, tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    write_jsonl(path=corpus, messages=4000, seed=7)
    messages_import(project=project, path=corpus)
    items_preprocess(project=project)
    return project


def register(project, tiny_ladder, *, size_class="cpu", name="tiny"):
    rungs = [{**rung, "size_class": size_class, "hyperparameters": FAST} for rung in tiny_ladder]
    return services.ladder_register(name=name, rungs=rungs, projects=[project])


def test_a_frozen_batch_runs_the_ladder_to_metrics_and_a_verdict(celery_worker_process, labelled_project, tiny_ladder):
    ladder = register(labelled_project, tiny_ladder)
    result = annotators_simulate(project=labelled_project, accuracy=1.0, limit=160, seed=1, batch_name="first")
    batch = Batch.objects.get(pk=result.batch_id)
    run = Run.objects.get(batch=batch, ladder=ladder)
    assert services.run_request(batch=batch, ladder=ladder).pk == run.pk  # same request, same run
    run = wait_for(lambda: Run.objects.filter(pk=run.pk, status=Run.DONE).first(), 240, "the run to finish")
    for job in run.rung_jobs.all():
        assert job.status == RungJob.DONE, job.error
        assert {"base", "tuned"} <= set(job.metrics)
        assert 0 <= job.metrics["tuned"]["f1"] <= 1
        assert job.loss_curve and job.tokens_per_second > 0
        assert Prediction.objects.filter(rung_job=job).count() == 2 * batch.eval_count
        # Training dynamics of every train item, from the fine-tune's own forward passes (one epoch: seen once).
        assert job.dynamics.count() == batch.train_count
        assert set(job.dynamics.values_list("seen", flat=True)) == {1}
    verdict = wait_for(lambda: Verdict.objects.filter(run=run).first(), 60, "the verdict")
    assert verdict.provenance["batch"] == batch.content_hash
    assert Run.objects.filter(batch=batch).count() == 1
    assert_adapters_reproduce_predictions(run)
    assert_a_label_check_judges_every_train_item_out_of_fold(run)


def assert_a_label_check_judges_every_train_item_out_of_fold(run):
    """The fold jobs train on the worker without their fold and score it; the full fine-tunes are reused."""
    from training.examples import train_folds

    checking = services.label_check_request(run=run, folds=2, epochs_factor=1.0)
    checking = wait_for(lambda: Run.objects.filter(pk=checking.pk, status=Run.DONE).first(), 240, "the label check")
    full = {job.rung_id: job for job in run.rung_jobs.all()}
    for job in checking.rung_jobs.full():
        assert job.reused_from_id == full[job.rung_id].pk and job.adapter_path == full[job.rung_id].adapter_path
        assert job.dynamics.count() == full[job.rung_id].dynamics.count()
    folds = train_folds(batch=run.batch, folds=2)
    for job in checking.rung_jobs.folds():
        assert job.status == RungJob.DONE, job.error
        scored = set(Prediction.objects.filter(rung_job=job, stage=Prediction.TUNED).values_list("item_id", flat=True))
        assert scored == {item for item, fold in folds.items() if fold == job.fold}
        assert not Prediction.objects.filter(rung_job=job, stage=Prediction.BASE).exists()
    verdict = wait_for(lambda: Verdict.objects.filter(run=checking).first(), 60, "the label check's verdict")
    scope = verdict.diagnostics["label_check"]["scope"]
    assert scope["items"] == run.batch.batch_items.count() and len(scope["judges"]) == 2


def assert_adapters_reproduce_predictions(run):
    """Each saved adapter, loaded again here, picks what the worker recorded."""
    from training.examples import eval_examples
    from training.ml.evaluate import score_choices
    from training.ml.ladder import load_model

    examples, option_values, _ = eval_examples(batch=run.batch)
    for job in run.rung_jobs.select_related("rung"):
        model, tokenizer = load_model(job.rung.checkpoint_path, adapter_dir=job.adapter_path)
        reloaded = {
            int(score.key): option_values[score.key][score.choice_index]
            for score in score_choices(model=model, tokenizer=tokenizer, examples=examples)
        }
        recorded = dict(
            Prediction.objects.filter(rung_job=job, stage=Prediction.TUNED).values_list("item_id", "option")
        )
        assert reloaded == recorded, job.rung.name


def test_cancel_stops_a_run(celery_worker_process, labelled_project, tiny_ladder):
    ladder = register(labelled_project, tiny_ladder)
    ladder.projects.clear()
    result = annotators_simulate(project=labelled_project, accuracy=1.0, limit=160, seed=2, batch_name="second")
    run = services.run_request(batch=Batch.objects.get(pk=result.batch_id), ladder=ladder, hyperparameters={"epochs": 3})
    services.run_cancel(run=run)
    run = wait_for(lambda: Run.objects.filter(pk=run.pk, status=Run.CANCELLED).first(), 120, "the run to cancel")
    assert all(job.status == RungJob.CANCELLED for job in run.rung_jobs.all())


def start_worker(queue: str, log_path) -> subprocess.Popen:
    from django.db import connection

    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "TRAINING_STALE_SECONDS": "3",
    }
    return worker_start(
        ["-Q", queue, "--pool", "solo", "--without-gossip", "--without-mingle", "--without-heartbeat",
         "-l", "info", "-n", f"kill-{time.time()}@%h"],
        env=env, log=open(log_path, "ab"), cwd=settings.BASE_DIR,
    )


def test_a_killed_worker_s_job_completes_on_a_new_worker_without_duplicates(labelled_project, tiny_ladder, tmp_path):
    ladder = register(labelled_project, tiny_ladder, size_class="gpu-large", name="kill-ladder")
    ladder.projects.clear()
    result = annotators_simulate(project=labelled_project, accuracy=1.0, limit=160, seed=3, batch_name="third")
    # One example per step, so fine-tuning lasts long enough to be killed in the middle.
    slow = {"epochs": 3, "batch_tokens": 256}
    run = services.run_request(batch=Batch.objects.get(pk=result.batch_id), ladder=ladder, hyperparameters=slow)
    log = tmp_path / "worker.log"
    first = start_worker("gpu-large", log)
    second = None
    try:
        wait_for(
            lambda: RungJob.objects.filter(run=run, progress__phase="fine-tuning").exists(), 180,
            "fine-tuning to start",
        )
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed = RungJob.objects.get(run=run, status=RungJob.RUNNING)
        time.sleep(4)  # let the heartbeat go stale
        second = start_worker("gpu-large", log)
        run = wait_for(lambda: Run.objects.filter(pk=run.pk, status=Run.DONE).first(), 300, "the run to finish")
    finally:
        for worker in (first, second):
            if worker is not None:
                worker_stop(worker)
    killed.refresh_from_db()
    assert killed.status == RungJob.DONE and killed.attempts == 2
    for job in run.rung_jobs.all():
        assert Prediction.objects.filter(rung_job=job).count() == 2 * run.batch.eval_count
