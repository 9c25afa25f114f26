"""Starting an import from an uploaded file: store it, record the job, enqueue it.

The upload page and the JSON API both start imports here, so an upload is
kept, counted against its project's quota and queued the same way whichever
door it came through. An upload is deleted once its job ends.
"""

import logging
import shutil
import uuid
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from annotation.importers.detect import FORMATS
from annotation.models import ImportJob, Project
from annotation.tasks import import_job_run

logger = logging.getLogger(__name__)


class UploadQuotaExceeded(Exception):
    """The project's stored uploads plus this one would pass IMPORT_PROJECT_QUOTA_BYTES."""


def uploads_folder() -> Path:
    return Path(settings.MEDIA_ROOT) / "imports"


def upload_too_large(content_length: str | None) -> str:
    """Why an upload with this declared Content-Length is refused, or "" when it may be read.

    Read as Django reads it: a malformed length means no body, not an error.
    """
    try:
        declared_bytes = int(content_length or 0)
    except ValueError:
        declared_bytes = 0
    if declared_bytes > settings.IMPORT_MAX_BYTES:
        return f"the upload is {declared_bytes:,} bytes; the limit is {settings.IMPORT_MAX_BYTES:,} bytes"
    return ""


def upload_store(upload) -> Path:
    """Keep an uploaded file under MEDIA_ROOT/imports with a name we choose.

    The client's file name is never part of the path, so it cannot climb out of
    the folder or pick an extension a web server would execute.
    """
    folder = uploads_folder() / uuid.uuid4().hex
    folder.mkdir(parents=True)
    suffix = "".join(Path(upload.name).suffixes[-2:])[:16]
    safe_suffix = suffix if all(ch.isalnum() or ch == "." for ch in suffix) else ""
    path = folder / f"upload{safe_suffix}"
    with open(path, "wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    return path


def upload_discard(*, job: ImportJob) -> None:
    """Delete a job's stored upload; a file the job only points at (the command's) is kept."""
    path = Path(job.path)
    folder = path.parent
    if folder.parent != uploads_folder() or not path.name.startswith("upload"):
        return
    shutil.rmtree(folder, ignore_errors=True)


def uploads_pending_bytes(*, project: Project) -> int:
    """Bytes of this project's uploads still stored: those whose job has not ended."""
    stored = ImportJob.objects.filter(
        project=project, status__in=[ImportJob.PENDING, ImportJob.RUNNING],
        path__startswith=str(uploads_folder()),
    ).aggregate(total=Sum("bytes_total"))["total"]
    return stored or 0


def _check_quota(*, project: Project, upload_bytes: int) -> None:
    quota = settings.IMPORT_PROJECT_QUOTA_BYTES
    stored = uploads_pending_bytes(project=project)
    if stored + upload_bytes > quota:
        raise UploadQuotaExceeded(
            f"this project already has {stored:,} bytes of uploads waiting to import; with "
            f"this upload of {upload_bytes:,} bytes that passes its quota of {quota:,} bytes. "
            "Wait for those imports to finish, then upload again."
        )


def import_job_enqueue_on_commit(*, job_id: int, countdown: float = 0) -> None:
    """Send the job to a worker once the transaction commits.

    Marked sent only once the broker took it: a failed publish is logged and
    leaves the job for `import_jobs_recover`, instead of failing the request.
    """

    def enqueue() -> None:
        try:
            import_job_run.apply_async(args=[job_id], countdown=countdown or None)
        except Exception:
            logger.exception("import job %s could not be queued; recovery sends it again", job_id)
            return
        ImportJob.objects.filter(pk=job_id).update(enqueued_at=timezone.now())

    transaction.on_commit(enqueue)


@transaction.atomic
def import_job_start(
    *, project: Project, upload, corpus_name: str = "", format: str = "", created_by=None
) -> ImportJob:
    """Store the upload and queue its import; an empty format means "detect it".

    Raises `UploadQuotaExceeded` when the project's waiting uploads and this
    one would pass its quota; the project row is locked so two uploads at
    once cannot both slip under it.
    """
    if format and format not in FORMATS:
        raise ValidationError({"format": f"unknown format {format!r}; one of {', '.join(FORMATS)}"})
    Project.objects.select_for_update().filter(pk=project.pk).first()
    _check_quota(project=project, upload_bytes=upload.size)
    job = ImportJob.objects.create(
        project=project,
        corpus_name=corpus_name.strip() or "default",
        file_name=upload.name[:255],
        path=str(upload_store(upload)),
        format=format,
        bytes_total=upload.size,
        created_by=created_by,
    )
    import_job_enqueue_on_commit(job_id=job.pk)
    return job
