"""Starting an import from an uploaded file: store it, record the job, enqueue it.

The upload page and the JSON API both start imports here, so an upload is
kept and queued the same way whichever door it came through.
"""

import uuid
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from annotation.importers.detect import FORMATS
from annotation.models import ImportJob, Project
from annotation.tasks import import_job_run


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
    folder = Path(settings.MEDIA_ROOT) / "imports" / uuid.uuid4().hex
    folder.mkdir(parents=True)
    suffix = "".join(Path(upload.name).suffixes[-2:])[:16]
    safe_suffix = suffix if all(ch.isalnum() or ch == "." for ch in suffix) else ""
    path = folder / f"upload{safe_suffix}"
    with open(path, "wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    return path


@transaction.atomic
def import_job_start(
    *, project: Project, upload, corpus_name: str = "", format: str = "", created_by=None
) -> ImportJob:
    """Store the upload and queue its import; an empty format means "detect it"."""
    if format and format not in FORMATS:
        raise ValidationError({"format": f"unknown format {format!r}; one of {', '.join(FORMATS)}"})
    job = ImportJob.objects.create(
        project=project,
        corpus_name=corpus_name.strip() or "default",
        file_name=upload.name[:255],
        path=str(upload_store(upload)),
        format=format,
        bytes_total=upload.size,
        created_by=created_by,
    )
    transaction.on_commit(lambda: import_job_run.delay(job.pk))
    return job
