from typing import Literal

from django.core.exceptions import ValidationError
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from ninja import Router, Status
from ninja.errors import HttpError

from annotation import batches, exports, permissions
from annotation.models import Batch
from api.endpoints import ERRORS, project_for
from api.schemas import BatchIn, BatchOut, Error

router = Router(tags=["batches"])


@router.get("/projects/{project_id}/batches", response={200: list[BatchOut], **ERRORS})
def batch_list(request, project_id: int):
    project, _ = project_for(request, project_id, roles=permissions.LEADS)
    return Batch.objects.filter(project=project).order_by("-created_at")


@router.post("/projects/{project_id}/batches", response={201: BatchOut, 409: Error, **ERRORS})
def batch_create(request, project_id: int, payload: BatchIn):
    """A draft batch of the reviewed (or all labelled) items' current labels; freeze it to train on it.

    409 when another request created a batch of the same name at the same moment.
    """
    project, _ = project_for(request, project_id, roles=permissions.LEADS)
    try:
        batch = batches.batch_create_selected(
            project=project,
            name=payload.name,
            selection=payload.selection,
            created_by=request.auth,
            eval_share=payload.eval_share,
        )
    except batches.BatchNameTaken as taken:
        return Status(409, {"detail": "; ".join(taken.messages)})
    return Status(201, batch)


@router.get("/projects/{project_id}/batches/{batch_id}", response={200: BatchOut, **ERRORS})
def batch_detail(request, project_id: int, batch_id: int):
    project, _ = project_for(request, project_id, roles=permissions.LEADS)
    return get_object_or_404(Batch, pk=batch_id, project=project)


@router.post("/projects/{project_id}/batches/{batch_id}/freeze", response={200: BatchOut, 409: Error, **ERRORS})
def batch_freeze(request, project_id: int, batch_id: int):
    """Freeze a draft for good; its content hash names its exact export.

    Freezing starts a run on each ladder attached to the project.
    """
    project, _ = project_for(request, project_id, roles=permissions.LEADS)
    batch = get_object_or_404(Batch, pk=batch_id, project=project)
    try:
        batch = batches.batch_freeze(batch=batch, user=request.auth)
    except ValidationError as error:
        # A freeze is refused for the state things are in (frozen already, or a
        # ladder of the project that cannot run), never for the request's shape.
        return Status(409, {"detail": "; ".join(error.messages)})
    return batch


def frozen_batch(request, project_id: int, batch_id: int) -> Batch:
    """The project's batch for a lead; 409 while it is still a draft."""
    project, _ = project_for(request, project_id, roles=permissions.LEADS)
    batch = get_object_or_404(Batch, pk=batch_id, project=project)
    if not batch.is_frozen:
        raise HttpError(409, f"batch {batch.name!r} is a draft; freeze it before exporting")
    return batch


def export_response(*, batch: Batch, split: str, kind: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        exports.export_chunks(batch=batch, split=split, kind=kind), content_type=exports.CONTENT_TYPES[kind]
    )
    name = exports.file_name(batch=batch, split=split, kind=kind)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@router.get(
    "/projects/{project_id}/batches/{batch_id}/export",
    response={200: None, 409: Error, **ERRORS},
    openapi_extra={
        "responses": {
            200: {
                "description": "The split's alpaca records as a JSON array",
                "content": {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}},
            }
        }
    },
)
def batch_export(request, project_id: int, batch_id: int, split: Literal["train", "eval", "all"] = "all"):
    """Download a frozen batch's alpaca JSON: train, eval, or both (train then eval)."""
    batch = frozen_batch(request, project_id, batch_id)
    return export_response(batch=batch, split=split, kind="alpaca")


@router.get(
    "/projects/{project_id}/batches/{batch_id}/export/parquet",
    response={200: None, 409: Error, **ERRORS},
    openapi_extra={
        "responses": {
            200: {
                "description": "The split's alpaca records (instruction, input, output) as a Parquet file",
                "content": {"application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}}},
            }
        }
    },
)
def batch_export_parquet(request, project_id: int, batch_id: int, split: Literal["train", "eval"] = "train"):
    """Download one split of a frozen batch as Parquet for `datasets.load_dataset("parquet", …)`.

    The same records and strings as the alpaca export, in the same order; the
    file's metadata carries `ladderlab.content_hash`, the batch, project and split.
    """
    batch = frozen_batch(request, project_id, batch_id)
    return export_response(batch=batch, split=split, kind="parquet")


@router.get(
    "/projects/{project_id}/batches/{batch_id}/export/axolotl",
    response={200: None, 409: Error, **ERRORS},
    openapi_extra={
        "responses": {
            200: {
                "description": "An axolotl config (YAML) for the batch's Parquet files",
                "content": {
                    "application/yaml": {
                        "schema": {"type": "object", "required": ["base_model", "adapter", "datasets"]}
                    }
                },
            }
        }
    },
)
def batch_export_axolotl(request, project_id: int, batch_id: int):
    """Download an axolotl config training on the batch's Parquet files as the project's largest rung trains."""
    batch = frozen_batch(request, project_id, batch_id)
    return export_response(batch=batch, split="train", kind="axolotl")
