"""Batches: a draft set of labelled items, then frozen for good.

The train/eval split is by chat and by hash: a chat is in eval when the first
64 bits of sha256(chat id), as a fraction of 2^64, fall below the eval share.
Every item of a chat lands on the same side, in every batch and every
re-freeze, so no later batch trains on a chat an earlier one evaluated on (for
the same share). When the hash puts every chat of a batch on one side, the chat
with the smallest hash goes to eval, so both splits are non-empty whenever the
batch spans two or more chats.

Cross-fitted label checking splits the train split into folds the same way:
by chat, by the next 64 bits of the same digest, so a fold never splits a
chat and an item keeps its fold across re-freezes.
"""

import hashlib

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from annotation import exports, selectors
from annotation.models import Batch, BatchItem, Item, Project
from annotation.signals import batch_frozen


class BatchNameTaken(ValidationError):
    """Another request created a batch of this name between our check and our insert."""


def chat_fraction(chat_external_id: str) -> float:
    digest = hashlib.sha256(chat_external_id.encode()).hexdigest()
    return int(digest[:16], 16) / 2**64


def chat_fold(chat_external_id: str, folds: int) -> int:
    """The fold (0 … folds-1) of the train split a chat belongs to."""
    digest = hashlib.sha256(chat_external_id.encode()).hexdigest()
    return int(digest[16:32], 16) % folds


def eval_chats(chat_ids: list[str], *, eval_share: float) -> set[str]:
    """The chats of a batch that belong to its eval split."""
    chosen = {chat for chat in chat_ids if chat_fraction(chat) < eval_share}
    distinct = set(chat_ids)
    if len(distinct) >= 2 and eval_share > 0:
        if not chosen:
            chosen = {min(distinct, key=chat_fraction)}
        elif chosen == distinct:
            chosen = distinct - {max(distinct, key=chat_fraction)}
    return chosen


BATCH_SELECTIONS = {
    "reviewed": "reviewed items",
    "labelled": "all labelled items",
}


def batch_candidates(*, project: Project, selection: str, filters: dict) -> QuerySet[Item]:
    """The labelled items a new batch would take: reviewed ones only, or all labelled."""
    if selection not in BATCH_SELECTIONS:
        raise ValidationError(
            {"selection": f"unknown selection {selection!r}; one of {', '.join(BATCH_SELECTIONS)}"}
        )
    items = selectors.item_browse(project=project, filters=filters).exclude(label="")
    return items.filter(reviewed=True) if selection == "reviewed" else items


@transaction.atomic
def batch_create(
    *, project: Project, name: str, items: QuerySet[Item], created_by=None, eval_share: float | None = None
) -> Batch:
    """A draft batch of the items' current labels; "don't know" labels are left out."""
    # The task as stored now: its text renders the records, its version is stamped on the batch.
    project = Project.objects.get(pk=project.pk)
    name = name.strip()
    if not name:
        raise ValidationError({"name": "a batch needs a name"})
    if Batch.objects.filter(project=project, name=name).exists():
        raise ValidationError({"name": f"project {project.name!r} already has a batch named {name!r}"})
    share = project.eval_share if eval_share is None else eval_share
    if not 0 <= share < 1:
        raise ValidationError({"eval_share": f"eval share must be in [0, 1), not {share}"})
    rows = list(
        items.filter(project=project)
        .order_by("id")
        .values_list("current_annotation_id", "sent_at", *exports.ITEM_FIELDS)
    )
    unlabelled = [row[2] for row in rows if row[0] is None]
    if unlabelled:
        raise ValidationError(
            {"items": f"item {unlabelled[0]} has no label ({len(unlabelled)} unlabelled in all)"}
        )
    kept = [row for row in rows if row[3] not in project.abstain_options]
    if not kept:
        raise ValidationError({"items": "no labelled items to put in a batch"})
    # Export order: chat id, time, message id — stable across databases.
    kept.sort(key=lambda row: (row[8], row[1], row[9]))
    try:
        with transaction.atomic():
            batch = Batch.objects.create(
                project=project, name=name, eval_share=share, created_by=created_by, task_version=project.task_version
            )
    except IntegrityError as error:
        # The name check above saw no such batch; a concurrent one committed since.
        raise BatchNameTaken(
            {"name": f"another batch named {name!r} was created in {project.name!r} at the same moment"}
        ) from error
    in_eval = eval_chats([row[8] for row in kept], eval_share=share)
    batch_items = []
    for position, row in enumerate(kept):
        rendered = exports.export_row(project=project, row=row[2:])
        batch_items.append(
            BatchItem(
                batch=batch,
                item_id=row[2],
                annotation_id=row[0],
                label=row[3],
                split=BatchItem.EVAL if row[8] in in_eval else BatchItem.TRAIN,
                position=position,
                record=exports.record_line(rendered),
                choices=exports.stored_choices(rendered),
            )
        )
    BatchItem.objects.bulk_create(batch_items, batch_size=2000)
    batch.left_out = len(rows) - len(kept)
    return batch


@transaction.atomic
def batch_refresh(*, batch: Batch) -> Batch:
    """Re-read the draft's items' current labels (a lead fixed some since)."""
    batch = Batch.objects.select_for_update().get(pk=batch.pk)
    if batch.is_frozen:
        raise ValidationError({"batch": f"batch {batch.name!r} is frozen and cannot change"})
    project = batch.project
    for batch_item in BatchItem.objects.filter(batch=batch).select_related("item"):
        if batch_item.item.current_annotation_id != batch_item.annotation_id:
            batch_item.annotation_id = batch_item.item.current_annotation_id
            batch_item.label = batch_item.item.label
            row = Item.objects.filter(pk=batch_item.item_id).values_list(*exports.ITEM_FIELDS).get()
            rendered = exports.export_row(project=project, row=row)
            batch_item.record = exports.record_line(rendered)
            batch_item.choices = exports.stored_choices(rendered)
            batch_item.save(update_fields=["annotation", "label", "record", "choices"])
    return batch


@transaction.atomic
def batch_freeze(*, batch: Batch, user=None) -> Batch:
    """Freeze a draft: its labels are the snapshot, its hash names its exact export."""
    batch = Batch.objects.select_for_update().get(pk=batch.pk)
    batch.check_move(Batch.FROZEN)  # refused before the export is hashed
    # Locked, so that a task change waits for this freeze and then sees it (a new task version).
    project = Project.objects.select_for_update().get(pk=batch.project_id)
    if batch.task_version != project.task_version:
        # Its records were rendered under the old task: freezing them would train the old one.
        raise ValidationError({"batch": (
            f"the task changed since draft {batch.name!r} was made (task v{batch.task_version}, now "
            f"v{batch.project.task_version}): make the batch again to freeze it under the current task"
        )})
    batch.freeze(
        content_hash=exports.content_hash(batch=batch),
        train_count=BatchItem.objects.filter(batch=batch, split=BatchItem.TRAIN).count(),
        eval_count=BatchItem.objects.filter(batch=batch, split=BatchItem.EVAL).count(),
    )
    batch_frozen.send(sender=Batch, batch=batch, user=user)
    return batch


@transaction.atomic
def batch_create_frozen(
    *,
    project: Project,
    name: str,
    selection: str,
    filters: dict | None = None,
    created_by=None,
    eval_share: float | None = None,
) -> Batch:
    """A batch of the selected items, frozen at once (which starts its runs): all or nothing.

    Refused with ValidationError, leaving no draft behind, when the name is
    taken, nothing qualifies, or the freeze is refused.
    """
    batch = batch_create_selected(
        project=project, name=name, selection=selection, filters=filters, created_by=created_by, eval_share=eval_share
    )
    return batch_freeze(batch=batch, user=created_by)


def batch_create_selected(
    *,
    project: Project,
    name: str,
    selection: str,
    filters: dict | None = None,
    created_by=None,
    eval_share: float | None = None,
) -> Batch:
    """A draft of the reviewed (or all labelled) items matching the browser's filters."""
    items = batch_candidates(project=project, selection=selection, filters=filters or {})
    return batch_create(project=project, name=name, items=items, created_by=created_by, eval_share=eval_share)


def batch_preview(*, project: Project, items: QuerySet[Item], eval_share: float | None = None) -> dict:
    """Counts per label and per split a batch of these items would have."""
    share = project.eval_share if eval_share is None else eval_share
    rows = list(items.filter(project=project).exclude(label="").values_list("label", "chat__external_id"))
    kept = [row for row in rows if row[0] not in project.abstain_options]
    in_eval = eval_chats([chat for _, chat in kept], eval_share=share)
    counts: dict[str, dict[str, int]] = {}
    for label, chat in kept:
        split = BatchItem.EVAL if chat in in_eval else BatchItem.TRAIN
        counts.setdefault(label, {BatchItem.TRAIN: 0, BatchItem.EVAL: 0})[split] += 1
    return {
        "by_label": counts,
        "train": sum(c[BatchItem.TRAIN] for c in counts.values()),
        "eval": sum(c[BatchItem.EVAL] for c in counts.values()),
        "left_out": len(rows) - len(kept),
        "eval_share": share,
    }
