"""Writes for the annotation app. Views, commands and tasks call these."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from annotation import task_settings
from annotation.models import (
    Annotation,
    Assignment,
    Batch,
    Corpus,
    Guideline,
    Item,
    Membership,
    Project,
)

User = get_user_model()


def _task_check(project: Project) -> None:
    """The task's rules and the preprocessing settings' bounds, for the pages and the API alike."""
    # preprocessing writes through this module, so it is imported here, not above.
    from annotation.preprocessing import PreprocessSettings

    errors = task_settings.task_errors(
        instruction=project.instruction,
        options=project.options,
        positive_option=project.positive_option,
        abstain_options=project.abstain_options,
    )
    try:
        PreprocessSettings.of(project).validate()
    except ValidationError as refused:
        errors.update(refused.message_dict)
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def project_create(
    *, name: str, template: str = task_settings.BUILT_IN, created_by=None, **fields
) -> Project:
    """Create a project from a task template with guideline version 1; `fields` override the template.

    The creator, when given, becomes the project's admin.
    """
    if template not in task_settings.TEMPLATES:
        raise ValidationError({"template": f"no template {template!r}: choose {', '.join(task_settings.TEMPLATES)}"})
    chosen = task_settings.TEMPLATES[template]
    task = {key: chosen[key] for key in ("instruction", "options", "positive_option", "abstain_options")}
    project = Project(name=name, **{**task, **fields})
    _task_check(project)
    project.full_clean()
    project.save()
    Guideline.objects.create(project=project, version=project.guideline_version, text=chosen["guideline"])
    if created_by is not None:
        membership_set(project=project, user=created_by, role=Membership.ADMIN)
    return project


# What a lead may change on an existing project.
PROJECT_SETTINGS = (
    "name", "description", *task_settings.TASK_FIELDS, "context_window", "merge_window_seconds", "min_chars",
    "candidate_threshold", "overlap", "lease_seconds", "informative_first", "suggest_labels",
    "label_check", "label_check_folds", "label_check_epochs_factor",
)


@dataclass(frozen=True)
class ProjectChange:
    project: Project
    changed: list[str]
    # Set when the change made a new task version (a batch was frozen under the old one).
    new_task_version: int | None
    # Items whose label is an option the change removed or renamed: back to review.
    flagged_for_recheck: int


@transaction.atomic
def project_settings_update(*, project: Project, **fields) -> ProjectChange:
    """Change a project's settings; a task change after a freeze makes a new task version.

    Frozen batches keep their records (and so their task); drafts made under
    the old task must be made again before they freeze (`batches.batch_freeze`).
    Labels naming an option that is gone are flagged for re-check.
    """
    unknown = sorted(set(fields) - set(PROJECT_SETTINGS))
    if unknown:
        raise ValidationError({field: "not a project setting" for field in unknown})
    project = Project.objects.select_for_update().get(pk=project.pk)
    old_values = set(project.option_values)
    changed = [field for field, value in fields.items() if getattr(project, field) != value]
    for field in changed:
        setattr(project, field, fields[field])
    _task_check(project)
    project.full_clean()
    new_version = None
    task_changed = any(field in task_settings.TASK_FIELDS for field in changed)
    if task_changed and project.batches.filter(task_version=project.task_version, status=Batch.FROZEN).exists():
        project.task_version += 1
        new_version = project.task_version
    project.save()
    gone = old_values - set(project.option_values)
    flagged = (
        Item.objects.filter(project=project, label__in=gone).update(needs_recheck=True, reviewed=False)
        if gone
        else 0
    )
    if flagged or "overlap" in changed:
        project_items_changed(project=project)
    return ProjectChange(project=project, changed=changed, new_task_version=new_version, flagged_for_recheck=flagged)


def project_get_or_create(*, name: str) -> tuple[Project, bool]:
    project = Project.objects.filter(name=name).first()
    if project is not None:
        return project, False
    return project_create(name=name), True


def corpus_get_or_create(*, project: Project, name: str = "default") -> Corpus:
    corpus, _ = Corpus.objects.get_or_create(project=project, name=name)
    return corpus


@transaction.atomic
def membership_set(*, project: Project, user, role: str) -> Membership:
    """Give `user` `role` in `project`; a no-op when it is already so."""
    if role not in dict(Membership.ROLES):
        raise ValidationError({"role": f"unknown role {role!r}"})
    membership, created = Membership.objects.get_or_create(
        project=project, user=user, defaults={"role": role}
    )
    if not created and membership.role != role:
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def member_invite(*, project: Project, username: str, role: str) -> tuple[Membership, str]:
    """Add a person who has no account yet: a user without a password, the
    membership, and the path of a one-time link where they choose one.

    The link is Django's password-reset token: it stops working once used (the
    password it sets changes the hash it was made from) or after
    PASSWORD_RESET_TIMEOUT.
    """
    from django.contrib.auth.tokens import default_token_generator
    from django.urls import reverse
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    username = username.strip()
    User.username_validator(username)
    if User.objects.filter(username=username).exists():
        raise ValidationError({"username": f"{username!r} already has an account: add them by name"})
    user = User(username=username)
    user.set_unusable_password()
    user.save()
    membership = membership_set(project=project, user=user, role=role)
    link = reverse(
        "invite_accept",
        kwargs={"uidb64": urlsafe_base64_encode(force_bytes(user.pk)), "token": default_token_generator.make_token(user)},
    )
    return membership, link


def user_get_or_create(*, username: str, password: str, is_staff: bool = False):
    """Create a user with `password`, or return the existing one unchanged."""
    user = User.objects.filter(username=username).first()
    if user is None:
        user = User.objects.create_user(username=username, password=password, is_staff=is_staff)
    return user


class StaleRevision(Exception):
    """A save based on a revision that is no longer the one to build on; nothing was written."""

    def __init__(self, *, item: Item, expected_id: int | None, current: Annotation | None):
        self.item = item
        self.expected_id = expected_id
        self.current = current
        super().__init__(
            f"item {item.pk} changed: you saw revision {expected_id}, "
            f"the current one is {current.pk if current else None}"
        )


@transaction.atomic
def item_label(
    *, item: Item, annotator, option: str, seconds_spent: float = 0.0, expected_current_id: int | None
) -> Annotation:
    """An annotator's label from a card that showed the item at revision `expected_current_id`.

    Refused with `StaleRevision` when, since then, a lead reviewed the item or
    the annotator labelled it themselves (another window, a retried post):
    the card no longer shows what the label would be judged against. Other
    annotators' labels do not make a card stale: with overlap, labels are
    independent by design. On an item served as a control the card shows only
    the annotator's own answer (`selectors.card_revision_id`), and only their
    own later answer makes it stale.
    """
    locked = Item.objects.select_for_update(of=("self",)).get(pk=item.pk)
    newer = Annotation.objects.filter(item=locked)
    if _open_lease(item=locked, annotator=annotator, control=True).exists():
        newer = newer.filter(annotator=annotator)
    else:
        newer = newer.filter(Q(annotator=annotator) | Q(kind__in=Annotation.REVIEW_KINDS))
    if expected_current_id is not None:
        newer = newer.filter(pk__gt=expected_current_id)
    latest = newer.select_related("annotator").order_by("-id").first()
    if latest is not None:
        raise StaleRevision(item=locked, expected_id=expected_current_id, current=latest)
    return item_annotate(item=locked, annotator=annotator, option=option, seconds_spent=seconds_spent)


@transaction.atomic
def item_annotate(
    *,
    item: Item,
    annotator,
    option: str,
    seconds_spent: float = 0.0,
    kind: str = Annotation.LABEL,
    reason: str = "",
    imported_from: str = "",
) -> Annotation:
    """Record a new label revision and, unless a lead's review is in force, make it current.

    Never overwrites: the new row points at the revision that was current when
    it was written. A lead's review stays current over any later annotator
    label: that label is kept as a revision and shows up for the lead as a
    dispute (`selectors.item_disputes`) until they review the item again. A
    submit without an open, unexpired lease is still recorded and flagged
    `late`. A label given under a control's lease is stored as a control
    answer: it changes nothing on the item, its overlap count included.
    An imported label (`Annotation.IMPORTED`, `imported_from` naming its
    source) counts as a label but was given elsewhere: no lease is involved.
    Locks the item row so concurrent labels of one item serialise.
    """
    locked = Item.objects.select_for_update().select_related("project").get(pk=item.pk)
    project = locked.project
    if option not in project.option_values:
        raise ValidationError(
            {"option": f"{option!r} is not an option of {project.name!r}: {project.option_values}"}
        )
    if kind == Annotation.REVIEW_OVERRIDE and not reason.strip():
        raise ValidationError({"reason": "an override needs a reason"})
    now = timezone.now()
    first_by_annotator = locked.annotation_count == 0 or not Annotation.objects.filter(
        item=locked, annotator=annotator, kind__in=Annotation.LABEL_KINDS
    ).exists()
    imported = kind == Annotation.IMPORTED
    lease = None if imported else _open_lease(item=locked, annotator=annotator).order_by("-leased_at").first()
    is_label = kind in Annotation.LABEL_KINDS
    if is_label and lease is not None and lease.control:
        kind = Annotation.CONTROL
    late = is_label and not imported and (lease is None or lease.expires_at < now)
    annotation = Annotation.objects.create(
        item=locked,
        annotator=annotator,
        option=option,
        kind=kind,
        guideline_version=project.guideline_version,
        seconds_spent=max(0.0, float(seconds_spent)),
        reason=reason,
        previous=locked.current_annotation,
        late=late,
        imported_from=imported_from,
    )
    if lease is not None:
        lease.completed_at = now
        lease.save(update_fields=["completed_at"])
    if kind == Annotation.CONTROL:
        return annotation
    reviewed = kind in Annotation.REVIEW_KINDS
    updates = {}
    if reviewed or not _review_in_force(locked):
        updates.update(current_annotation=annotation, label=option, reviewed=reviewed)
    if reviewed:
        updates["needs_recheck"] = False
    if is_label and first_by_annotator:
        updates["annotation_count"] = F("annotation_count") + 1
        if locked.annotation_count + 1 == project.overlap:
            Project.objects.filter(pk=project.pk, open_items__gt=0).update(
                open_items=F("open_items") - 1
            )
    if updates:
        Item.objects.filter(pk=locked.pk).update(**updates)
    return annotation


def _open_lease(*, item: Item, annotator, **filters) -> QuerySet[Assignment]:
    return Assignment.objects.filter(
        item=item, annotator=annotator, completed_at__isnull=True, released_at__isnull=True, **filters
    )


def _review_in_force(item: Item) -> bool:
    return item.current_annotation_id is not None and item.current_annotation.kind in Annotation.REVIEW_KINDS


@dataclass(frozen=True)
class Suggestion:
    option: str
    probability: float
    # Over the next most probable option: how sure the ladder is.
    margin: float


@transaction.atomic
def item_suggestions_replace(*, project: Project, run_id: int, suggestions: dict[int, Suggestion]) -> int:
    """Give the project's open items the ladder's opinion from run `run_id`; returns the items changed.

    Open items the run did not score lose an older run's opinion, so the
    queue orders by the latest run alone. Labelled items keep theirs: it is
    what the ladder thought before they were labelled.
    """
    open_items = Item.objects.filter(project=project, annotation_count__lt=project.overlap)
    open_items.exclude(pk__in=list(suggestions)).exclude(suggestion_run=None).update(
        suggestion="", suggestion_probability=None, suggestion_margin=None, suggestion_run=None
    )
    items = list(open_items.filter(pk__in=list(suggestions)).only("pk"))
    for item in items:
        suggestion = suggestions[item.pk]
        item.suggestion, item.suggestion_probability = suggestion.option, suggestion.probability
        item.suggestion_margin, item.suggestion_run = suggestion.margin, run_id
    Item.objects.bulk_update(
        items, ["suggestion", "suggestion_probability", "suggestion_margin", "suggestion_run"], batch_size=1000
    )
    return len(items)


def project_items_changed(*, project: Project) -> None:
    """Items were added or the overlap changed: recount the open-items counter now,
    so that reading it (`selectors.labelling_progress`) never has to write."""
    project_open_items(project=project, recount=True)


def project_open_items(*, project: Project, recount: bool = False) -> int:
    """Items still short of the project's overlap; recounted and stored when unknown."""
    count = None if recount else Project.objects.filter(pk=project.pk).values_list("open_items", flat=True).first()
    if count is None:
        count = Item.objects.filter(project=project, annotation_count__lt=project.overlap).count()
        Project.objects.filter(pk=project.pk).update(open_items=count)
    return count


@transaction.atomic
def guideline_publish(*, project: Project, text: str, author, recheck: bool = False) -> Guideline:
    """Publish the next guideline version; with `recheck`, older labels go back to review."""
    if not text.strip():
        raise ValidationError({"text": "the guidelines are empty"})
    locked = Project.objects.select_for_update().get(pk=project.pk)
    locked.guideline_version += 1
    locked.save(update_fields=["guideline_version"])
    guideline = Guideline.objects.create(
        project=locked, version=locked.guideline_version, text=text, created_by=author
    )
    if recheck:
        Item.objects.filter(
            project=locked,
            current_annotation__isnull=False,
            current_annotation__guideline_version__lt=locked.guideline_version,
        ).update(needs_recheck=True, reviewed=False)
    project.guideline_version = locked.guideline_version
    return guideline


def _existing_user(username: str):
    user = User.objects.filter(username=username.strip()).first()
    if user is None:
        raise ValidationError({"username": f"no user named {username.strip()!r}: invite them instead"})
    return user


def _refuse_losing_the_last_admin(*, project: Project, user, what: str) -> None:
    """A project keeps at least one admin: nobody else could manage its members."""
    is_admin = Membership.objects.filter(project=project, user=user, role=Membership.ADMIN).exists()
    others = Membership.objects.filter(project=project, role=Membership.ADMIN).exclude(user=user)
    if is_admin and not others.exists():
        raise ValidationError(
            {"username": f"{user.username!r} is the project's last admin and cannot be {what}: make someone else admin first"}
        )


@transaction.atomic
def member_role_change(*, project: Project, username: str, role: str) -> Membership:
    """The members page's "set role": add an existing user, or change a member's role."""
    Project.objects.select_for_update().filter(pk=project.pk).first()  # one member change at a time
    user = _existing_user(username)
    if role != Membership.ADMIN:
        _refuse_losing_the_last_admin(project=project, user=user, what="demoted")
    return membership_set(project=project, user=user, role=role)


@transaction.atomic
def member_remove(*, project: Project, username: str, acting_user) -> None:
    """The members page's "remove": never yourself, never the last admin."""
    Project.objects.select_for_update().filter(pk=project.pk).first()  # one member change at a time
    user = _existing_user(username)
    if user.pk == acting_user.pk:
        raise ValidationError({"username": "you cannot remove yourself"})
    membership = Membership.objects.filter(project=project, user=user).first()
    if membership is None:
        raise ValidationError({"username": f"{user.username!r} is not a member of {project.name!r}"})
    _refuse_losing_the_last_admin(project=project, user=user, what="removed")
    membership.delete()
