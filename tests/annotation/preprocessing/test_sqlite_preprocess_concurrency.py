"""On the embedded SQLite default, preprocessing leaves the write lock free between its chunks.

A preprocessing process and an annotator process take turns: after each chat
the preprocessor waits until the annotator has saved a label. The annotator
waits at most a second for the lock, so a label is saved only if no
preprocessing transaction holds it; one transaction for the whole run (the
old behaviour) makes the first label fail with "database is locked".
"""

from tests.annotation.sqlite_turns import ANNOTATOR, WAIT_FOR_TURN, embedded_env, finished, python

CHATS = 6
MESSAGES_PER_CHAT = 500
INSERT_CHUNK = 50

SETUP = """
import sys, django; django.setup()
from datetime import timedelta
from django.core.management import call_command
from django.utils import timezone
from annotation import services
from annotation.models import Chat, Corpus, Item, Membership, Message
call_command("migrate", verbosity=0)
chats, per_chat = int(sys.argv[1]), int(sys.argv[2])
project = services.project_create(name="lock test")
corpus = Corpus.objects.create(project=project, name="default")
now = timezone.now()
labelled = Chat.objects.create(corpus=corpus, external_id="labelled")
for n in range(20):
    m = Message.objects.create(corpus=corpus, chat=labelled, external_id=f"l{n}", sender="s", sent_at=now, text=f"q {n}?")
    Item.objects.create(project=project, message=m, chat=labelled, text=m.text, sender="A", sent_at=now)
texts = ["is the cache warm yet?", "the deploy went fine today", "restarted the pod again"]
for c in range(chats):
    chat = Chat.objects.create(corpus=corpus, external_id=f"c{c}")
    Message.objects.bulk_create([
        Message(corpus=corpus, chat=chat, external_id=f"c{c}-{n}", sender=("ann", "bob")[n % 2],
                sent_at=now + timedelta(seconds=30 * n), text=f"{texts[n % 3]} ({n})")
        for n in range(per_chat)
    ])
user = services.user_get_or_create(username="ann", password="ann-pass-1234")
services.membership_set(project=project, user=user, role=Membership.ANNOTATOR)
"""

# After each chat but the last: hand the turn to the annotator, wait for it back.
PREPROCESSOR = """
import sys, time, django; django.setup()
from pathlib import Path
from annotation import preprocessing
from annotation.models import Project
preprocessing.INSERT_CHUNK = int(sys.argv[1])
turns = Path(sys.argv[2])
handed = []

def take_turns(done, total):
    if done == total:
        return
    handed.append(done)
    wait_for_turn(turns, len(handed))

result = preprocessing.items_preprocess(project=Project.objects.get(name="lock test"), progress=take_turns)
(turns / "end").touch()
print(result.created, len(handed))
"""

CHECK = """
import django; django.setup()
from django.db.models import Count
from annotation.models import Annotation, Item
doubles = Item.objects.values("message").annotate(n=Count("id")).filter(n__gt=1).count()
print(Item.objects.count(), doubles, Annotation.objects.count())
"""


def test_an_annotator_labels_between_the_chunks_of_a_preprocessing_run(tmp_path):
    env = embedded_env(tmp_path)
    finished(python(SETUP, env, CHATS, MESSAGES_PER_CHAT))
    turns = tmp_path / "turns"
    turns.mkdir()
    annotator = python(ANNOTATOR, env, turns)
    preprocessor = python(WAIT_FOR_TURN + PREPROCESSOR, env, INSERT_CHUNK, turns)
    preprocessed, preprocess_log = finished(preprocessor)
    (turns / "end").touch()
    labelled, label_log = finished(annotator)

    assert "database is locked" not in preprocess_log + label_log
    # Every third message of each chat is a question; the labelled chat's one turn already has its item.
    made = CHATS * len(range(0, MESSAGES_PER_CHAT, 3))
    handed = CHATS  # the labelled chat and the six others, the last one not handed over
    assert preprocessed == f"{made} {handed}"
    assert labelled == f"labelled {handed}"
    assert finished(python(CHECK, env))[0] == f"{20 + made} 0 {handed}"
