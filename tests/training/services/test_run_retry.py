"""Retry and cancel are the run's own rules: a done run is not retried, an ended one not cancelled."""

import pytest

from tests.scaling.factories import make_batch, make_labelled_items, make_ladder, make_run
from training import services
from training.models import InvalidTransition, Run, RungJob

pytestmark = pytest.mark.django_db


@pytest.fixture
def done_run(project, annotator):
    labels = make_labelled_items(project, annotator, 10)
    return make_run(make_batch(project, labels, name="done"), make_ladder("l", 2), accuracies=[0.6, 0.9])


def test_a_done_run_is_not_retried(done_run):
    refusal = f"run {done_run.pk} is done; only a failed or cancelled run is retried"
    with pytest.raises(InvalidTransition, match=refusal):
        services.run_retry(run=done_run)
    done_run.refresh_from_db()
    assert done_run.status == Run.DONE and done_run.finished_at is not None


def test_an_ended_run_is_not_cancelled(done_run):
    with pytest.raises(InvalidTransition, match="has already ended"):
        services.run_cancel(run=done_run)


def test_a_retried_job_counts_its_attempts_on(project, annotator, django_capture_on_commit_callbacks):
    """Attempt numbers never repeat, so a worker of an attempt before the retry cannot pass for a new one."""
    labels = make_labelled_items(project, annotator, 10)
    run = make_run(make_batch(project, labels, name="f"), make_ladder("l", 2), accuracies=[0.6, 0.9], failed=[1])
    RungJob.objects.filter(run=run, status=RungJob.FAILED).update(attempts=3)
    Run.objects.filter(pk=run.pk).update(status=Run.FAILED)
    with django_capture_on_commit_callbacks():
        services.run_retry(run=run)
    job = run.rung_jobs.get(rung__order=1)
    assert job.status == RungJob.PENDING and job.attempts == 3 and job.max_attempts == 6
    claimed = services.rung_job_claim(job_id=job.pk)
    assert claimed.attempts == 4
