"""The embedded SQLite default under several concurrent writers: no "database is locked"."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SETUP = """
import django; django.setup()
from django.core.management import call_command
from django.utils import timezone
from annotation import services
from annotation.models import Chat, Corpus, Item, Membership, Message
call_command("migrate", verbosity=0)
project = services.project_create(name="lock test")
corpus = Corpus.objects.create(project=project)
chat = Chat.objects.create(corpus=corpus, external_id="c")
now = timezone.now()
for n in range(200):
    m = Message.objects.create(corpus=corpus, chat=chat, external_id=str(n), sender="s", sent_at=now, text=f"q {n}?")
    Item.objects.create(project=project, message=m, chat=chat, text=m.text, sender="A", sent_at=now)
for n in range(4):
    user = services.user_get_or_create(username=f"w{n}", password="w-pass-1234")
    services.membership_set(project=project, user=user, role=Membership.ANNOTATOR)
"""

WORKER = """
import sys, django; django.setup()
from django.contrib.auth import get_user_model
from annotation import assignments, services
from annotation.models import Project
project = Project.objects.get(name="lock test")
user = get_user_model().objects.get(username=sys.argv[1])
for _ in range(40):
    lease = assignments.assignment_claim_next(project=project, annotator=user)
    services.item_annotate(item=lease.item, annotator=user, option="extraction")
print("ok")
"""

CHECK = """
import django; django.setup()
from django.db.models import Count
from annotation.models import Annotation
print(Annotation.objects.count(), Annotation.objects.values("item").annotate(n=Count("id")).filter(n__gt=1).count())
"""


@pytest.fixture
def embedded_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    env.update(LADDERLAB_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="config.settings")
    return env


def run(code: str, env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True)


def test_four_processes_label_at_once_without_lock_errors(embedded_env):
    assert run(SETUP, embedded_env).returncode == 0
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER, f"w{n}"], cwd=ROOT, env=embedded_env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n in range(4)
    ]
    outputs = [worker.communicate(timeout=300) for worker in workers]
    for (stdout, stderr), worker in zip(outputs, workers):
        assert worker.returncode == 0, stderr
        assert "database is locked" not in stderr
        assert stdout.strip() == "ok"
    total, doubles = run(CHECK, embedded_env).stdout.split()
    assert (int(total), int(doubles)) == (160, 0)
