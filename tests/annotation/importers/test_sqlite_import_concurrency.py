"""On the embedded SQLite default a long import leaves the write lock free between chunks.

An importer process and an annotator process take turns: after each chunk
the importer waits until the annotator has saved a label. The annotator
waits at most a second for the lock, so a label can only be saved if no
import transaction is holding it; one held for the whole import (the old
behaviour) makes it fail with "database is locked".
"""

import math

from annotation.importers import services as import_services
from tests.annotation.importers.conftest import jsonl, message
from tests.annotation.sqlite_turns import ANNOTATOR, WAIT_FOR_TURN, embedded_env, finished, python

MESSAGES = 3000
CHUNK_ROWS = 500
# The long import: a 58k-message log at the importer's own chunk size.
LONG_MESSAGES = 58_000

SETUP = """
import sys, django; django.setup()
from django.core.management import call_command
from django.utils import timezone
from annotation import services
from annotation.models import Chat, Corpus, ImportJob, Item, Membership, Message
call_command("migrate", verbosity=0)
project = services.project_create(name="lock test")
corpus = Corpus.objects.create(project=project, name="labelled")
chat = Chat.objects.create(corpus=corpus, external_id="c")
now = timezone.now()
for n in range(20):
    m = Message.objects.create(corpus=corpus, chat=chat, external_id=str(n), sender="s", sent_at=now, text=f"q {n}?")
    Item.objects.create(project=project, message=m, chat=chat, text=m.text, sender="A", sent_at=now)
user = services.user_get_or_create(username="ann", password="ann-pass-1234")
services.membership_set(project=project, user=user, role=Membership.ANNOTATOR)
print(ImportJob.objects.create(project=project, corpus_name="incoming", file_name="big.jsonl", path=sys.argv[1]).pk)
"""

# After each chunk but the last: hand the turn to the annotator, wait for it back.
IMPORTER = """
import sys, time, django; django.setup()
from pathlib import Path
from annotation.importers import import_job_execute
from annotation.importers import services as import_services
from annotation.models import ImportJob
import_services.CHUNK_ROWS = int(sys.argv[2])
turns = Path(sys.argv[3])
chunks = []

def take_turns(done, total):
    if done == total:
        return
    chunks.append(done)
    wait_for_turn(turns, len(chunks))

job = ImportJob.objects.get(pk=int(sys.argv[1]))
import_job_execute(job=job, progress=take_turns)
(turns / "end").touch()
print(job.status, job.messages_added, len(chunks), job.error)
"""

CHECK = """
import django; django.setup()
from annotation.models import Annotation, Chat, Message
print(Message.objects.filter(corpus__name="incoming").count(), Chat.objects.filter(corpus__name="incoming").count(), Annotation.objects.count())
"""


def import_beside_an_annotator(env, tmp_path, content: str, chunk_rows: int = CHUNK_ROWS) -> tuple[str, str, str]:
    big = tmp_path / "big.jsonl"
    big.write_text(content)
    job_id = finished(python(SETUP, env, big))[0].splitlines()[-1]
    turns = tmp_path / "turns"
    turns.mkdir()
    annotator = python(ANNOTATOR, env, turns)
    importer = python(WAIT_FOR_TURN + IMPORTER, env, job_id, chunk_rows, turns)
    imported, import_log = finished(importer)
    (turns / "end").touch()
    labelled, label_log = finished(annotator)
    assert "database is locked" not in import_log + label_log
    return imported, labelled, finished(python(CHECK, env))[0]


def test_an_annotator_labels_between_the_chunks_of_a_58k_import(tmp_path):
    imported, labelled, check = import_beside_an_annotator(
        embedded_env(tmp_path), tmp_path, jsonl(*(message(n) for n in range(LONG_MESSAGES))),
        chunk_rows=import_services.CHUNK_ROWS,
    )

    chunks = math.ceil(LONG_MESSAGES / import_services.CHUNK_ROWS)
    assert imported == f"done {LONG_MESSAGES} {chunks - 1}"
    assert labelled == f"labelled {chunks - 1}"
    assert check == f"{LONG_MESSAGES} 1 {chunks - 1}"


def test_a_failed_import_removes_what_its_committed_chunks_added(tmp_path):
    records = [message(n) for n in range(MESSAGES)] + [message(0, text="the same id again")]

    imported, labelled, check = import_beside_an_annotator(embedded_env(tmp_path), tmp_path, jsonl(*records))

    status, added, chunks, error = imported.split(" ", 3)
    assert (status, added) == ("failed", "0")
    assert error == "big.jsonl:3001: field 'id': duplicate id 'm0' (first at line 1)"
    assert labelled == f"labelled {chunks}"
    # The annotator's labels stay; the import's messages and chat are gone.
    assert check == f"0 0 {chunks}"
