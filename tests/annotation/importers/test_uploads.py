"""An upload is kept only while its import waits or runs; a per-project quota bounds what waits."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from annotation import services
from annotation.importers import import_job_execute, jobs
from annotation.models import ImportJob
from api.tokens import api_token_create
from tests.annotation.importers.conftest import jsonl, message


def upload_file(content: str, name: str = "messages.jsonl") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content.encode())


def start(project, content: str) -> ImportJob:
    return jobs.import_job_start(project=project, upload=upload_file(content))


class TestUploadDeletedWhenTheJobEnds:
    def test_done(self, project, django_capture_on_commit_callbacks):
        job = start(project, jsonl(message(1)))
        stored = Path(job.path)
        assert stored.exists()

        with django_capture_on_commit_callbacks(execute=True):
            import_job_execute(job=job)

        assert job.status == ImportJob.DONE
        assert not stored.exists() and not stored.parent.exists()

    def test_failed(self, project, django_capture_on_commit_callbacks):
        job = start(project, jsonl(message(1, sent_at="yesterday")))
        stored = Path(job.path)

        with django_capture_on_commit_callbacks(execute=True):
            import_job_execute(job=job)

        assert job.status == ImportJob.FAILED
        assert not stored.parent.exists()

    def test_a_file_the_command_imported_from_is_kept(
        self, project, write, django_capture_on_commit_callbacks
    ):
        own = write("mine.jsonl", jsonl(message(1)))
        job = ImportJob.objects.create(project=project, file_name=own.name, path=str(own))

        with django_capture_on_commit_callbacks(execute=True):
            import_job_execute(job=job)

        assert job.status == ImportJob.DONE and own.exists()


@pytest.fixture
def quota(settings):
    """Room for one 60-byte upload, not two."""
    settings.IMPORT_PROJECT_QUOTA_BYTES = 100
    return settings.IMPORT_PROJECT_QUOTA_BYTES


SIXTY_BYTES = "x" * 60


class TestQuota:
    def test_uploads_waiting_past_the_quota_are_refused_with_the_figures(self, project, quota):
        start(project, SIXTY_BYTES)

        with pytest.raises(jobs.UploadQuotaExceeded) as refused:
            start(project, SIXTY_BYTES)

        assert str(refused.value) == (
            "this project already has 60 bytes of uploads waiting to import; with this upload "
            "of 60 bytes that passes its quota of 100 bytes. Wait for those imports to finish, "
            "then upload again."
        )
        assert ImportJob.objects.count() == 1

    def test_an_ended_job_frees_its_share(self, project, quota, django_capture_on_commit_callbacks):
        first = start(project, SIXTY_BYTES)
        with django_capture_on_commit_callbacks(execute=True):
            import_job_execute(job=first)
        assert first.status == ImportJob.FAILED

        start(project, SIXTY_BYTES)

    def test_each_project_has_its_own(self, project, quota):
        other = services.project_create(name="Other chat")
        start(project, SIXTY_BYTES)

        start(other, SIXTY_BYTES)

    def test_the_upload_page_shows_why(self, project, lead, quota):
        start(project, SIXTY_BYTES)
        client = Client()
        client.force_login(lead)

        response = client.post(
            reverse("annotation:import_upload", args=[project.pk]),
            {"file": upload_file(SIXTY_BYTES), "format": "", "corpus": "default"},
        )

        assert response.status_code == 413
        assert "passes its quota of 100 bytes" in response.content.decode()
        assert ImportJob.objects.count() == 1

    def test_the_api_answers_413_with_why(self, project, lead, quota):
        start(project, SIXTY_BYTES)
        _, key = api_token_create(user=lead)

        response = Client().post(
            f"/api/v1/projects/{project.pk}/imports",
            {"file": upload_file(SIXTY_BYTES)},
            headers={"Authorization": f"Bearer {key}"},
        )

        assert response.status_code == 413
        assert "passes its quota of 100 bytes" in response.json()["detail"]
        assert ImportJob.objects.count() == 1
