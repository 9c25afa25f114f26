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

With `project.control_rate` above 0, that share of each annotator's claims is
served a control instead (`Item.control`: a reviewed item whose label is the
known answer), each control at most once per annotator. A control is leased
outside the queue: its lease is marked, the answer given under it is stored
as a control answer, and the item's overlap, label and review stay as they are.
"""

import math
import random
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from annotation.models import Annotation, Assignment, Item, Project
from annotation.selectors import controls_in_force, last_label_by

CLAIM_ATTEMPTS = 20
# Tolerance for float error in the control windows' bounds (k / rate).
WINDOW_EPSILON = 1e-9


def _first_id(sql: str, params: list) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None


def lease_open(*, project: Project, annotator, now=None) -> Assignment | None:
    """The annotator's open, unexpired lease in this project, if any.

    The newest first: after an undo, the reopened item comes before the one
    the annotator had already been given. Looked up with a fixed statement
    (asked on every claim, and after a submit it usually finds nothing).
    """
    now = now or timezone.now()
    lease_id = _first_id(
        f"""
        SELECT a.id FROM {Assignment._meta.db_table} a JOIN {Item._meta.db_table} i ON i.id = a.item_id
        WHERE a.annotator_id = %s AND a.completed_at IS NULL AND a.released_at IS NULL
          AND a.expires_at > %s AND i.project_id = %s
        ORDER BY a.leased_at DESC LIMIT 1
        """,
        [annotator.pk, connection.ops.adapt_datetimefield_value(now), project.pk],
    )
    return None if lease_id is None else Assignment.objects.select_related("item").get(pk=lease_id)


def _claimable_sql(*, lock: bool, exclude: int, informative: bool = False) -> str:
    """Items with `label_count` labels this annotator may be given: not theirs
    already (labelled, answered as a control, or skipped), capacity left after
    the open leases.

    A fixed statement rather than a queryset: compiling the ORM version (three
    subqueries, twice per claim) cost more than running it on the hot path.
    Its values are parameters, in this order: project, label count, the
    `exclude` ids already tried (or the one id to re-check), annotator twice,
    now, overlap. `informative` puts the items the ladder is least sure of
    first (`Project.informative_first`), those it has not scored after them.
    """
    item, annotation, assignment = Item._meta.db_table, Annotation._meta.db_table, Assignment._meta.db_table
    kinds = ", ".join(f"'{kind}'" for kind in Annotation.ANSWER_KINDS)
    # On PostgreSQL, OFFSET 0 keeps each NOT EXISTS a per-candidate index probe;
    # as an anti-join it would read every label of the project that sorts
    # before the first free item, which grows with the project's progress.
    fence = " OFFSET 0" if connection.vendor == "postgresql" else ""
    if lock:
        picked = f"i.id NOT IN ({', '.join(['%s'] * exclude)})" if exclude else "1 = 1"
    else:
        picked = "i.id = %s"
    sql = f"""
        SELECT i.id FROM {item} i
        WHERE i.project_id = %s AND i.annotation_count = %s AND {picked}
          AND NOT EXISTS (SELECT 1 FROM {annotation} a
                          WHERE a.item_id = i.id AND a.annotator_id = %s AND a.kind IN ({kinds}){fence})
          AND NOT EXISTS (SELECT 1 FROM {assignment} r
                          WHERE r.item_id = i.id AND r.annotator_id = %s AND r.released_at IS NOT NULL{fence})
          AND i.annotation_count + (SELECT COUNT(*) FROM {assignment} l
                                    WHERE l.item_id = i.id AND l.completed_at IS NULL
                                      AND l.released_at IS NULL AND l.expires_at > %s) < %s
    """
    if lock:
        # An index's order (item_queue, item_queue_informative): no plan can prefer another.
        margin = "i.suggestion_margin ASC NULLS LAST, " if informative else ""
        sql += f" ORDER BY i.project_id, i.annotation_count, {margin}i.id LIMIT 1"
        if connection.features.has_select_for_update_skip_locked:
            sql += " FOR UPDATE OF i SKIP LOCKED"
    return sql


def _claimable_params(project: Project, annotator, label_count: int, now, ids: list[int]) -> list:
    # The ORM's own conversion, so the raw statement compares like with like on SQLite too.
    db_now = connection.ops.adapt_datetimefield_value(now)
    return [project.pk, label_count, *ids, annotator.pk, annotator.pk, db_now, project.overlap]


def assignment_claim_next(*, project: Project, annotator, now=None) -> Assignment | None:
    """Lease the annotator's next item, or resume their open lease; None when done.

    Items closest to their overlap come first (finishing an item beats
    starting one), then by id, or with `project.informative_first` by the
    ladder's margin, least sure first. Each pass asks for one exact label count, so
    the (project, annotation_count, id) index yields candidates in order
    without scanning past the items already done. On a control turn
    (`control_turn`) a control is leased instead, while one is left.
    """
    now = now or timezone.now()
    with transaction.atomic():
        current = lease_open(project=project, annotator=annotator, now=now)
        if current is not None:
            return current
        if project.control_rate > 0:
            answered = _items_answered(project=project, annotator=annotator)
            if control_turn(project=project, annotator=annotator, answered=answered):
                control = _control_claim(project=project, annotator=annotator, answered=answered, now=now)
                if control is not None:
                    return control
        for label_count in reversed(range(project.overlap)):
            tried: list[int] = []
            for _ in range(CLAIM_ATTEMPTS):
                item_id = _first_id(
                    _claimable_sql(lock=True, exclude=len(tried), informative=project.informative_first),
                    _claimable_params(project, annotator, label_count, now, tried),
                )
                if item_id is None:
                    break
                # Fresh statement, fresh snapshot: sees leases committed since the first.
                if _first_id(
                    _claimable_sql(lock=False, exclude=1),
                    _claimable_params(project, annotator, label_count, now, [item_id]),
                ) is not None:
                    return _lease(project=project, item_id=item_id, annotator=annotator, now=now)
                tried.append(item_id)
    return None


def _lease(*, project: Project, item_id: int, annotator, now, control: bool = False) -> Assignment:
    """Lease the item to the annotator, renewing their lease on it that is still open, if any.

    A lapsed lease was never completed nor released, so it is still the one
    open lease per annotator and item that the constraint allows, and a second
    would break it; an undo may also reopen an item twice. The caller holds
    the item row's lock, as for every lease, so the look-up is exact. A fixed
    statement: it runs on every claim, and almost always finds nothing.
    """
    expires_at = now + timedelta(seconds=project.lease_seconds)
    open_id = _first_id(
        f"""
        SELECT id FROM {Assignment._meta.db_table}
        WHERE item_id = %s AND annotator_id = %s AND completed_at IS NULL AND released_at IS NULL
        """,
        [item_id, annotator.pk],
    )
    if open_id is None:
        return Assignment.objects.create(
            item_id=item_id, annotator=annotator, leased_at=now, expires_at=expires_at, control=control
        )
    lease = Assignment.objects.get(pk=open_id)
    # A fresh `leased_at` too: `lease_open` resumes the newest lease first.
    lease.leased_at, lease.expires_at, lease.control = now, expires_at, control
    lease.save(update_fields=["leased_at", "expires_at", "control"])
    return lease


def _items_answered(*, project: Project, annotator) -> int:
    """Items the annotator labelled or answered as a control in the project (a relabel counts once)."""
    return (
        Annotation.objects.filter(annotator=annotator, item__project=project, kind__in=Annotation.ANSWER_KINDS)
        .values("item_id")
        .distinct()
        .count()
    )


def _seed(purpose: str, project: Project, annotator, number: int) -> random.Random:
    return random.Random(f"control-{purpose}:{project.pk}:{annotator.pk}:{number}")


def control_turn(*, project: Project, annotator, answered: int) -> bool:
    """Whether the annotator's next claim, after `answered` items, is served a control.

    Their answers fall into consecutive windows of about 1 / control_rate
    items (a whole number each); one place in every window, drawn from a seed
    of the project, the annotator and the window, is a control. So the share
    is exact over each window, and where a control falls does not repeat.
    """
    rate = project.control_rate
    if rate <= 0:
        return False
    window = int(answered * rate + WINDOW_EPSILON)
    start = math.ceil(window / rate - WINDOW_EPSILON)
    end = math.ceil((window + 1) / rate - WINDOW_EPSILON)
    return answered == start + _seed("turn", project, annotator, window).randrange(end - start)


def _control_claim(*, project: Project, annotator, answered: int, now) -> Assignment | None:
    """Lease a control the annotator was never given (nor labelled, nor reviewed); None when none is left.

    Which one is drawn from a seed as well, so annotators meet the controls in
    different orders. The item row is locked and checked again: two claims of
    one annotator at once must not lease it twice.
    """
    candidates = _unseen_controls(project=project, annotator=annotator)
    ids = list(candidates.values_list("id", flat=True).order_by("id"))
    if not ids:
        return None
    item_id = _seed("pick", project, annotator, answered).choice(ids)
    Item.objects.select_for_update().filter(pk=item_id).first()
    if not candidates.filter(pk=item_id).exists():
        return None
    return _lease(project=project, item_id=item_id, annotator=annotator, now=now, control=True)


def _unseen_controls(*, project: Project, annotator):
    """The project's controls in force that the annotator has had nothing to do with yet."""
    return (
        controls_in_force(project=project)
        .exclude(Exists(Annotation.objects.filter(item=OuterRef("pk"), annotator=annotator)))
        .exclude(Exists(Assignment.objects.filter(item=OuterRef("pk"), annotator=annotator)))
    )


@transaction.atomic
def assignment_skip(*, assignment: Assignment) -> None:
    """Give the item back without a label; this annotator is not offered it again."""
    Assignment.objects.filter(pk=assignment.pk, completed_at__isnull=True).update(
        released_at=timezone.now()
    )


@transaction.atomic
def assignment_reopen(
    *, project: Project, annotator, item: Item, control: bool = False, now=None
) -> Assignment:
    """Lease an item the annotator already labelled again, to change the label (undo).

    `control`: the label to change was a control answer, and so is the new one.
    """
    now = now or timezone.now()
    Item.objects.select_for_update().filter(pk=item.pk).first()
    return _lease(project=project, item_id=item.pk, annotator=annotator, now=now, control=control)


@transaction.atomic
def assignment_reopen_last(*, project: Project, annotator, now=None) -> tuple[Assignment, Annotation]:
    """Undo: lease the item of the annotator's latest own label again, to change it.

    Only while that label is the item's newest revision: once a lead reviewed
    the item or someone else labelled it, changing the label would go behind
    their back, so the undo is refused (ValidationError) and nothing changes.
    A control answer is the annotator's own alone: only their own later
    answer stops its undo.
    """
    last = last_label_by(project=project, user=annotator)
    if last is None:
        raise ValidationError({"undo": "Nothing to undo."})
    Item.objects.select_for_update().filter(pk=last.item_id).first()
    control = last.kind == Annotation.CONTROL
    newer = Annotation.objects.filter(item_id=last.item_id, id__gt=last.pk)
    if control:
        newer = newer.filter(annotator=annotator)
    newer = newer.order_by("id").first()
    if newer is not None:
        if newer.annotator_id == annotator.pk:
            why = "you labelled it again since"
        elif newer.kind in Annotation.REVIEW_KINDS:
            why = "a lead has reviewed it since"
        else:
            why = "someone else has labelled the item since"
        raise ValidationError({"undo": f"Your last label can no longer be undone: {why}."})
    lease = assignment_reopen(project=project, annotator=annotator, item=last.item, control=control, now=now)
    return lease, last
