"""Benchmark: importing 58,000 JSONL messages on PostgreSQL.

Targets: <= 1 s for the import, re-import included, and <= 200 MB peak RSS
for the importing process. Two deterministic 58,000-line corpora, written to
a temporary directory:

- `sample`: short group-chat lines like the sample corpus (200 chats, about
  50 characters of text a line);
- `real-chat`: the shape of real IRC chat: many short lines, a long tail of
  pastes up to a few thousand characters, URLs, code with tabs and
  backslashes, emoji and CJK, newlines in text, nicks with backslashes,
  metadata on a fifth of the lines, some lines written with ASCII escapes.

For each corpus it creates a scratch database `<DATABASE_URL's database>_bench`
(afresh, so one corpus's rows do not slow the other's), migrates it, and
imports in child processes, so each peak RSS is one import's alone: the file
`--runs` times into fresh corpora (the median counts), once more into the
first corpus (a re-import that must add nothing), and a file four times as
long, to show memory stays flat. The scratch database is dropped at the end.

Run:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ladderlab .venv/bin/python benchmarks/bench_import.py [--corpus sample|real-chat|both] [--runs 3]
"""

import argparse
import json
import os
import random
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MESSAGES = 58_000
CHATS = 200
TARGET_SECONDS = 1.0
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


def write_sample_corpus(path: Path, messages: int = MESSAGES) -> int:
    """A deterministic JSONL of short group-chat messages; returns its size in bytes."""
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



CHANNELS = ["#ubuntu", "#python", "#postgresql", "#linux", "#debian", "#rust", "#kubernetes",
            "#nginx", "#archlinux", "#go-nuts", "#emacs", "#vim", "#haskell", "#docker",
            "#freenode", "#networking", "#security", "#javascript", "#django", "#git"]
NICK_STEMS = ["ikonia", "tomreyn", "lotuspsychje", "sarnold", "ducasse", "Bashing-om", "leftyfb",
              "oerheks", "TJ-", "EriC^^", "arooni", "xu", "BluesKaj", "pragmaticenigma", "kostkon",
              "Guest", "ubuntu", "mikeo", "jeremy", "zer0", "b0rk", "n0va", "ark", "Smurphy",
              "ioria", "genii", "daftykins", "hggdh", "Ben64", "ravage"]
NICK_DECORATIONS = ["", "", "", "_", "__", "|away", "[m]", "`", "^", "\\", "-", "1", "42", "|work"]
WORDS = (
    "the a is it to i you that and of in for on this have with but not what do so just can be "
    "my if are was how any there works when try then now no yes ok thanks lol hmm well still "
    "install package kernel driver boot grub wifi apt update upgrade error log config server "
    "client port ssh firewall ufw systemd service restart permission root sudo file directory "
    "mount disk partition swap memory cpu nvidia amd intel version release focal jammy noble "
    "python pip venv module import query index table vacuum replica commit branch merge rebase"
).split()
SHORT_LINES = ["ok", "thanks!", "lol", "+1", "yes", "no", "?", "hmm", "o/", "\\o/", "brb", "np",
               "ty", "k", "same", "^ this", ":)", ":(", "wb", "nope", "yep", "hi all", "gn"]
UNICODE_BITS = ["😀", "👍", "🎉", "🔥", "🤔", "❤️", "🙃", "🐧", "中文", "こんにちは", "日本語の文字化け",
                "한국어", "Привет", "ça marche", "Größe", "naïve café", "→", "…", "«quoted»",
                "€", "✓", "☕", "Ω", "°C", "👨‍👩‍👧", "🇩🇪"]
URLS = ["https://askubuntu.com/questions/{n}/how-to-{w}-{w2}",
        "https://github.com/{w}/{w2}/issues/{n}#issuecomment-{n2}",
        "https://paste.ubuntu.com/p/{h}/",
        "https://bugs.launchpad.net/ubuntu/+source/{w}/+bug/{n}",
        "http://example.org/{w}?q={w2}&page={n}&lang=en%2Cde",
        "https://www.postgresql.org/docs/16/{w}-{w2}.html",
        "https://stackoverflow.com/a/{n}/{n2}",
        "https://wiki.archlinux.org/title/{w}_({w2})"]
CODE_SNIPPETS = [
    "def {w}(self, {w2}):\n\tif not {w2}:\n\t\treturn None\n\treturn self.{w}_cache[{w2}]",
    "for f in *.log; do\n\tgrep -E '^\\[{w}\\]' \"$f\" | sed 's/\\\\t/ /g'\ndone",
    "SELECT {w}, count(*) FROM {w2}\nWHERE created_at > now() - interval '1 day'\nGROUP BY 1;",
    "$ sudo apt install {w}\nReading package lists... Done\nE: Unable to locate package {w}",
    "C:\\Users\\{w}\\AppData\\Local\\{w2}\\config.ini",
    "regex: ^(\\d+)\\s+({w}|{w2})\\\\n$",
    "{{\n\t\"{w}\": true,\n\t\"{w2}\": [1, 2, 3],\n\t\"path\": \"C:\\\\tmp\\\\{w}\"\n}}",
    "Traceback (most recent call last):\n  File \"/usr/lib/python3/dist-packages/{w}.py\", "
    "line {n}, in <module>\n    import {w2}\nModuleNotFoundError: No module named '{w2}'",
    "[  {n}.123456] {w}: loading out-of-tree module taints kernel.\n[  {n}.234567] {w2}: "
    "module verification failed: signature and/or required key missing",
]


def chat_words(rng, count: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(count))


def chat_text(rng) -> str:
    """A message with the shape of real IRC chat: mostly short, a long tail of pastes."""
    fill = {"w": rng.choice(WORDS), "w2": rng.choice(WORDS), "n": rng.randrange(10_000, 9_999_999),
            "n2": rng.randrange(10_000, 9_999_999), "h": f"{rng.getrandbits(40):010x}"}
    kind = rng.random()
    if kind < 0.18:
        text = rng.choice(SHORT_LINES)
    elif kind < 0.62:
        text = chat_words(rng, rng.randint(3, 14))
    elif kind < 0.82:
        text = chat_words(rng, rng.randint(15, 45))
    elif kind < 0.91:
        url = rng.choice(URLS).format(**fill)
        text = f"{chat_words(rng, rng.randint(2, 12))} {url} {chat_words(rng, rng.randint(0, 8))}"
    elif kind < 0.97:
        text = "\n".join(rng.choice(CODE_SNIPPETS).format(**fill) for _ in range(rng.randint(1, 4)))
    else:
        # A flood: a pasted log or a rant, up to a few thousand characters.
        text = "\n".join(
            rng.choice(CODE_SNIPPETS).format(**fill) if rng.random() < 0.5
            else chat_words(rng, rng.randint(20, 60))
            for _ in range(rng.randint(4, 20))
        )
    if rng.random() < 0.12:
        bits = " ".join(rng.choice(UNICODE_BITS) for _ in range(rng.randint(1, 4)))
        text = f"{text} {bits}" if rng.random() < 0.7 else f"{bits} {text}"
    if rng.random() < 0.03:
        text = f"{text}\n{chat_words(rng, rng.randint(2, 10))}"
    return text


def write_real_chat_corpus(path: Path, messages: int = MESSAGES) -> int:
    """A deterministic JSONL shaped like a real IRC channel log; returns its size in bytes."""
    rng = random.Random(1)
    start = datetime(2023, 6, 1, tzinfo=UTC)
    clocks = {channel: start for channel in CHANNELS}
    nicks = [f"{rng.choice(NICK_STEMS)}{rng.choice(NICK_DECORATIONS)}{n % 7 or ''}" for n in range(600)]
    with open(path, "w", encoding="utf-8") as out:
        for n in range(messages):
            channel = rng.choice(CHANNELS)
            clocks[channel] += timedelta(seconds=rng.expovariate(1 / 45), microseconds=rng.randrange(10**6))
            record = {"id": f"{channel[1:]}-{n:07d}", "chat": channel, "sender": rng.choice(nicks),
                      "sent_at": clocks[channel].isoformat(), "text": chat_text(rng)}
            extra = rng.random()
            if extra < 0.08:
                record["action"] = True
            elif extra < 0.15:
                record["reply_to"] = f"{channel[1:]}-{rng.randrange(max(n, 1)):07d}"
            elif extra < 0.18:
                record["reactions"] = {rng.choice(UNICODE_BITS): rng.randint(1, 5)}
            elif extra < 0.20:
                record["edited"] = {"at": clocks[channel].isoformat(), "was": chat_words(rng, 5)}
            out.write(json.dumps(record, ensure_ascii=rng.random() < 0.3) + "\n")
    return path.stat().st_size


CORPORA = {"sample": write_sample_corpus, "real-chat": write_real_chat_corpus}

def bench_database_url() -> tuple[str, str]:
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ladderlab")
    server, name = base.rsplit("/", 1)
    bench_name = f"{name.split('?')[0]}_bench"
    return f"{server}/{bench_name}", bench_name


def child_env(database_url: str) -> dict[str, str]:
    # The scratch database is thrown away, so a throwaway key will do where none is set.
    return {"SECRET_KEY": secrets.token_urlsafe(50), **os.environ, "DATABASE_URL": database_url}


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

    from django.db import connection

    project, _ = services.project_get_or_create(name="bench import")
    server_pid = connection.connection.info.backend_pid
    server_before = server_cpu_seconds(server_pid)
    cpu_before = time.process_time()
    started = time.perf_counter()
    result = messages_import(project=project, path=path, corpus_name=corpus)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    server_after = server_cpu_seconds(server_pid)
    server = None if server_before is None else server_after - server_before
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"added": result.added, "skipped": result.skipped, "seconds": seconds,
                      "cpu_seconds": cpu, "server_cpu_seconds": server,
                      "peak_rss_mb": peak_kib / 1024}))


def server_cpu_seconds(pid: int) -> float | None:
    """CPU time of the database session's server process, where it runs on this machine.

    On a machine shared with other work the wall time varies with the load;
    the CPU time the import costs both processes varies much less.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    user, system = int(fields[11]), int(fields[12])
    return (user + system) / os.sysconf("SC_CLK_TCK")


def run_child(path: Path, corpus: str, database_url: str) -> dict:
    completed = subprocess.run(
        [sys.executable, __file__, "--child", str(path), corpus],
        env=child_env(database_url), cwd=ROOT, capture_output=True, text=True, check=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def text_lengths(path: Path) -> str:
    lengths = sorted(len(json.loads(line)["text"]) for line in path.open(encoding="utf-8"))
    def at(share: float) -> int:
        return lengths[min(len(lengths) - 1, int(share * len(lengths)))]
    return (f"text chars: median {at(0.5)}, mean {sum(lengths) / len(lengths):.0f}, "
            f"p90 {at(0.9)}, p99 {at(0.99)}, max {lengths[-1]}")


def cpu_text(run: dict) -> str:
    server = run["server_cpu_seconds"]
    return f"{run['cpu_seconds']:.2f} + {'n/a' if server is None else f'{server:.2f}'}"


def bench_corpus(name: str, runs: int, database_url: str, bench_name: str, scratch: Path) -> None:
    write = CORPORA[name]
    admin_execute(database_url, f"DROP DATABASE IF EXISTS {bench_name} WITH (FORCE)",
                  f"CREATE DATABASE {bench_name}")
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
            env=child_env(database_url), cwd=ROOT, check=True,
        )
        path = scratch / f"{name}.jsonl"
        size = write(path)
        print(f"[{name}] corpus: {MESSAGES} messages, {size / 1e6:.1f} MB; {text_lengths(path)}")
        fresh = [run_child(path, f"run-{n}", database_url) for n in range(runs)]
        again = run_child(path, "run-0", database_url)
        longer = scratch / f"{name}-4x.jsonl"
        write(longer, 4 * MESSAGES)
        four_times = run_child(longer, "four-times", database_url)
    finally:
        admin_execute(database_url, f"DROP DATABASE IF EXISTS {bench_name} WITH (FORCE)")
    assert all(run["added"] == MESSAGES for run in fresh), fresh
    assert (again["added"], again["skipped"]) == (0, MESSAGES), again
    assert four_times["added"] == 4 * MESSAGES, four_times
    seconds = sorted(run["seconds"] for run in fresh)
    median = seconds[len(seconds) // 2]
    peak = max(run["peak_rss_mb"] for run in fresh)

    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    print(f"[{name}] import seconds per run: {', '.join(f'{s:.2f}' for s in seconds)}")
    print(f"[{name}] CPU seconds per run, importer + database server: "
          f"{', '.join(cpu_text(run) for run in fresh)}; re-import {cpu_text(again)}")
    print(f"[{name}] import: {median:.2f} s (median of {runs}, min {seconds[0]:.2f}) "
          f"vs target {TARGET_SECONDS:.0f} s ({verdict(median <= TARGET_SECONDS)})")
    print(f"[{name}] import: peak RSS {peak:.0f} MB vs target {TARGET_RSS_MB:.0f} MB "
          f"({verdict(peak <= TARGET_RSS_MB)})")
    print(f"[{name}] re-import, all {MESSAGES} skipped: {again['seconds']:.2f} s "
          f"vs target {TARGET_SECONDS:.0f} s ({verdict(again['seconds'] <= TARGET_SECONDS)}), "
          f"peak RSS {again['peak_rss_mb']:.0f} MB")
    print(f"[{name}] 4x file ({4 * MESSAGES} messages): {four_times['seconds']:.2f} s, "
          f"peak RSS {four_times['peak_rss_mb']:.0f} MB vs target {TARGET_RSS_MB:.0f} MB "
          f"({verdict(four_times['peak_rss_mb'] <= TARGET_RSS_MB)})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", choices=[*CORPORA, "both"], default="both")
    parser.add_argument("--runs", type=int, default=3, help="fresh imports per corpus")
    options = parser.parse_args()
    names = list(CORPORA) if options.corpus == "both" else [options.corpus]
    database_url, bench_name = bench_database_url()
    with tempfile.TemporaryDirectory() as scratch:
        for name in names:
            bench_corpus(name, options.runs, database_url, bench_name, Path(scratch))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        main()
