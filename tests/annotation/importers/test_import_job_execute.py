import threading

from django.db import connection

from annotation.importers import import_job_execute
from annotation.importers import services as import_services
from annotation.models import ImportJob, Message
from annotation.tasks import import_job_run
from tests.annotation.importers.conftest import jsonl, message


def job_for(project, path, **fields) -> ImportJob:
    return ImportJob.objects.create(
        project=project, file_name=path.name, path=str(path), **fields
    )


class TestImportJobExecute:
    def test_done_with_counts(self, project, write):
        path = write("messages.jsonl", jsonl(message(1), message(2)))
        job = job_for(project, path, corpus_name="support")

        import_job_execute(job=job)

        job.refresh_from_db()
        assert (job.status, job.format, job.error) == (ImportJob.DONE, "jsonl", "")
        assert (job.messages_added, job.messages_skipped) == (2, 0)
        assert job.bytes_done == job.bytes_total == path.stat().st_size
        assert job.finished_at is not None
        assert Message.objects.filter(corpus__name="support").count() == 2

    def test_deleting_a_job_keeps_its_messages_unmarked(self, project, write):
        job = job_for(project, write("messages.jsonl", jsonl(message(1), message(2))))
        import_job_execute(job=job)
        assert Message.objects.filter(import_job=job).count() == 2

        job.delete()

        assert list(Message.objects.values_list("import_job_id", flat=True)) == [None, None]

    def test_failed_with_the_error_verbatim(self, project, write):
        path = write("messages.jsonl", jsonl(message(1), message(2, sent_at="2024-13-01")))
        job = job_for(project, path)

        import_job_execute(job=job)

        job.refresh_from_db()
        assert job.status == ImportJob.FAILED
        assert job.error == "messages.jsonl:2: field 'sent_at': unparseable timestamp '2024-13-01'"
        assert job.finished_at is not None
        assert not Message.objects.exists()

    def test_missing_file_fails_the_job(self, project, tmp_path):
        job = job_for(project, tmp_path / "gone.jsonl")

        import_job_execute(job=job)

        job.refresh_from_db()
        assert job.status == ImportJob.FAILED
        assert job.error.endswith("gone.jsonl: no such file or directory")

    def test_named_format_is_used(self, project, write):
        path = write("upload.bin", "[10:00] <alice> hi\n")
        job = job_for(project, path, format="irc")

        import_job_execute(job=job)

        job.refresh_from_db()
        assert (job.status, job.messages_added) == (ImportJob.DONE, 1)


class TestImportJobRunTask:
    def test_runs_a_pending_job(self, project, write):
        job = job_for(project, write("messages.jsonl", jsonl(message(1))))

        import_job_run(job.pk)

        job.refresh_from_db()
        assert (job.status, job.messages_added) == (ImportJob.DONE, 1)

    def test_a_finished_job_is_left_alone(self, project, write):
        job = job_for(project, write("messages.jsonl", jsonl(message(1))),
                      status=ImportJob.FAILED, error="earlier failure")

        import_job_run(job.pk)

        job.refresh_from_db()
        assert (job.status, job.error) == (ImportJob.FAILED, "earlier failure")
        assert not Message.objects.exists()

    def test_a_deleted_job_is_ignored(self, db):
        import_job_run(987654)


def read_in_another_connection(job_id: int) -> int:
    seen = []

    def read():
        seen.append(ImportJob.objects.get(pk=job_id).bytes_done)
        connection.close()

    reader = threading.Thread(target=read)
    reader.start()
    reader.join()
    return seen[0]


def test_progress_is_visible_while_the_import_runs(transactional_db, project, write, monkeypatch):
    monkeypatch.setattr(import_services, "CHUNK_ROWS", 20)
    monkeypatch.setattr(import_services, "JOB_PROGRESS_SECONDS", 0.0)
    path = write("messages.jsonl", jsonl(*(message(n) for n in range(100))))
    job = job_for(project, path)
    seen = []

    def observe(done, total):
        if done < total:
            seen.append((done, read_in_another_connection(job.pk)))

    import_job_execute(job=job, progress=observe)

    assert len(seen) == 4  # the fifth chunk ends the file
    assert all(done == visible for done, visible in seen)
    job.refresh_from_db()
    assert job.status == ImportJob.DONE and job.bytes_done == path.stat().st_size
