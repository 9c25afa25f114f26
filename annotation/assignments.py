"""Leased assignment of items to annotators.

An annotator's next item is claimed atomically. On PostgreSQL candidates are
locked with `SELECT … FOR UPDATE SKIP LOCKED`, so concurrent claims pass each
other instead of queueing; the locked item is then checked again with a fresh
statement, because the first statement's snapshot may predate a lease another
transaction committed a moment ago. Every lease is created while its item row
is locked, so that second check is exact. On SQLite the embedded default opens
write transactions IMMEDIATE, which serialises claims outright.

A lease lapses at `expires_at` and the item returns to the pool; nothing has to
sweep. With `project.overlap = k`, exactly k distinct annotators get an item.
"""

from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotation.models import Annotation, Assignment, Item, Project

CLAIM_ATTEMPTS = 20
LABEL_KINDS = [Annotation.LABEL, Annotation.SIMULATED]


def _active_leases(now):
    """Open, unexpired leases of the outer item, as a count subquery."""
    return Coalesce(
        Subquery(
            Assignment.objects.filter(
                item=OuterRef("pk"),
                completed_at__isnull=True,
                released_at__isnull=True,
                expires_at__gt=now,
            )
            .values("item")
            .annotate(count=Count("pk"))
            .values("count"),
            output_field=IntegerField(),
        ),
        Value(0),
    )


def claimable_items(*, project: Project, annotator, now=None):
    """Items this annotator may be given: not theirs already, capacity left."""
    now = now or timezone.now()
    return (
        Item.objects.filter(project=project, annotation_count__lt=project.overlap)
        .exclude(
            Exists(
                Annotation.objects.filter(
                    item=OuterRef("pk"), annotator=annotator, kind__in=LABEL_KINDS
                )
            )
        )
        .exclude(
            Exists(
                Assignment.objects.filter(
                    item=OuterRef("pk"), annotator=annotator, released_at__isnull=False
                )
            )
        )
        .alias(active=_active_leases(now))
        .filter(annotation_count__lt=project.overlap - F("active"))
    )


def lease_open(*, project: Project, annotator, now=None) -> Assignment | None:
    """The annotator's open, unexpired lease in this project, if any."""
    now = now or timezone.now()
    return (
        Assignment.objects.filter(
            item__project=project,
            annotator=annotator,
            completed_at__isnull=True,
            released_at__isnull=True,
            expires_at__gt=now,
        )
        .select_related("item")
        # The newest first: after an undo, the reopened item comes before the
        # one the annotator had already been given.
        .order_by("-leased_at")
        .first()
    )


def assignment_claim_next(*, project: Project, annotator, now=None) -> Assignment | None:
    """Lease the annotator's next item, or resume their open lease; None when done.

    Items closest to their overlap come first (finishing an item beats
    starting one), then by id. Each pass asks for one exact label count, so
    the (project, annotation_count, id) index yields candidates in order
    without scanning past the items already done.
    """
    now = now or timezone.now()
    with transaction.atomic():
        current = lease_open(project=project, annotator=annotator, now=now)
        if current is not None:
            return current
        skip_locked = connection.features.has_select_for_update_skip_locked
        for label_count in reversed(range(project.overlap)):
            tried: list[int] = []
            for _ in range(CLAIM_ATTEMPTS):
                candidates = claimable_items(project=project, annotator=annotator, now=now).filter(
                    annotation_count=label_count
                )
                if tried:
                    candidates = candidates.exclude(pk__in=tried)
                if skip_locked:
                    candidates = candidates.select_for_update(skip_locked=True, of=("self",))
                item = candidates.order_by("id").first()
                if item is None:
                    break
                # Fresh statement, fresh snapshot: sees leases committed since the first.
                if claimable_items(project=project, annotator=annotator, now=now).filter(pk=item.pk).exists():
                    assignment = Assignment.objects.create(
                        item=item,
                        annotator=annotator,
                        leased_at=now,
                        expires_at=now + timedelta(seconds=project.lease_seconds),
                    )
                    return assignment
                tried.append(item.pk)
    return None


@transaction.atomic
def assignment_skip(*, assignment: Assignment) -> None:
    """Give the item back without a label; this annotator is not offered it again."""
    Assignment.objects.filter(pk=assignment.pk, completed_at__isnull=True).update(
        released_at=timezone.now()
    )


@transaction.atomic
def assignment_reopen(*, project: Project, annotator, item: Item, now=None) -> Assignment:
    """Lease an item the annotator already labelled again, to change the label (undo)."""
    now = now or timezone.now()
    Item.objects.select_for_update().filter(pk=item.pk).first()
    existing = Assignment.objects.filter(
        item=item, annotator=annotator, completed_at__isnull=True, released_at__isnull=True
    ).first()
    if existing is not None:
        existing.expires_at = now + timedelta(seconds=project.lease_seconds)
        existing.save(update_fields=["expires_at"])
        return existing
    return Assignment.objects.create(
        item=item,
        annotator=annotator,
        leased_at=now,
        expires_at=now + timedelta(seconds=project.lease_seconds),
    )
