"""Two processes on the embedded SQLite default taking turns: a long writer and an annotator.

The writer (an import, preprocessing) hands the annotator a turn after each of
its chunks by touching `go-N` in a folder and waits for `done-N`; the
annotator, waiting at most a second for the write lock, saves one label a
turn. A writer that held its transaction across chunks makes the label fail
with "database is locked". Tests run each script with `python`.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

ANNOTATOR = """
import sys, time, django; django.setup()
from pathlib import Path
from django.contrib.auth import get_user_model
from django.db import connection
from annotation import assignments, services
from annotation.models import Project
turns = Path(sys.argv[1])
project = Project.objects.get(name="lock test")
user = get_user_model().objects.get(username="ann")
connection.ensure_connection()
connection.cursor().execute("PRAGMA busy_timeout=1000")
labelled = 0
try:
    while not (turns / "end").exists():
        if not (turns / f"go-{labelled + 1}").exists():
            time.sleep(0.02)
            continue
        lease = assignments.assignment_claim_next(project=project, annotator=user)
        services.item_annotate(item=lease.item, annotator=user, option="extraction")
        labelled += 1
        (turns / f"done-{labelled}").touch()
finally:
    # Also after an error, so the writer is not left waiting for its turns.
    (turns / "gone").touch()
print("labelled", labelled)
"""

# The writer's side, put before its script: call after each chunk with the turn's number.
WAIT_FOR_TURN = """
import time

def wait_for_turn(turns, number):
    (turns / f"go-{number}").touch()
    deadline = time.monotonic() + 60
    while not (turns / f"done-{number}").exists() and not (turns / "gone").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
"""


def embedded_env(tmp_path) -> dict:
    """The environment of the embedded default (SQLite, filesystem broker) in a folder of the test's."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    env.update(LADDERLAB_VAR_DIR=str(tmp_path / "var"), DJANGO_SETTINGS_MODULE="config.settings")
    return env


def python(code: str, env, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(process: subprocess.Popen) -> tuple[str, str]:
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    return stdout.strip(), stderr
