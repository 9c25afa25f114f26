"""Many annotators at once over real HTTP: nothing lost, nothing doubled.

Each simulated annotator is its own process: it logs in (CSRF and all), then
labels and takes the next item as fast as the server answers. Afterwards
every acknowledged submit (HTTP 200) must be in the database, no item may
carry labels from two annotators, and no request may have failed — on the
embedded SQLite default that includes "database is locked".

Targets: 32 annotators for 5 minutes against gunicorn + PostgreSQL, and 8 on
the embedded SQLite default: 0 errors, 0 double assignments, sent = stored.
The submit → next loop's throughput and p50/p95/p99 are printed to compare
run to run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ladderlab .venv/bin/python benchmarks/load_annotators.py
    .venv/bin/python benchmarks/load_annotators.py --sqlite --annotators 8 --seconds 120
"""

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_labelling as bench  # noqa: E402


def stored_labels(project_id: int) -> int:
    from annotation.models import Annotation

    return Annotation.objects.filter(
        item__project_id=project_id, kind=Annotation.LABEL, annotator__username__startswith="bench"
    ).count()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--annotators", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--sqlite", action="store_true", help="the embedded default instead of PostgreSQL")
    args = parser.parse_args()
    if args.sqlite:
        var_dir = tempfile.mkdtemp(prefix="load-sqlite-")
        os.environ.pop("DATABASE_URL", None)
        os.environ["LADDERLAB_VAR_DIR"] = var_dir
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        import django

        django.setup()
        env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
        backend = f"embedded SQLite ({var_dir})"
    else:
        bench.recreate_database()
        bench.setup_django()
        env = {**os.environ, "DATABASE_URL": bench.bench_database_url(), "DJANGO_SETTINGS_MODULE": "config.settings"}
        backend = "PostgreSQL"
    project_id = bench.seed(annotators=args.annotators)
    before = stored_labels(project_id)
    load = bench.concurrent_load(project_id, annotators=args.annotators, seconds=args.seconds, env=env)
    stored = stored_labels(project_id) - before
    doubles = bench.double_assignments(project_id)
    latencies = load["latencies"]
    print(f"{args.annotators} annotators, {args.seconds:.0f} s, gunicorn 3 workers, {backend}, {bench.ITEMS:,} items")
    print(f"acknowledged submits: {load['annotations']}   stored: {stored}   target: stored = acknowledged")
    print(f"errors: {load['errors']}   double assignments: {doubles}   target: 0 and 0")
    print(f"throughput: {load['annotations'] / load['seconds']:.1f} annotations/s")
    if latencies:
        print(
            f"submit → next loop: p50 {statistics.median(latencies):.1f} ms  p95 {bench.percentile(latencies, 0.95):.1f} ms"
            f"  p99 {bench.percentile(latencies, 0.99):.1f} ms"
        )
    print(f"web worker RSS (largest process): {load['rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
