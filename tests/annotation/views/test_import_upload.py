"""Uploading an import: a real worker runs it; the page polls until it is done."""

import json
import time

import pytest
from django.test import Client
from django.urls import reverse

from annotation.models import ImportJob, Message

pytestmark = pytest.mark.django_db(transaction=True)


def wait_until_final(job_id: int, seconds: float = 60) -> ImportJob:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = ImportJob.objects.get(pk=job_id)
        if job.is_final:
            return job
        time.sleep(0.2)
    raise AssertionError(f"import job {job_id} did not finish in {seconds} s")


def upload(client, project, name: str, content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(
        reverse("annotation:import_upload", args=[project.pk]),
        {"file": SimpleUploadedFile(name, content), "format": "", "corpus": "default"},
    )


def jsonl(rows) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def test_a_lead_uploads_a_file_and_watches_it_finish(celery_worker_process, project, lead):
    client = Client()
    client.force_login(lead)
    rows = [
        {"id": f"m{n}", "chat": "ops", "sender": "sam", "sent_at": f"2024-05-01T10:00:{n:02d}Z", "text": f"<i>hello</i> {n}"}
        for n in range(30)
    ]
    response = upload(client, project, "chat.jsonl", jsonl(rows))
    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert response["Location"].endswith(f"/imports/{job.pk}/")
    job = wait_until_final(job.pk)
    assert job.status == ImportJob.DONE, job.error
    assert Message.objects.count() == 30
    poll = client.get(response["Location"], HTTP_HX_REQUEST="true")
    assert poll.status_code == 286  # htmx stops polling
    assert "Imported <strong>30</strong> messages" in poll.content.decode()


def test_a_bad_file_is_rejected_whole_and_the_error_shown_verbatim(celery_worker_process, project, lead):
    client = Client()
    client.force_login(lead)
    good = {"id": "m1", "chat": "ops", "sender": "sam", "sent_at": "2024-05-01T10:00:00Z", "text": "hello there"}
    bad = {**good, "id": "m2", "sent_at": "2024-13-45T99:00:00Z"}
    response = upload(client, project, "broken.jsonl", jsonl([good, bad]))
    job = wait_until_final(ImportJob.objects.get().pk)
    assert job.status == ImportJob.FAILED
    assert "line 2" in job.error or ":2:" in job.error
    assert "sent_at" in job.error
    assert Message.objects.count() == 0
    page = client.get(response["Location"]).content.decode()
    assert "sent_at" in page and "nothing was imported" in page


def test_annotators_cannot_upload_and_oversized_uploads_are_refused(project, annotator, lead, settings):
    client = Client()
    client.force_login(annotator)
    assert upload(client, project, "x.jsonl", b"{}\n").status_code == 403
    settings.IMPORT_MAX_BYTES = 100
    client.force_login(lead)
    response = upload(client, project, "big.jsonl", b"x" * 500)
    assert response.status_code == 413
    assert not ImportJob.objects.exists()
