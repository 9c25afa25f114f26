"""A job that loads for longer than the stale limit is still its first worker's, to the end."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection

from annotation.models import Batch
from annotation.simulation import annotators_simulate
from tests.training.services.test_run_on_worker import labelled_project, register  # noqa: F401
from training import services
from training.models import RungJob

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_job_slower_to_load_than_the_stale_limit_is_not_taken_for_lost(labelled_project, tiny_ladder, monkeypatch):
    from training.ml import ladder as ml_ladder
    from training.services import jobs

    stale_limit = timedelta(seconds=1)
    monkeypatch.setattr(jobs, "STALE_HEARTBEAT", stale_limit)
    # A queue no worker of the suite listens to: this test runs the job itself.
    ladder = register(labelled_project, tiny_ladder, size_class="gpu-large", name="slow-load")
    ladder.projects.clear()
    result = annotators_simulate(project=labelled_project, accuracy=1.0, limit=160, seed=8, batch_name="slow")
    run = services.run_request(batch=Batch.objects.get(pk=result.batch_id), ladder=ladder)
    job = run.rung_jobs.order_by("rung__order").first()
    loading, release = threading.Event(), threading.Event()
    real_load = ml_ladder.load_model

    def slow_load(*args, **kwargs):
        loading.set()
        release.wait(120)
        return real_load(*args, **kwargs)

    def work():
        try:
            services.rung_job_execute(job_id=job.pk)
        finally:
            connection.close()

    monkeypatch.setattr(ml_ladder, "load_model", slow_load)
    worker = threading.Thread(target=work)
    worker.start()
    try:
        assert loading.wait(120), "the job never reached its checkpoint load"
        time.sleep(4 * stale_limit.total_seconds())  # the load outlasts the stale limit several times over
        assert job.pk not in services.jobs_recover(stale_after=stale_limit)
        assert services.rung_job_claim(job_id=job.pk) is None  # a second worker leaves it alone
    finally:
        release.set()
        worker.join()
    job.refresh_from_db()
    assert job.status == RungJob.DONE, job.error
    assert job.attempts == 1
    assert not list(services.adapter_dir_for(job).parent.glob("*.partial-*"))
