"""Reads for the annotation app: querysets and plain values, no writes."""

from django.core.paginator import Page, Paginator
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from annotation.models import Annotation, Assignment, Item, Membership, Project


def project_list_for_user(*, user) -> QuerySet[Project]:
    """Projects the user is a member of; superusers see all."""
    if user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user).distinct()


def membership_role(*, project: Project, user) -> str | None:
    """The user's role in the project, or None for an outsider."""
    if user.is_superuser:
        return Membership.ADMIN
    return (
        Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()
    )


def labelling_progress(*, project: Project, user) -> dict:
    """Done today by this user, and items left that could still come to them.

    Both counts walk indexes only: items still short of the project's overlap,
    less those among them this user already labelled.
    """
    start_of_day = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    done_today = Annotation.objects.filter(
        item__project=project,
        annotator=user,
        kind__in=Annotation.ANSWER_KINDS,
        created_at__gte=start_of_day,
    ).count()
    open_items = Project.objects.filter(pk=project.pk).values_list("open_items", flat=True).first()
    if open_items is None:
        # Not counted yet (a project from before the counter): count, store nothing.
        open_items = Item.objects.filter(project=project, annotation_count__lt=project.overlap).count()
    mine_among_open = (
        Annotation.objects.filter(
            annotator=user,
            item__project=project,
            item__annotation_count__lt=project.overlap,
            kind__in=Annotation.LABEL_KINDS,
        )
        .values("item")
        .distinct()
        .count()
        if project.overlap > 1
        else 0
    )
    return {"done_today": done_today, "left": open_items - mine_among_open}


def last_label_by(*, project: Project, user):
    """The user's latest own label (or control answer) in the project, for undo."""
    return (
        Annotation.objects.filter(
            item__project=project, annotator=user, kind__in=[Annotation.LABEL, Annotation.CONTROL]
        )
        .select_related("item")
        .order_by("-id")
        .first()
    )


def card_revision_id(*, lease: Assignment) -> int | None:
    """The revision a labelling card shows, which its label posts back (`expected_current`).

    The item's current one; on a control, the annotator's own latest answer
    instead (none at first), so that a control's card is like any other.
    """
    if not lease.control:
        return lease.item.current_annotation_id
    return (
        Annotation.objects.filter(item_id=lease.item_id, annotator_id=lease.annotator_id)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )


LABEL_KINDS = list(Annotation.LABEL_KINDS)


def _disputing_labels() -> QuerySet[Annotation]:
    """Annotator labels, for an item `OuterRef`, that came after the lead's review
    in force and differ from it: each annotator's latest such label only."""
    return (
        Annotation.objects.filter(
            item=OuterRef("pk"),
            kind__in=Annotation.LABEL_KINDS,
            item__current_annotation__kind__in=Annotation.REVIEW_KINDS,
            id__gt=OuterRef("current_annotation_id"),
        )
        .exclude(option=OuterRef("label"))
        .exclude(
            Exists(
                Annotation.objects.filter(
                    item=OuterRef("item"),
                    annotator=OuterRef("annotator"),
                    kind__in=Annotation.LABEL_KINDS,
                    id__gt=OuterRef("id"),
                )
            )
        )
    )


def items_disputed(*, project: Project) -> QuerySet[Item]:
    """Reviewed items an annotator has since labelled differently: the review
    stays in force, and the lead decides again."""
    return Item.objects.filter(project=project).filter(Exists(_disputing_labels()))


def item_disputes(*, item: Item) -> list[Annotation]:
    """The labels that dispute the item's review in force, oldest first."""
    current = item.current_annotation
    if current is None or current.kind not in Annotation.REVIEW_KINDS:
        return []
    latest_by_annotator: dict[int, Annotation] = {}
    for label in (
        Annotation.objects.filter(item=item, kind__in=Annotation.LABEL_KINDS, id__gt=current.pk)
        .select_related("annotator")
        .order_by("id")
    ):
        latest_by_annotator[label.annotator_id] = label
    return sorted(
        (label for label in latest_by_annotator.values() if label.option != current.option),
        key=lambda label: label.pk,
    )


def item_browse(*, project: Project, filters: dict) -> QuerySet[Item]:
    """Items of a project for the lead's browser, filtered; newest label state.

    filters: label, annotator (username), batch (id), guideline (version of the
    current label), disagreement ("1": annotators' labels differ), disputed
    ("1": an annotator labelled differently after the review in force),
    recheck ("1"), reviewed ("1"/"0"), q (text search).
    """
    items = Item.objects.filter(project=project)
    if filters.get("label"):
        label = filters["label"]
        items = items.filter(label="" if label == "none" else label)
    if filters.get("annotator"):
        items = items.filter(
            Exists(
                Annotation.objects.filter(
                    item=OuterRef("pk"), annotator__username=filters["annotator"]
                )
            )
        )
    if filters.get("batch"):
        items = items.filter(batch_items__batch_id=filters["batch"])
    if filters.get("guideline"):
        items = items.filter(current_annotation__guideline_version=filters["guideline"])
    if filters.get("disagreement") == "1":
        other_option = Annotation.objects.filter(
            item=OuterRef("item"), kind__in=LABEL_KINDS
        ).exclude(option=OuterRef("option"))
        items = items.filter(
            Exists(
                Annotation.objects.filter(item=OuterRef("pk"), kind__in=LABEL_KINDS).filter(
                    Exists(other_option)
                )
            )
        )
    if filters.get("disputed") == "1":
        items = items.filter(Exists(_disputing_labels()))
    if filters.get("recheck") == "1":
        items = items.filter(needs_recheck=True)
    if filters.get("reviewed") in {"0", "1"}:
        items = items.filter(reviewed=filters["reviewed"] == "1")
    if filters.get("q"):
        items = items.filter(text__icontains=filters["q"])
    return items.order_by("id")


BROWSE_COLUMNS = ["id", "project_id", "text", "label", "needs_recheck", "annotation_count", "reviewed", "control"]


def item_browse_page(*, project: Project, filters: dict, page_number, per_page: int) -> Page:
    """One page of `item_browse`, read as a deferred join.

    Paging and counting walk ids only (index-only scans); the page's rows are
    then fetched by id, without the context column, so a deep page costs what
    the first one does.
    """
    ids = item_browse(project=project, filters=filters).values_list("id", flat=True)
    page = Paginator(ids, per_page).get_page(page_number)
    page.object_list = list(
        Item.objects.filter(pk__in=list(page.object_list)).only(*BROWSE_COLUMNS).order_by("id")
    )
    return page


def item_history(*, item: Item) -> dict:
    """All revisions of an item, and each annotator's own labels side by side."""
    revisions = list(
        Annotation.objects.filter(item=item).select_related("annotator").order_by("id")
    )
    by_annotator: dict[str, list[Annotation]] = {}
    for revision in revisions:
        if revision.kind in LABEL_KINDS:
            by_annotator.setdefault(revision.annotator.username, []).append(revision)
    return {"revisions": revisions, "by_annotator": by_annotator}


def project_counts(*, project: Project) -> dict:
    items = Item.objects.filter(project=project)
    return {
        "items": items.count(),
        "labelled": items.exclude(label="").count(),
        "reviewed": items.filter(reviewed=True).count(),
        "recheck": items.filter(needs_recheck=True).count(),
        "by_label": dict(
            items.exclude(label="").values_list("label").annotate(n=Count("id")).order_by()
        ),
    }


def controls_in_force(*, project: Project) -> QuerySet[Item]:
    """The project's controls that are served and scored: used as controls and reviewed.

    A control sent back for re-checking by new guidelines pauses until it is
    reviewed again.
    """
    return Item.objects.filter(project=project, control=True, reviewed=True)


def control_accuracy(*, project: Project) -> list[dict]:
    """Per annotator, by username: controls answered, answered right, and the share right.

    Only controls in force count (still used as controls, still reviewed),
    each once, by the annotator's latest answer to it, against the reviewed
    label as it is now: a control the lead stops using, or relabels, changes
    the figures at once.
    """
    latest_answers = Annotation.objects.filter(
        item__project=project, kind=Annotation.CONTROL, item__control=True, item__reviewed=True
    ).exclude(
        Exists(
            Annotation.objects.filter(
                item=OuterRef("item"), annotator=OuterRef("annotator"), kind=Annotation.CONTROL, id__gt=OuterRef("id")
            )
        )
    )
    rows = (
        latest_answers.values("annotator__username")
        .annotate(answered=Count("id"), correct=Count("id", filter=Q(option=F("item__label"))))
        .order_by("annotator__username")
    )
    return [
        {
            "annotator": row["annotator__username"],
            "answered": row["answered"],
            "correct": row["correct"],
            "accuracy": row["correct"] / row["answered"],
        }
        for row in rows
    ]
