import pytest

from annotation import services
from annotation.models import Membership


@pytest.fixture
def project(db):
    return services.project_create(name="Support chat")


@pytest.fixture
def annotator(db, project):
    user = services.user_get_or_create(username="ann", password="ann-pass-123")
    services.membership_set(project=project, user=user, role=Membership.ANNOTATOR)
    return user


@pytest.fixture
def lead(db, project):
    user = services.user_get_or_create(username="lead", password="lead-pass-123")
    services.membership_set(project=project, user=user, role=Membership.LEAD)
    return user


# gpu-large is left to the tests that start and kill workers of their own.
WORKER_QUEUES = "default,cpu,gpu-small"


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real Celery worker process on the test database and the test broker.

    Tests that use it must commit their data (`transactional_db`), since the
    worker reads the database through its own connection.
    """
    import os
    import subprocess
    import sys
    import time
    import uuid

    from django.conf import settings
    from django.db import connection

    from config.celery import app

    db = connection.settings_dict
    if db["ENGINE"].endswith("postgresql"):
        database_url = (
            f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        )
    else:
        database_url = f"sqlite:///{db['NAME']}"
    with app.connection_for_write() as conn:
        for queue in WORKER_QUEUES.split(","):
            conn.default_channel.queue_purge(queue)
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "PYTHONUNBUFFERED": "1",
    }
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", WORKER_QUEUES,
             "--pool", "solo", "-l", "info", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "-n", f"test-{uuid.uuid4().hex[:8]}@%h"],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=settings.BASE_DIR,
        )
    deadline = time.monotonic() + 60
    while b" ready." not in log_path.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the test worker did not start:\n{log_path.read_text()}")
        time.sleep(0.2)
    process.log_path = log_path
    yield process
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()

