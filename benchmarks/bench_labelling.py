"""Labelling speed on PostgreSQL with 58,000 items.

Targets (2 cores): next-item and submit p50 <= 10 ms and p95 <= 25 ms server
side; list/filter page p95 <= 40 ms; 8 concurrent annotators (separate
processes, real HTTP, login + CSRF) >= 100 annotations/s with 0 errors and 0
double assignments; web process RSS <= 150 MB; cold start to first page <= 3 s.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ladderlab .venv/bin/python benchmarks/bench_labelling.py
"""

import http.cookiejar
import multiprocessing
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DB = "ll_bench_labelling"
ITEMS = 58_000
ANNOTATORS = 8
LOAD_SECONDS = 20
PASSWORD = "bench-pass-123"


def bench_database_url() -> str:
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ladderlab")
    return base.rsplit("/", 1)[0] + "/" + BENCH_DB


def recreate_database() -> None:
    import psycopg

    admin_url = bench_database_url().rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")


def setup_django() -> None:
    os.environ["DATABASE_URL"] = bench_database_url()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def seed(annotators: int = ANNOTATORS) -> int:
    from django.core.management import call_command
    from django.utils import timezone

    from annotation import services
    from annotation.models import Chat, Corpus, Item, Membership, Message

    call_command("migrate", verbosity=0)
    project = services.project_create(name="bench")
    corpus = Corpus.objects.create(project=project)
    now = timezone.now()
    chats = Chat.objects.bulk_create(
        [Chat(corpus=corpus, external_id=f"chat-{n}") for n in range(200)]
    )
    history = [
        {"username": "A", "content": "the redis pod restarts every few minutes", "sent_at": now.isoformat()},
        {"username": "B", "content": "check the liveness probe timeout, it is 1 s by default", "sent_at": now.isoformat()},
    ] * 5
    messages = Message.objects.bulk_create(
        [
            Message(
                corpus=corpus, chat=chats[n % 200], external_id=f"m{n}", sender="x",
                sent_at=now, text=f"does that also explain the restarts on node {n}?",
            )
            for n in range(ITEMS)
        ],
        batch_size=5000,
    )
    Item.objects.bulk_create(
        [
            Item(project=project, message=m, chat_id=m.chat_id, text=m.text, sender="C",
                 sent_at=now, context=history)
            for m in messages
        ],
        batch_size=5000,
    )
    for n in range(annotators):
        user = services.user_get_or_create(username=f"bench{n}", password=PASSWORD)
        services.membership_set(project=project, user=user, role=Membership.ANNOTATOR)
    lead = services.user_get_or_create(username="benchlead", password=PASSWORD)
    services.membership_set(project=project, user=lead, role=Membership.LEAD)
    from django.db import connection

    # What autovacuum does shortly after a bulk import: statistics, and the
    # visibility map that lets counts and paging use index-only scans.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    return project.pk


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def server_side_latency(project_id: int) -> dict:
    """Time the views in-process through the full middleware stack."""
    from django.test import Client

    from django.contrib.auth import get_user_model

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(get_user_model().objects.get(username="bench0"))
    next_times, submit_times = [], []
    label_url = f"/projects/{project_id}/label/"
    response = client.get(label_url)
    for n in range(300):
        started = time.perf_counter()
        response = client.get(label_url, HTTP_HX_REQUEST="true")
        next_times.append((time.perf_counter() - started) * 1000)
        assignment = re.search(rf"/projects/{project_id}/label/(\d+)/", response.content.decode()).group(1)
        started = time.perf_counter()
        client.post(
            f"/projects/{project_id}/label/{assignment}/",
            {"option": "extraction" if n % 2 else "no_extraction", "seconds": "2.5"},
            HTTP_HX_REQUEST="true",
        )
        submit_times.append((time.perf_counter() - started) * 1000)
    lead = Client(HTTP_HOST="127.0.0.1")
    lead.force_login(get_user_model().objects.get(username="benchlead"))
    list_times = []
    queries = [{}, {"label": "extraction"}, {"q": "node 4711"}, {"page": "500"}, {"label": "none", "page": "3"}]
    for n in range(100):
        started = time.perf_counter()
        lead.get(f"/projects/{project_id}/items/", queries[n % len(queries)], HTTP_HX_REQUEST="true")
        list_times.append((time.perf_counter() - started) * 1000)
    return {"next": next_times, "submit": submit_times, "list": list_times}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def annotator_loop(base_url: str, project_id: int, username: str, seconds: float, results) -> None:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    errors = 0
    done = 0
    latencies = []
    try:
        opener.open(f"{base_url}/login/").read()
        token = next(cookie.value for cookie in jar if cookie.name == "csrftoken")
        data = urllib.parse.urlencode(
            {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token}
        ).encode()
        opener.open(urllib.request.Request(f"{base_url}/login/", data=data, headers={"Referer": f"{base_url}/login/"})).read()
        token = next(cookie.value for cookie in jar if cookie.name == "csrftoken")
        page = opener.open(f"{base_url}/projects/{project_id}/label/").read().decode()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            match = re.search(rf"/projects/{project_id}/label/(\d+)/", page)
            if match is None:
                break
            started = time.perf_counter()
            request = urllib.request.Request(
                f"{base_url}/projects/{project_id}/label/{match.group(1)}/",
                data=urllib.parse.urlencode({"option": "extraction", "seconds": "1"}).encode(),
                headers={"X-CSRFToken": token, "HX-Request": "true", "Referer": base_url},
            )
            try:
                page = opener.open(request).read().decode()
                done += 1
            except urllib.error.HTTPError:
                errors += 1
                page = opener.open(f"{base_url}/projects/{project_id}/label/").read().decode()
            latencies.append((time.perf_counter() - started) * 1000)
    except Exception as error:  # counted, reported
        errors += 1
        print(f"{username}: {type(error).__name__}: {error}", file=sys.stderr)
    results.put((done, errors, latencies))


def concurrent_load(project_id: int, annotators: int = ANNOTATORS, seconds: float = LOAD_SECONDS,
                    env: dict | None = None) -> dict:
    port = free_port()
    env = env or {**os.environ, "DATABASE_URL": bench_database_url(), "DJANGO_SETTINGS_MODULE": "config.settings"}
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", "3", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )
    base_url = f"http://127.0.0.1:{port}"
    while True:
        try:
            urllib.request.urlopen(f"{base_url}/login/", timeout=1).read()
            break
        except OSError:
            time.sleep(0.05)
    cold_start = time.perf_counter() - started
    results = multiprocessing.Queue()
    workers = [
        multiprocessing.Process(target=annotator_loop, args=(base_url, project_id, f"bench{n}", seconds, results))
        for n in range(annotators)
    ]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    outcomes = [results.get() for _ in workers]
    elapsed = time.perf_counter() - started
    for worker in workers:
        worker.join()
    rss_mb = max(worker_rss_mb(server.pid))
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)
    latencies = [latency for _, _, per in outcomes for latency in per]
    return {
        "annotations": sum(done for done, _, _ in outcomes),
        "errors": sum(errors for _, errors, _ in outcomes),
        "seconds": elapsed,
        "latencies": latencies,
        "cold_start": cold_start,
        "rss_mb": rss_mb,
    }


def worker_rss_mb(master_pid: int) -> list[float]:
    pids = [master_pid]
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children")
    if children.exists():
        pids += [int(pid) for pid in children.read_text().split()]
    sizes = []
    for pid in pids:
        status = Path(f"/proc/{pid}/status").read_text()
        sizes.append(int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024)
    return sizes


def double_assignments(project_id: int) -> int:
    from django.db.models import Count

    from annotation.models import Annotation

    return (
        Annotation.objects.filter(item__project_id=project_id, kind=Annotation.LABEL)
        .values("item")
        .annotate(n=Count("annotator", distinct=True))
        .filter(n__gt=1)
        .count()
    )


def main() -> None:
    recreate_database()
    setup_django()
    project_id = seed()
    latency = server_side_latency(project_id)
    load = concurrent_load(project_id)
    rate = load["annotations"] / load["seconds"]
    doubles = double_assignments(project_id)
    print(f"items: {ITEMS}, annotators: {ANNOTATORS}, load: {LOAD_SECONDS} s, gunicorn 3 workers")
    for name, values, p50_target, p95_target in [
        ("next item", latency["next"], 10, 25),
        ("submit", latency["submit"], 10, 25),
        ("list/filter page", latency["list"], None, 40),
    ]:
        target = f"p50 <= {p50_target} ms, " if p50_target else ""
        print(
            f"{name:<18} p50 {statistics.median(values):6.1f} ms  p95 {percentile(values, 0.95):6.1f} ms"
            f"   target: {target}p95 <= {p95_target} ms"
        )
    print(f"{ANNOTATORS} annotators over HTTP: {rate:.1f} annotations/s   target: >= 100/s")
    print(
        f"  submit+next round trip p50 {statistics.median(load['latencies']):.1f} ms"
        f" p95 {percentile(load['latencies'], 0.95):.1f} ms"
    )
    print(f"  errors: {load['errors']}   double assignments: {doubles}   target: 0 and 0")
    print(f"web worker RSS (largest process): {load['rss_mb']:.0f} MB   target: <= 150 MB")
    print(f"cold start to first page: {load['cold_start']:.2f} s   target: <= 3 s")


if __name__ == "__main__":
    main()
