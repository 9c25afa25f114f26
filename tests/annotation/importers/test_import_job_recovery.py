"""Import jobs are recovered like rung jobs: a lost publish, a lost broker, a dead worker.

The broker's queue depth and the publish itself are the outside calls here;
`test_worker_killed.py` runs the same recovery against a real worker and broker.
"""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerDown

from annotation.importers import import_job_claim, import_jobs_recover, jobs
from annotation.importers import services as import_services
from annotation.models import ImportJob
from annotation.tasks import import_job_run
from tests.annotation.importers.conftest import jsonl, message


@pytest.fixture
def published(monkeypatch):
    """Job ids the broker took, in order."""
    sent = []
    monkeypatch.setattr(import_job_run, "apply_async", lambda args, **options: sent.append(args[0]))
    return sent


@pytest.fixture
def queue_depth(monkeypatch):
    """Messages the broker says wait on the import queue; 0 (a broker that kept nothing) unless set."""
    depth = {"messages": 0}
    monkeypatch.setattr("training.services.queued_messages", lambda queue: depth["messages"])
    return depth


@pytest.fixture
def recover(django_capture_on_commit_callbacks, queue_depth):
    def recover(**kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return import_jobs_recover(**kwargs)

    return recover


def pending_job(project, write, **fields) -> ImportJob:
    path = write("messages.jsonl", jsonl(message(1)))
    return ImportJob.objects.create(project=project, file_name=path.name, path=str(path), **fields)


def orphan(job: ImportJob) -> None:
    """What a worker killed mid-import leaves: running, its heartbeat stopped."""
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))


class TestLostMessages:
    def test_a_failed_publish_leaves_the_job_for_recovery_which_sends_it(
        self, project, monkeypatch, django_capture_on_commit_callbacks, recover, published
    ):
        def broker_down(args, **options):
            raise BrokerDown("connection refused")

        monkeypatch.setattr(import_job_run, "apply_async", broker_down)
        with django_capture_on_commit_callbacks(execute=True):
            job = jobs.import_job_start(
                project=project, upload=SimpleUploadedFile("a.jsonl", jsonl(message(1)).encode())
            )
        job.refresh_from_db()
        assert (job.status, job.enqueued_at) == (ImportJob.PENDING, None)

        monkeypatch.setattr(import_job_run, "apply_async", lambda args, **options: published.append(args[0]))
        assert recover() == [job.pk]
        assert published == [job.pk]
        job.refresh_from_db()
        assert job.enqueued_at is not None

    def test_jobs_a_restarted_broker_forgot_are_sent_again(self, project, write, recover, published):
        sent = timezone.now() - timedelta(minutes=1)
        first = pending_job(project, write, enqueued_at=sent)
        second = pending_job(project, write, enqueued_at=sent)

        assert sorted(recover()) == sorted([first.pk, second.pk])
        assert sorted(published) == sorted([first.pk, second.pk])

    def test_a_job_whose_message_still_waits_is_not_sent_twice(
        self, project, write, recover, published, queue_depth
    ):
        queue_depth["messages"] = 1
        pending_job(project, write, enqueued_at=timezone.now() - timedelta(minutes=1))

        assert recover() == []
        assert published == []

    def test_one_sent_long_ago_is_sent_again_as_a_backstop(
        self, project, write, recover, published, queue_depth
    ):
        queue_depth["messages"] = 1
        job = pending_job(project, write, enqueued_at=timezone.now() - timedelta(hours=2))

        assert recover() == [job.pk]


class TestDeadWorkers:
    def test_a_live_worker_keeps_its_job(self, project, write, recover, published):
        job = import_job_claim(job_id=pending_job(project, write).pk)

        assert recover() == []
        assert import_job_claim(job_id=job.pk) is None  # a redelivered message
        job.refresh_from_db()
        assert (job.status, job.attempts) == (ImportJob.RUNNING, 1)

    def test_an_orphaned_job_goes_back_on_the_queue_and_runs_again(
        self, project, write, recover, published
    ):
        job = import_job_claim(job_id=pending_job(project, write).pk)
        orphan(job)

        assert recover() == [job.pk]
        job.refresh_from_db()
        assert job.status == ImportJob.PENDING
        assert job.error == "attempt 1: the worker stopped (no heartbeat) before the import ended"
        assert published == [job.pk]

        import_job_run(job.pk)
        job.refresh_from_db()
        assert (job.status, job.attempts, job.messages_added, job.error) == (ImportJob.DONE, 2, 1, "")

    def test_an_import_that_kills_its_worker_every_time_fails_at_its_attempt_limit(
        self, project, write, recover, published
    ):
        job = pending_job(project, write)
        for attempt in range(1, job.max_attempts + 1):
            claimed = import_job_claim(job_id=job.pk)
            assert claimed.attempts == attempt
            orphan(claimed)
            recover()

        job.refresh_from_db()
        assert job.status == ImportJob.FAILED
        assert job.error == (
            "gave up after 3 attempts; the last: attempt 3: the worker stopped (no heartbeat) "
            "before the import ended"
        )
        assert published == [job.pk, job.pk]  # after attempts 1 and 2, not after the last
        assert recover() == []
        assert import_job_claim(job_id=job.pk) is None

    def test_a_redelivered_message_for_an_exhausted_job_fails_it(self, project, write):
        job = pending_job(project, write, attempts=3, error="attempt 3: the worker stopped")

        assert import_job_claim(job_id=job.pk) is None
        job.refresh_from_db()
        assert job.status == ImportJob.FAILED
        assert job.error == "gave up after 3 attempts; the last: attempt 3: the worker stopped"


def test_the_beat_runs_import_recovery(settings):
    schedule = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "annotation.import_jobs_recover" in schedule


def test_an_interrupted_attempt_is_queued_again_after_a_pause(
    project, write, monkeypatch, django_capture_on_commit_callbacks
):
    job = pending_job(project, write)
    sent = []
    monkeypatch.setattr(
        import_job_run, "apply_async", lambda args, **options: sent.append(options["countdown"])
    )

    def connection_dropped(**kwargs):
        raise import_services.ImportInterrupted("server closed the connection")

    def execute(*, job):
        job.requeue("the database connection failed")
        connection_dropped()

    monkeypatch.setattr(import_services, "import_job_execute", execute)
    with django_capture_on_commit_callbacks(execute=True):
        import_job_run(job.pk)

    job.refresh_from_db()
    assert (job.status, job.attempts) == (ImportJob.PENDING, 1)
    assert sent == [import_services.RETRY_SECONDS]
