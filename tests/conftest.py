import pytest

from annotation import services
from annotation.models import Membership, Project
from tests.worker_process import worker_start, worker_stop


@pytest.fixture(scope="session", autouse=True)
def isolated_media_root(tmp_path_factory):
    """Adapters and uploads of this test session, apart from any earlier one's.

    Run ids restart with every test database, so a shared media directory
    would hand a new run the adapters of an old one. Workers started by the
    tests inherit the environment variable.
    """
    import os

    from django.conf import settings

    media_root = tmp_path_factory.mktemp("media")
    previous = settings.MEDIA_ROOT
    os.environ["MEDIA_ROOT"] = str(media_root)
    settings.MEDIA_ROOT = media_root
    yield media_root
    settings.MEDIA_ROOT = previous


@pytest.fixture
def project(db):
    """A project that checks labels only on request: an automatic check after a verdict that is not
    monotone would queue fold jobs that keep the shared worker busy past the test. The tests of
    label checking set the project's own default back."""
    project = services.project_create(name="Support chat")
    project.label_check = Project.LABEL_CHECK_ON_REQUEST
    project.save(update_fields=["label_check"])
    return project


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
def celery_worker_session(django_db_setup, django_db_blocker, tmp_path_factory, isolated_media_root):
    """One real Celery worker process for the whole session, on the test
    database and the test broker."""
    import os
    import socket
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
        # Lost-job recovery every few seconds, so a broker-restart test need not wait a minute.
        "TRAINING_RECOVER_SECONDS": "3",
        # A few hundred open items show the ladder's opinion as well as the default 2,000 do, in a fifth of the time.
        "LADDER_OPINION_ITEMS": "400",
    }
    hostname = f"test-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
    with open(log_path, "wb") as log:
        process = worker_start(
            ["-Q", WORKER_QUEUES, "--pool", "solo", "-l", "info", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "-n", hostname,
             "--beat", "--schedule", str(log_path.parent / "celerybeat-schedule")],
            env=env, log=log, cwd=settings.BASE_DIR,
        )
    deadline = time.monotonic() + 60
    while b" ready." not in log_path.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the test worker did not start:\n{log_path.read_text()}")
        time.sleep(0.2)
    process.log_path = log_path
    process.hostname = hostname
    yield process
    worker_stop(process)


def worker_wait_idle(process, seconds: float = 120) -> None:
    """Block until the worker has nothing queued, reserved or running.

    The solo pool answers control messages only between tasks, so an empty
    `active` reply with empty queues means no transaction of the worker's can
    still be open when the test database is flushed.
    """
    import time

    from config.celery import app

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with app.connection_for_write() as conn:
            client = conn.default_channel.client
            queued = sum(client.llen(queue) for queue in WORKER_QUEUES.split(","))
        if not queued:
            inspect = app.control.inspect(destination=[process.hostname], timeout=2)
            active, reserved = inspect.active() or {}, inspect.reserved() or {}
            if process.hostname in active and not active[process.hostname] and not reserved.get(process.hostname):
                return
        time.sleep(0.3)
    raise RuntimeError(f"the test worker stayed busy for {seconds} s")


@pytest.fixture
def celery_worker_process(celery_worker_session):
    """The session's worker, left idle before the test's data is flushed.

    Tests that use it must commit their data (`transactional_db`), since the
    worker reads the database through its own connection.
    """
    yield celery_worker_session
    worker_wait_idle(celery_worker_session)
