"""Benchmark: peak memory of the Slack, Telegram and Label Studio readers, flat with file size.

Target: reading a file four times as long raises the reading process's peak
RSS by at most 16 MB (a reader that held the whole file would grow by a few
times the file's size). Writes deterministic exports of 25,000 and 100,000
messages to a temporary directory and reads each in a child process of its
own, so each peak RSS is one read's alone; a child that loads the same code
and reads nothing gives the baseline. No database is touched. About 30 s.

Run:
    .venv/bin/python benchmarks/bench_import_memory.py
"""

import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = (25_000, 100_000)
TARGET_GROWTH_MB = 16.0


def telegram(path: Path, messages: int) -> None:
    records = [
        {"id": n, "type": "message", "date": "2024-01-01T10:00:00", "date_unixtime": str(1704103200 + n),
         "from": f"user {n % 17}", "from_id": f"user{n % 17}", "text": f"is the deploy of build {n} done yet?"}
        for n in range(messages)
    ]
    path.write_text(json.dumps({"name": "Ops", "type": "private_group", "id": 42, "messages": records}, indent=1))


def slack(path: Path, messages: int) -> None:
    records = [
        {"ts": f"{1704103200 + n}.000100", "user": f"U{n % 17:02d}", "type": "message",
         "text": f"is the deploy of build {n} done yet?"}
        for n in range(messages)
    ]
    path.write_text(json.dumps(records, indent=4))


def labelstudio(path: Path, messages: int) -> None:
    tasks = [
        {"id": n, "data": {"text": f"is the deploy of build {n} done yet?", "chat": f"c{n % 50}",
                           "sender": f"user{n % 17}", "sent_at": "2024-01-01T10:00:00Z"},
         "annotations": [{"completed_by": 3, "result": [{"from_name": "need", "value": {"choices": ["no"]}}]}]}
        for n in range(messages)
    ]
    path.write_text(json.dumps(tasks, indent=2))


WRITERS = {"slack": slack, "telegram": telegram, "labelstudio": labelstudio}


def child(format: str, path: str) -> None:
    """Read one file (or nothing, for the baseline) and print its count and peak RSS."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from annotation.importers.reading import ReadProgress
    from annotation.importers.services import READERS

    count = 0
    if format != "baseline":
        source = Path(path)
        progress = ReadProgress(total_bytes=source.stat().st_size)
        for _ in READERS[format](source, progress=progress, name=source.name):
            count += 1
    print(json.dumps({"messages": count, "peak_rss_mb": peak_rss_mb()}))


def peak_rss_mb() -> float:
    """This process's peak RSS since it started its program.

    Not getrusage's ru_maxrss, which keeps the parent's peak across fork and
    exec: the parent has just built the test files in memory.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(format: str, path: Path | None) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    done = subprocess.run(
        [sys.executable, __file__, "--child", format, str(path or "")],
        cwd=ROOT, env={**env, "LADDERLAB_VAR_DIR": tempfile.gettempdir() + "/bench-import-memory"},
        capture_output=True, text=True, check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    baseline = measure("baseline", None)["peak_rss_mb"]
    print(f"baseline (code loaded, nothing read): {baseline:.0f} MB peak RSS")
    print(f"{'format':<12} {'messages':>9} {'file MB':>8} {'peak RSS MB':>12} {'growth MB':>10} {'target MB':>10}")
    failed = False
    with tempfile.TemporaryDirectory() as folder:
        for format, write in WRITERS.items():
            peaks = []
            for messages in SIZES:
                path = Path(folder) / f"{format}-{messages}.json"
                write(path, messages)
                result = measure(format, path)
                assert result["messages"] == messages, result
                peaks.append(result["peak_rss_mb"])
                growth = result["peak_rss_mb"] - peaks[0]
                target = f"<= {TARGET_GROWTH_MB:.0f}" if len(peaks) > 1 else ""
                print(f"{format:<12} {messages:>9,} {path.stat().st_size / 2**20:>8.1f} "
                      f"{result['peak_rss_mb']:>12.0f} {growth:>10.1f} {target:>10}")
                path.unlink()
            failed |= peaks[-1] - peaks[0] > TARGET_GROWTH_MB
    print("FAIL: memory grows with file size" if failed else "ok: memory flat with file size")
    return 1 if failed else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3])
    else:
        sys.exit(main())
