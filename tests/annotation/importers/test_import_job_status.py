"""An import job's status moves only through its transition methods, which refuse illegal moves."""

import re
from pathlib import Path

import pytest
from django.conf import settings

from annotation.models import ImportJob, ImportJobTransitionError


@pytest.fixture
def job(project):
    return ImportJob.objects.create(project=project, file_name="a.jsonl", path="/nowhere/a.jsonl")


class TestLegalMoves:
    def test_start_then_finish(self, job):
        job.start()
        assert (job.status, job.attempts) == (ImportJob.RUNNING, 1)
        assert job.heartbeat_at is not None
        job.finish(format="jsonl", added=3, skipped=1)
        job.refresh_from_db()
        assert (job.status, job.messages_added, job.messages_skipped) == (ImportJob.DONE, 3, 1)
        assert job.finished_at is not None

    def test_a_requeued_job_starts_its_next_attempt(self, job):
        job.start()
        job.requeue("the database went away")
        job.refresh_from_db()
        assert (job.status, job.error, job.heartbeat_at) == (
            ImportJob.PENDING, "the database went away", None,
        )
        job.start()
        assert job.attempts == 2

    @pytest.mark.parametrize("started", [False, True])
    def test_pending_or_running_can_fail(self, job, started):
        if started:
            job.start()
        job.fail("bad input")
        job.refresh_from_db()
        assert (job.status, job.error) == (ImportJob.FAILED, "bad input")


class TestIllegalMoves:
    @pytest.mark.parametrize(
        "move",
        [
            lambda job: job.finish(format="jsonl", added=0, skipped=0),
            lambda job: job.requeue("why"),
        ],
    )
    def test_a_pending_job_cannot_finish_or_be_requeued(self, job, move):
        with pytest.raises(ImportJobTransitionError, match="is pending"):
            move(job)
        job.refresh_from_db()
        assert job.status == ImportJob.PENDING

    @pytest.mark.parametrize("final", ["done", "failed"])
    @pytest.mark.parametrize(
        "move",
        [
            lambda job: job.start(),
            lambda job: job.finish(format="jsonl", added=0, skipped=0),
            lambda job: job.fail("again"),
            lambda job: job.requeue("again"),
        ],
    )
    def test_a_final_job_never_moves(self, job, final, move):
        job.start()
        if final == "done":
            job.finish(format="jsonl", added=1, skipped=0)
        else:
            job.fail("first failure")
        with pytest.raises(ImportJobTransitionError, match=f"is {final}"):
            move(job)
        job.refresh_from_db()
        assert job.status == final

    def test_a_running_job_cannot_start_twice(self, job):
        job.start()
        with pytest.raises(ImportJobTransitionError, match="is running"):
            job.start()
        assert job.attempts == 1


# `status=ImportJob.X` or `.status = ImportJob.X` outside a filter: a write.
STATUS_WRITE = re.compile(r"\bstatus\s*=\s*ImportJob\.[A-Z]+")
READS = ("filter(", "exclude(", "Q(", "==", "!=", "status__")


def test_no_code_writes_an_import_job_status_but_its_transitions():
    writes = []
    for app in ("annotation", "api", "training", "scaling"):
        for source in sorted((Path(settings.BASE_DIR) / app).rglob("*.py")):
            if source.name == "models.py" or "migrations" in source.parts:
                continue
            for number, line in enumerate(source.read_text().splitlines(), 1):
                if STATUS_WRITE.search(line) and not any(read in line for read in READS):
                    writes.append(f"{source.relative_to(settings.BASE_DIR)}:{number}: {line.strip()}")
    assert writes == []
