"""A worker killed in the middle of an import, on a real broker: the job runs again and ends.

The job reads a named pipe, so it stays in the middle of its import, blocked
on the read, until the test chooses to feed it: no timing decides the order.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from django.conf import settings
from django.db import connection

from annotation.models import ImportJob, Message
from tests.annotation.importers.conftest import jsonl, message
from tests.worker_process import wait_for, worker_start, worker_stop

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]



@pytest.fixture
def private_broker():
    """A Redis of this test's own, so the session's worker cannot take its messages."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    subprocess.run(
        [shutil.which("redis-server"), "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(port),
         "--save", "", "--appendonly", "no"],
        check=True, capture_output=True,
    )
    ping = ["redis-cli", "-p", str(port), "ping"]
    wait_for(lambda: subprocess.run(ping, capture_output=True).returncode == 0, 10, "redis to start")
    yield f"redis://127.0.0.1:{port}/0"
    subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], capture_output=True)


@pytest.fixture
def start_worker(private_broker, tmp_path):
    """Start a worker on the private broker; every one started is stopped at the end."""
    started = []
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
                        f"{db['PORT'] or 5432}/{db['NAME']}",
        "CELERY_BROKER_URL": private_broker,
        "IMPORT_STALE_SECONDS": "3",
        "IMPORT_RECOVER_SECONDS": "1",
    }

    def start() -> subprocess.Popen:
        n = len(started)
        worker = worker_start(
            ["-Q", "default", "--pool", "solo", "--without-gossip", "--without-mingle", "--without-heartbeat",
             "-l", "info", "-n", f"killed-{n}-{time.time()}@%h", "--beat", "--schedule", str(tmp_path / f"beat-{n}")],
            env=env, log=open(tmp_path / f"worker-{n}.log", "ab"), cwd=settings.BASE_DIR,
        )
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker_stop(worker)


def crash(worker: subprocess.Popen) -> None:
    """Kill the worker and its embedded beat at once, as a machine that dies would.

    Killing the worker alone would leave its beat process behind, sending
    recovery tasks every second to the shared broker for the rest of the suite.
    """
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()


def feed(pipe, content: str) -> threading.Thread:
    """Write `content` into the pipe once a reader opens it."""

    def write():
        with open(pipe, "w") as out:
            out.write(content)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    return writer


def running_attempt(job_id: int, attempt: int):
    return ImportJob.objects.filter(pk=job_id, status=ImportJob.RUNNING, attempts=attempt).first()


def test_a_job_whose_worker_was_killed_runs_again_and_completes(project, tmp_path, start_worker):
    pipe = tmp_path / "messages.jsonl"
    os.mkfifo(pipe)
    job = ImportJob.objects.create(project=project, file_name=pipe.name, path=str(pipe), format="jsonl")

    first = start_worker()
    # The worker's own start-up recovery finds the job that was never sent.
    wait_for(lambda: running_attempt(job.pk, 1), 60, "the first attempt to start")
    crash(first)

    start_worker()
    wait_for(lambda: running_attempt(job.pk, 2), 60, "recovery to start a second attempt")
    feed(pipe, jsonl(*(message(n) for n in range(50)))).join(timeout=60)

    job = wait_for(lambda: ImportJob.objects.filter(pk=job.pk, status=ImportJob.DONE).first(), 60,
                   "the second attempt to finish")
    assert (job.attempts, job.messages_added, job.error) == (2, 50, "")
    assert Message.objects.count() == 50


def test_a_job_that_kills_every_worker_fails_at_its_attempt_limit(project, tmp_path, start_worker):
    pipe = tmp_path / "messages.jsonl"
    os.mkfifo(pipe)
    job = ImportJob.objects.create(
        project=project, file_name=pipe.name, path=str(pipe), format="jsonl", max_attempts=2
    )
    for attempt in (1, 2):
        worker = start_worker()
        wait_for(lambda n=attempt: running_attempt(job.pk, n), 60, f"attempt {attempt} to start")
        crash(worker)

    survivor = start_worker()
    job = wait_for(lambda: ImportJob.objects.filter(pk=job.pk, status=ImportJob.FAILED).first(), 60,
                   "recovery to give up")
    assert job.error == (
        "gave up after 2 attempts; the last: attempt 2: the worker stopped (no heartbeat) "
        "before the import ended"
    )
    assert survivor.poll() is None
