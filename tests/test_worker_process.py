"""What the test run starts dies with it, even when it is killed by SIGKILL: the Celery
worker with its embedded beat (the suite's fixture), and torchrun with its trainers
(a sharded rung job's, whose parent is the worker)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's parent-death signal")

# Starts a worker as the suite's fixture does (with its beat), says its pid, and waits to be killed.
WORKER_PARENT = """
import os, sys, time
from tests.worker_process import worker_start
with open(sys.argv[1], "ab") as log:
    worker = worker_start(
        ["-Q", sys.argv[2], "--pool", "solo", "-l", "info", "--without-gossip", "--without-mingle", "--without-heartbeat",
         "-n", sys.argv[2] + "@%h", "--beat", "--schedule", sys.argv[3]],
        env=os.environ, log=log, cwd=os.getcwd(),
    )
print(worker.pid, flush=True)
time.sleep(600)
"""

# Starts torchrun as a sharded rung job does, on trainers that do what training.ml.distributed.main does
# before training (and then sleep), says torchrun's pid, and waits to be killed.
TORCHRUN_PARENT = """
import sys, time
from training.ml.distributed import torchrun_start
TRAINER = "from training.ml.lifetime import die_with_parent; die_with_parent(); import time; time.sleep(600)"
with open(sys.argv[1], "ab") as log:
    torchrun = torchrun_start(["--standalone", "--nproc_per_node=2", "--no-python", sys.executable, "-c", TRAINER], log=log)
print(torchrun.pid, flush=True)
time.sleep(600)
"""


def is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in {"Z", "X"}  # a zombie has stopped; only its exit status is left to collect


def children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def descendants(pid: int) -> set[int]:
    found = children(pid)
    for child in list(found):
        found |= descendants(child)
    return found


def wait_until(predicate, seconds: float):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return predicate()


def kill_parent_and_expect_gone(parent: subprocess.Popen, pids: set[int]) -> None:
    try:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert wait_until(lambda: not any(map(is_running, pids)), 10), (
            f"outlived their parent: {sorted(pid for pid in pids if is_running(pid))}"
        )
    finally:
        for pid in pids:
            if is_running(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_worker_and_its_beat_die_when_the_process_that_started_them_is_killed(tmp_path):
    log = tmp_path / "worker.log"
    queue = f"orphan-check-{os.getpid()}"
    parent = subprocess.Popen(
        [sys.executable, "-c", WORKER_PARENT, str(log), queue, str(tmp_path / "celerybeat-schedule")],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    worker_pid = int(parent.stdout.readline())
    ready = wait_until(lambda: log.exists() and b" ready." in log.read_bytes(), 90)
    beat = wait_until(lambda: children(worker_pid), 10)
    kill_parent_and_expect_gone(parent, {worker_pid} | descendants(worker_pid))
    assert ready and beat, f"the worker did not start with its beat:\n{log.read_text()}"


def test_torchrun_and_its_trainers_die_with_the_worker_that_started_them(tmp_path):
    log = tmp_path / "torchrun.log"
    parent = subprocess.Popen([sys.executable, "-c", TORCHRUN_PARENT, str(log)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    torchrun_pid = int(parent.stdout.readline())
    trainers = wait_until(lambda: len(descendants(torchrun_pid)) >= 2 and descendants(torchrun_pid), 60)
    kill_parent_and_expect_gone(parent, {torchrun_pid} | descendants(torchrun_pid))
    assert trainers, f"torchrun started no trainers:\n{log.read_text()}"
