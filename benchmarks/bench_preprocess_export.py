"""Preprocessing 58,000 messages and exporting a 58,000-item batch, on PostgreSQL.

Targets (2 cores): preprocessing <= 5 s; alpaca export of a 58k-item batch <= 2 s.
The sample corpus (58,000 messages) is imported into a scratch database and
preprocessed. For the export, 58,000 labelled items are made in bulk (the
sample corpus yields about 3,300 candidates, so the batch needs its own rows),
frozen, and exported as alpaca JSON to /dev/null-like memory.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ladderlab .venv/bin/python benchmarks/bench_preprocess_export.py
"""

import io
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DB = "ll_bench_preprocess"


def main() -> None:
    import psycopg

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ladderlab")
    admin = base.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    os.environ["DATABASE_URL"] = base.rsplit("/", 1)[0] + "/" + BENCH_DB
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from annotation import exports, services
    from annotation.batches import batch_create, batch_freeze
    from annotation.importers import messages_import
    from annotation.models import Annotation, Chat, Corpus, Item, Message
    from annotation.preprocessing import items_preprocess
    from annotation.sample_corpus import write_jsonl

    call_command("migrate", verbosity=0)
    project = services.project_create(name="bench")
    with tempfile.TemporaryDirectory() as folder:
        corpus = Path(folder) / "corpus.jsonl"
        write_jsonl(path=corpus, messages=58_000, seed=0)
        messages_import(project=project, path=corpus)
    started = time.perf_counter()
    result = items_preprocess(project=project)
    preprocess_seconds = time.perf_counter() - started

    user = services.user_get_or_create(username="bench", password="bench-pass-123")
    other = services.project_create(name="export")
    corpus_row = Corpus.objects.create(project=other)
    chats = Chat.objects.bulk_create([Chat(corpus=corpus_row, external_id=f"chat-{n:04d}") for n in range(2000)])
    now = timezone.now()
    history = [
        {"username": "A", "content": "the redis pod restarts every few minutes", "sent_at": now.isoformat()},
        {"username": "B", "content": "check the liveness probe timeout, it defaults to 1 s", "sent_at": now.isoformat()},
    ] * 5
    messages = Message.objects.bulk_create(
        [Message(corpus=corpus_row, chat=chats[n % 2000], external_id=f"m{n}", sender="x", sent_at=now,
                 text=f"does that also explain the restarts on node {n}?") for n in range(58_000)],
        batch_size=5000,
    )
    items = Item.objects.bulk_create(
        [Item(project=other, message=m, chat_id=m.chat_id, text=m.text, sender="C", sent_at=now, context=history)
         for m in messages],
        batch_size=5000,
    )
    Annotation.objects.bulk_create(
        [Annotation(item=item, annotator=user, option="extraction" if n % 2 else "no_extraction", guideline_version=1)
         for n, item in enumerate(items)],
        batch_size=5000,
    )
    with django.db.connection.cursor() as cursor:
        cursor.execute(
            "UPDATE annotation_item SET current_annotation_id = a.id, label = a.option "
            "FROM annotation_annotation a WHERE a.item_id = annotation_item.id AND annotation_item.project_id = %s",
            [other.pk],
        )
    started = time.perf_counter()
    batch = batch_freeze(batch=batch_create(project=other, name="big", items=Item.objects.filter(project=other)))
    freeze_seconds = time.perf_counter() - started
    sink = io.BytesIO()
    started = time.perf_counter()
    if os.environ.get("PROFILE_EXPORT"):
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        written = profiler.runcall(exports.write_export, batch=batch, split="all", kind="alpaca", stream=sink)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(12)
    else:
        written = exports.write_export(batch=batch, split="all", kind="alpaca", stream=sink)
    export_seconds = time.perf_counter() - started

    print(f"preprocessing: {result.messages} messages -> {result.created} items in {preprocess_seconds:.2f} s"
          f"   target: <= 5 s")
    print(f"making and freezing the 58k-item batch (renders every record once): {freeze_seconds:.2f} s")
    print(f"alpaca export: {batch.train_count + batch.eval_count} items, {written / 1e6:.0f} MB in "
          f"{export_seconds:.2f} s   target: <= 2 s")
    django.db.connections.close_all()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


if __name__ == "__main__":
    main()
