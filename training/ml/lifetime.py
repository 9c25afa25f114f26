"""Processes that die with the process that started them.

A worker killed by SIGKILL (the OOM killer, a supervisor's last resort, a
killed test run) runs no cleanup code, and what it started would live on:
torchrun and its trainers keep a GPU busy for a job nobody records, an
embedded beat keeps scheduling beside the worker that replaces it. On Linux
the kernel sends each such child a signal when its parent dies
(PR_SET_PDEATHSIG); elsewhere these calls do nothing.

The parent is the thread that started the child: start children from a
thread that lives as long as they should (a task's own thread does).
"""

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def _prctl():
    if not sys.platform.startswith("linux"):
        return None
    return ctypes.CDLL(None, use_errno=True).prctl


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Have the kernel send `sig` to this process when its parent dies; exit now if it already has."""
    prctl = _prctl()
    if prctl is None:
        return
    parent_pid = os.getppid()
    if prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    # The parent may have died between reading its pid and the call (its orphan is adopted elsewhere).
    if os.getppid() != parent_pid:
        os._exit(1)


def dying_with_this_process(sig: int = signal.SIGKILL):
    """A `preexec_fn` for subprocess.Popen: the child gets `sig` when the calling process dies.

    None where the platform has no such signal, which Popen takes as no preexec_fn.
    """
    prctl = _prctl()  # looked up before the fork: between fork and exec the child only makes syscalls
    if prctl is None:
        return None
    parent_pid = os.getpid()

    def preexec() -> None:
        if prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        # This process may have died between the fork and the prctl call.
        if os.getppid() != parent_pid:
            os._exit(1)

    return preexec
