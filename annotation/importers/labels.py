"""Labels an export brings with its messages: Label Studio annotations as label revisions.

Each completed annotation becomes an `Annotation.IMPORTED` revision of the
item made from its message, through `services.item_annotate`, by a project
member standing for its Label Studio user. Choices are matched to the
project's options by text or value, ignoring case and surrounding space.
A choice that matches no option is reported and changes nothing; an
annotation whose message is not an item (not preprocessed yet, or not a
candidate) waits: importing the file again after preprocessing applies it.
Each revision records its Label Studio annotation id, so a re-import adds
only what is new.
"""

import re
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from annotation import services
from annotation.importers.labelstudio import LabelStudioUser, TaskAnnotation, read_annotations
from annotation.models import Annotation, Corpus, Item, Membership

SOURCE = "labelstudio"
# How many unmapped choices an import job keeps to show; the count covers all.
UNMAPPED_EXAMPLES = 5
# Annotations looked up against the database at once.
LOOKUP_ROWS = 1000
# django.contrib.auth's username length.
USERNAME_CHARS = 150
# What django.contrib.auth's username validator refuses.
NOT_IN_USERNAME = re.compile(r"[^\w.@+-]")


@dataclass(frozen=True)
class UnmappedChoice:
    file: str
    task_id: str
    choice: str

    def __str__(self) -> str:
        return f"{self.file}: task {self.task_id}: {self.choice!r}"


@dataclass
class LabelCounts:
    added: int = 0
    # Already imported by an earlier run of this file.
    already: int = 0
    # Their message is not an item: preprocess, then import again.
    waiting: int = 0
    unmapped: list[UnmappedChoice] = field(default_factory=list)

    def unmapped_examples(self) -> list[str]:
        return [str(choice) for choice in self.unmapped[:UNMAPPED_EXAMPLES]]


@transaction.atomic
def labelstudio_labels_import(*, corpus: Corpus, path: Path, name: str) -> LabelCounts:
    """Add the Label Studio export's completed annotations as label revisions."""
    counts = LabelCounts()
    annotations = read_annotations(path, name=name)
    while chunk := list(islice(annotations, LOOKUP_ROWS)):
        _import_chunk(corpus, chunk, name, counts)
    return counts


def _import_chunk(corpus: Corpus, chunk: list[TaskAnnotation], name: str, counts: LabelCounts) -> None:
    project = corpus.project
    items = {
        message_id: item
        for message_id, item in _items(corpus, {a.message_id for a in chunk})
    }
    done = set(
        Annotation.objects.filter(
            item__in=list(items.values()), imported_from__in=[_source(a) for a in chunk]
        ).values_list("item_id", "imported_from")
    )
    options = _option_lookup(project.options)
    for annotation in chunk:
        # Checked first, so a lead can fix the options before preprocessing.
        option = options.get(_normalised(annotation.choice))
        if option is None:
            counts.unmapped.append(UnmappedChoice(name, annotation.task_id, annotation.choice))
            continue
        item = items.get(annotation.message_id)
        if item is None:
            counts.waiting += 1
            continue
        if (item.pk, _source(annotation)) in done:
            counts.already += 1
            continue
        services.item_annotate(
            item=item,
            annotator=_annotator(project, annotation.annotator),
            option=option,
            seconds_spent=annotation.seconds_spent,
            kind=Annotation.IMPORTED,
            imported_from=_source(annotation),
        )
        done.add((item.pk, _source(annotation)))
        counts.added += 1


def _items(corpus: Corpus, message_ids: set[str]):
    return (
        (item.message.external_id, item)
        for item in Item.objects.filter(
            project_id=corpus.project_id, message__corpus=corpus, message__external_id__in=message_ids
        ).select_related("message")
    )


def _source(annotation: TaskAnnotation) -> str:
    return f"{SOURCE}:{annotation.annotation_id}"


def _normalised(text: str) -> str:
    return " ".join(text.split()).casefold()


def _option_lookup(options: list[dict]) -> dict[str, str]:
    """{normalised text or value: option value}; an option's text wins over another's value."""
    lookup = {_normalised(option["value"]): option["value"] for option in options}
    lookup.update({_normalised(option["text"]): option["value"] for option in options})
    return lookup


def _annotator(project, ls_user: LabelStudioUser):
    """The user standing for a Label Studio user, made an annotator of the project if not a member.

    Found by email when the export has one, else by the `labelstudio-<id>`
    username; created without a usable password (an invite can give them one).
    """
    User = get_user_model()
    user = None
    if ls_user.email:
        user = User.objects.filter(email__iexact=ls_user.email).order_by("pk").first()
        username = ls_user.email.lower()
    else:
        username = f"labelstudio-{ls_user.id}"
    username = NOT_IN_USERNAME.sub("-", username)[:USERNAME_CHARS]
    if user is None:
        user = User.objects.filter(username=username).first()
    if user is None:
        user = User(username=username, email=ls_user.email)
        user.set_unusable_password()
        user.save()
    Membership.objects.get_or_create(project=project, user=user, defaults={"role": Membership.ANNOTATOR})
    return user
