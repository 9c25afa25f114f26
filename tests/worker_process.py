"""Celery workers the tests start, tied to the life of the process that starts them.

A worker left behind by a killed test run keeps training and holds a core for
minutes. Each worker gets its own process group, which `worker_stop` signals
as a whole (the worker and anything it started), and on Linux the kernel
kills it when its parent dies, even by SIGKILL, which no cleanup code sees;
what the worker starts (its embedded beat, torchrun) dies with the worker in
turn (`training.ml.lifetime`).
"""

import os
import signal
import subprocess
import sys
import time
from contextlib import suppress

from training.ml.lifetime import dying_with_this_process


def worker_start(arguments: list[str], *, env: dict, log, cwd) -> subprocess.Popen:
    """`celery -A config worker ARGUMENTS`, in its own process group, dying with this process."""
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", *arguments],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
        start_new_session=True, preexec_fn=dying_with_this_process(),
    )


def worker_stop(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM to the worker's process group, SIGKILL to what is left of it after `timeout` seconds."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    # Children the worker started (torchrun) may outlive it in its group.
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def wait_for(predicate, seconds: float, what: str):
    """Poll until `predicate()` is truthy and return its value; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")
