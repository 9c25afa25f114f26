"""PostgreSQL drops the connection in the middle of an import: nothing lands, and the job runs again."""

import psycopg
import pytest
from django.db import connection

from annotation.importers import ImportInterrupted, import_job_execute
from annotation.importers.services import CONNECTION_LOST
from annotation.models import ImportJob, Message
from annotation.sample_corpus import write_jsonl

pytestmark = pytest.mark.django_db(transaction=True)


def terminate_backend_once():
    """A progress callback that kills the import's own database session on its first call."""
    fired = []

    def progress(done_bytes, total_bytes):
        if fired:
            return
        fired.append(done_bytes)
        settings = connection.settings_dict
        pid = connection.connection.info.backend_pid
        with psycopg.connect(
            host=settings["HOST"] or "127.0.0.1", port=settings["PORT"] or 5432,
            user=settings["USER"] or "postgres", dbname=settings["NAME"], autocommit=True,
        ) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])

    return progress


def test_a_dropped_connection_rolls_the_import_back_and_a_rerun_completes(project, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL to drop a session")
    path = tmp_path / "corpus.jsonl"
    write_jsonl(path=path, messages=30_000, seed=3)
    job = ImportJob.objects.create(project=project, file_name=path.name, path=str(path))
    with pytest.raises(ImportInterrupted):
        import_job_execute(job=job, progress=terminate_backend_once())
    job.refresh_from_db()
    assert (job.status, job.attempts) == (ImportJob.PENDING, 1)
    assert job.error.startswith(CONNECTION_LOST)
    assert Message.objects.count() == 0
    import_job_execute(job=job)
    job.refresh_from_db()
    assert job.status == ImportJob.DONE and job.error == ""
    assert Message.objects.count() == job.messages_added == 30_000
    assert job.attempts == 2
