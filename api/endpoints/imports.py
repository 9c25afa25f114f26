from django.http import JsonResponse
from django.shortcuts import get_object_or_404
from ninja import File, Form, Router, Status, UploadedFile
from ninja.decorators import decorate_view

from annotation import permissions
from annotation.importers import jobs
from annotation.models import ImportJob
from api.endpoints import ERRORS, project_for
from api.schemas import Error, ImportJobOut

router = Router(tags=["imports"])


def _refuse_too_large(view):
    """Answer 413 from the declared Content-Length, before any of the body is read."""

    def wrapper(request, *args, **kwargs):
        too_large = jobs.upload_too_large(request.META.get("CONTENT_LENGTH"))
        if too_large:
            return JsonResponse({"detail": too_large}, status=413)
        return view(request, *args, **kwargs)

    return wrapper


@router.post(
    "/projects/{project_id}/imports",
    response={201: ImportJobOut, 413: Error, **ERRORS},
)
@decorate_view(_refuse_too_large)
def import_start(
    request,
    project_id: int,
    file: File[UploadedFile],
    corpus: Form[str] = "default",
    format: Form[str] = "",
):
    """Upload a file (JSONL, CSV, Slack, Telegram, IRC log, Label Studio) and queue its import.

    An empty format is detected from the file. Poll the job until its status
    is "done" or "failed"; a failed import changed nothing and names the file,
    line and field. 413 when the file is over the size limit, or when the
    project's uploads still waiting to import would pass its quota.
    """
    project, _ = project_for(request, project_id, roles=permissions.LEADS)
    try:
        job = jobs.import_job_start(
            project=project, upload=file, corpus_name=corpus, format=format, created_by=request.auth
        )
    except jobs.UploadQuotaExceeded as refused:
        return Status(413, {"detail": str(refused)})
    return Status(201, job)


@router.get("/projects/{project_id}/imports/{job_id}", response={200: ImportJobOut, **ERRORS})
def import_status(request, project_id: int, job_id: int):
    """An import job's status, progress in bytes, counts and error."""
    project, _ = project_for(request, project_id, roles=permissions.LEADS)
    return get_object_or_404(ImportJob, pk=job_id, project=project)
