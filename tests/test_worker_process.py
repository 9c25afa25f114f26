"""A Celery worker started by the tests dies with the test run, even one killed by SIGKILL."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Starts a worker as the suite's fixture does, says its pid, and waits to be killed.
PARENT = """
import os, sys, time
from tests.worker_process import worker_start
with open(sys.argv[1], "ab") as log:
    worker = worker_start(
        ["-Q", sys.argv[2], "--pool", "solo", "-l", "info", "--without-gossip", "--without-mingle", "--without-heartbeat",
         "-n", sys.argv[2] + "@%h"],
        env=os.environ, log=log, cwd=os.getcwd(),
    )
print(worker.pid, flush=True)
time.sleep(600)
"""


def is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in {"Z", "X"}  # a zombie has stopped; only its exit status is left to collect


def wait_until(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def test_a_worker_dies_when_the_process_that_started_it_is_killed(tmp_path):
    log = tmp_path / "worker.log"
    queue = f"orphan-check-{os.getpid()}"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(log), queue], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    worker_pid = int(parent.stdout.readline())
    try:
        assert wait_until(lambda: log.exists() and b" ready." in log.read_bytes(), 90), log.read_text()
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert wait_until(lambda: not is_running(worker_pid), 30), "the worker outlived its parent"
    finally:
        if is_running(worker_pid):
            os.kill(worker_pid, signal.SIGKILL)
