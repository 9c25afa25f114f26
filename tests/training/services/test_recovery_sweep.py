"""The recovery sweep finishes runs whose on-commit refresh was lost, and queues missing verdicts."""

from datetime import timedelta

import pytest
from django.utils import timezone

from scaling import services as scaling_services
from scaling import tasks as scaling_tasks
from scaling.models import Verdict
from tests.scaling.factories import make_batch, make_labelled_items, make_ladder, make_run
from training import services
from training.models import Run

pytestmark = pytest.mark.django_db


def test_one_sweep_finishes_a_run_left_running_and_queues_the_missing_verdicts(
    project, annotator, monkeypatch, django_capture_on_commit_callbacks
):
    labels = make_labelled_items(project, annotator, 20)
    ladder = make_ladder("swept", 2)
    # Every job done, but the run's status refresh never ran (a worker died after its commit).
    left_running = make_run(make_batch(project, labels, name="left-running"), ladder, accuracies=[0.6, 0.9])
    Run.objects.filter(pk=left_running.pk).update(status=Run.RUNNING, finished_at=None)
    # Done long ago, but its verdict task was never queued.
    unjudged = make_run(make_batch(project, labels, name="unjudged"), ladder, accuracies=[0.6, 0.9], seed=1)
    Run.objects.filter(pk=unjudged.pk).update(finished_at=timezone.now() - timedelta(hours=1))
    judged = make_run(make_batch(project, labels, name="judged"), ladder, accuracies=[0.6, 0.9], seed=2)
    Run.objects.filter(pk=judged.pk).update(finished_at=timezone.now() - timedelta(hours=1))
    Verdict.objects.create(run=judged, kind=Verdict.MONOTONE)
    queued = []
    monkeypatch.setattr(scaling_tasks.verdict_compute_task, "delay", queued.append)
    monkeypatch.setattr(services.recovery, "queued_messages", lambda queue: 0)

    with django_capture_on_commit_callbacks(execute=True):
        services.jobs_recover()

    left_running.refresh_from_db()
    assert left_running.status == Run.DONE and left_running.finished_at is not None
    assert sorted(queued) == sorted([left_running.pk, unjudged.pk])


def test_a_verdict_that_fails_is_recorded_and_queued_again_only_after_a_growing_wait_then_no_more(
    project, annotator, monkeypatch
):
    labels = make_labelled_items(project, annotator, 20)
    run = make_run(make_batch(project, labels, name="unlucky"), make_ladder("l", 2), accuracies=[0.6, 0.9])
    Run.objects.filter(pk=run.pk).update(finished_at=timezone.now() - timedelta(hours=1))

    def bad_data(**kwargs):
        raise ValueError("no predictions to read")

    monkeypatch.setattr(scaling_services, "run_eval_arrays", bad_data)
    monkeypatch.setattr(services.recovery, "queued_messages", lambda queue: 0)
    queued = []
    monkeypatch.setattr(scaling_tasks.verdict_compute_task, "delay", queued.append)
    waits = []
    for attempt in range(1, scaling_services.VERDICT_ATTEMPTS + 1):
        queued.clear()
        services.jobs_recover()
        assert queued == [run.pk]
        with pytest.raises(ValueError):
            scaling_tasks.verdict_compute_task(run.pk)
        run.refresh_from_db()
        assert (run.verdict_failures, run.verdict_error) == (attempt, "ValueError: no predictions to read")
        queued.clear()
        services.jobs_recover()
        assert queued == []
        if run.verdict_retry_at is not None:
            waits.append(run.verdict_retry_at - timezone.now())
            # The wait is over.
            Run.objects.filter(pk=run.pk).update(verdict_retry_at=timezone.now() - timedelta(seconds=1))
    assert len(waits) == scaling_services.VERDICT_ATTEMPTS - 1
    assert all(later > 1.9 * earlier for earlier, later in zip(waits, waits[1:]))
    assert run.verdict_retry_at is None
    Run.objects.filter(pk=run.pk).update(finished_at=timezone.now() - timedelta(days=30))
    services.jobs_recover()
    assert queued == [] and not Verdict.objects.filter(run=run).exists()
