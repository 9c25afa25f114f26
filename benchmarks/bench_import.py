"""Benchmark: importing 58,000 JSONL messages on PostgreSQL.

Targets: <= 2 s for the import and <= 200 MB peak RSS for the importing
process. Writes a deterministic 58,000-line JSONL (200 chats) to a temporary
directory, creates a scratch database `<DATABASE_URL's database>_bench`,
migrates it, and imports in child processes, so each peak RSS is one import's
alone: the file three times into fresh corpora (the median counts), once more
into the first corpus (a re-import that must add nothing), and a file four
times as long, to show memory stays flat. The scratch database is dropped at
the end.

Run:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ladderlab .venv/bin/python benchmarks/bench_import.py
"""

import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MESSAGES = 58_000
CHATS = 200
TARGET_SECONDS = 2.0
TARGET_RSS_MB = 200.0

TOPICS = [
    ("the redis pod", "restarts every few minutes", "check the liveness probe timeout"),
    ("nginx", "returns 502 after the deploy", "the upstream keepalive is too short"),
    ("the CI runner", "runs out of disk", "prune the docker images nightly"),
    ("postgres", "is slow on the reports query", "add an index on created_at"),
    ("the celery worker", "drops tasks on restart", "turn on acks_late"),
    ("kafka", "lags behind by an hour", "raise the consumer's max.poll.records"),
    ("the TLS certificate", "expired on staging", "certbot's timer was disabled"),
    ("terraform", "wants to recreate the VPC", "the provider upgrade renamed an attribute"),
]
QUESTIONS = [
    "does anyone know why {thing} {problem}?",
    "is it expected that {thing} {problem}",
    "how did you fix it last time when {thing} {problem}?",
    "any idea?",
    "same here, did that help?",
    "which version are you on?",
]
ANSWERS = [
    "I think {fix}.",
    "we had that last week, {fix}",
    "ok thanks, trying now",
    "+1",
    "see the runbook, section 4",
    "it worked after I restarted it\nbut I am not sure why",
]
NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
         "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter"]


def write_corpus(path: Path, messages: int = MESSAGES) -> int:
    """A deterministic JSONL of group-chat messages; returns its size in bytes."""
    rng = random.Random(0)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    clocks = {chat: start + timedelta(minutes=chat) for chat in range(CHATS)}
    members = {chat: rng.sample(NAMES, rng.randint(3, 8)) for chat in range(CHATS)}
    with open(path, "w", encoding="utf-8") as out:
        for n in range(messages):
            chat = rng.randrange(CHATS)
            clocks[chat] += timedelta(seconds=rng.choice([3, 10, 40, 120, 900, 3600]))
            thing, problem, fix = rng.choice(TOPICS)
            template = rng.choice(QUESTIONS if rng.random() < 0.4 else ANSWERS)
            record = {
                "id": f"msg-{n:06d}",
                "chat": f"team-{chat:03d}",
                "sender": rng.choice(members[chat]),
                "sent_at": clocks[chat].isoformat().replace("+00:00", "Z"),
                "text": template.format(thing=thing, problem=problem, fix=fix),
            }
            if rng.random() < 0.1:
                record["reply_to"] = f"msg-{rng.randrange(max(n, 1)):06d}"
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path.stat().st_size


def bench_database_url() -> tuple[str, str]:
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ladderlab")
    server, name = base.rsplit("/", 1)
    bench_name = f"{name.split('?')[0]}_bench"
    return f"{server}/{bench_name}", bench_name


def admin_execute(database_url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def child(path: str, corpus: str) -> None:
    """Import `path` into `corpus` and print the result as JSON; run in a fresh process."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from annotation import services
    from annotation.importers import messages_import

    project, _ = services.project_get_or_create(name="bench import")
    started = time.perf_counter()
    result = messages_import(project=project, path=path, corpus_name=corpus)
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"added": result.added, "skipped": result.skipped, "seconds": seconds,
                      "peak_rss_mb": peak_kib / 1024}))


def run_child(path: Path, corpus: str, database_url: str) -> dict:
    env = {**os.environ, "DATABASE_URL": database_url}
    completed = subprocess.run(
        [sys.executable, __file__, "--child", str(path), corpus],
        env=env, cwd=ROOT, capture_output=True, text=True, check=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    database_url, bench_name = bench_database_url()
    admin_execute(database_url, f"DROP DATABASE IF EXISTS {bench_name} WITH (FORCE)",
                  f"CREATE DATABASE {bench_name}")
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
            env={**os.environ, "DATABASE_URL": database_url}, cwd=ROOT, check=True,
        )
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "corpus.jsonl"
            size = write_corpus(path)
            print(f"corpus: {MESSAGES} messages, {CHATS} chats, {size / 1e6:.1f} MB")
            fresh = [run_child(path, f"run-{n}", database_url) for n in range(3)]
            again = run_child(path, "run-0", database_url)
            longer = Path(scratch) / "corpus-4x.jsonl"
            write_corpus(longer, 4 * MESSAGES)
            four_times = run_child(longer, "four-times", database_url)
    finally:
        admin_execute(database_url, f"DROP DATABASE IF EXISTS {bench_name} WITH (FORCE)")
    assert all(run["added"] == MESSAGES for run in fresh), fresh
    assert (again["added"], again["skipped"]) == (0, MESSAGES), again
    assert four_times["added"] == 4 * MESSAGES, four_times
    seconds = sorted(run["seconds"] for run in fresh)
    median = seconds[1]
    peak = max(run["peak_rss_mb"] for run in fresh)
    print(f"import seconds per run: {', '.join(f'{s:.2f}' for s in seconds)}")
    print(f"import: {median:.2f} s (median of 3) vs target {TARGET_SECONDS:.0f} s "
          f"({'ok' if median <= TARGET_SECONDS else 'MISSED'})")
    print(f"import: peak RSS {peak:.0f} MB vs target {TARGET_RSS_MB:.0f} MB "
          f"({'ok' if peak <= TARGET_RSS_MB else 'MISSED'})")
    print(f"re-import, all {MESSAGES} skipped: {again['seconds']:.2f} s, "
          f"peak RSS {again['peak_rss_mb']:.0f} MB")
    print(f"4x file ({4 * MESSAGES} messages): {four_times['seconds']:.2f} s, "
          f"peak RSS {four_times['peak_rss_mb']:.0f} MB vs target {TARGET_RSS_MB:.0f} MB "
          f"({'ok' if four_times['peak_rss_mb'] <= TARGET_RSS_MB else 'MISSED'})")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        main()
