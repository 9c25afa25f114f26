"""A broker that restarts and keeps nothing loses no rung job: the database knows what is pending."""

import os
import shutil
import socket
import subprocess
import time

import pytest
from django.conf import settings

from annotation.models import Batch
from annotation.simulation import annotators_simulate
from config.celery import app
from tests.training.services.test_run_on_worker import labelled_project, register, wait_for  # noqa: F401
from tests.worker_process import worker_start, worker_stop
from training import services
from training.models import Prediction, Run, RungJob

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_redis(port: int) -> None:
    subprocess.run(
        [shutil.which("redis-server"), "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(port),
         "--save", "", "--appendonly", "no"],
        check=True, capture_output=True,
    )
    wait_for(lambda: subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).returncode == 0,
             10, "redis to start")


def stop_redis(port: int) -> None:
    subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], capture_output=True)


def start_worker(broker_url: str, log_path) -> subprocess.Popen:
    from django.db import connection

    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "CELERY_BROKER_URL": broker_url,
        "TRAINING_RECOVER_SECONDS": "2",
    }
    return worker_start(
        ["-Q", "default,gpu-large", "--pool", "solo", "--without-gossip", "--without-mingle", "--without-heartbeat",
         "-l", "info", "-n", f"restart-{time.time()}@%h", "--beat", "--schedule", str(log_path.parent / "celerybeat-schedule")],
        env=env, log=open(log_path, "ab"), cwd=settings.BASE_DIR,
    )


def test_jobs_lost_with_the_broker_are_sent_again_and_the_run_completes(labelled_project, tiny_ladder, tmp_path):
    port = free_port()
    start_redis(port)
    ladder = register(labelled_project, tiny_ladder, size_class="gpu-large", name="restart-ladder")
    ladder.projects.clear()
    result = annotators_simulate(project=labelled_project, accuracy=1.0, limit=160, seed=4, batch_name="fourth")
    # Sent to the suite's broker, where no worker of this test listens: as good as lost.
    run = services.run_request(
        batch=Batch.objects.get(pk=result.batch_id), ladder=ladder, hyperparameters={"epochs": 3, "batch_tokens": 256}
    )
    worker = start_worker(f"redis://127.0.0.1:{port}/0", tmp_path / "worker.log")
    try:
        # The worker's own recovery finds both jobs missing from its broker and sends them there.
        wait_for(lambda: RungJob.objects.filter(run=run, progress__phase="fine-tuning").exists(), 180,
                 "fine-tuning to start on the second broker")
        stop_redis(port)
        time.sleep(2)
        start_redis(port)
        run = wait_for(lambda: Run.objects.filter(pk=run.pk, status=Run.DONE).first(), 300, "the run to finish")
    finally:
        worker_stop(worker)
        stop_redis(port)
        with app.connection_for_write() as connection:
            connection.default_channel.queue_purge("gpu-large")
    for job in run.rung_jobs.all():
        assert job.status == RungJob.DONE, job.error
        assert Prediction.objects.filter(rung_job=job).count() == 2 * run.batch.eval_count
