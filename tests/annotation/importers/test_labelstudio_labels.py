"""A Label Studio export's completed annotations become label revisions of the items."""

import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from annotation import services
from annotation.importers import messages_import
from annotation.importers.labels import UnmappedChoice
from annotation.importers.services import import_job_execute
from annotation.models import (
    DONT_KNOW,
    EXTRACTION,
    NO_EXTRACTION,
    Annotation,
    ImportJob,
    Item,
    Membership,
    Message,
)
from tests.annotation.importers.conftest import rejected

DAN = {"id": 8, "email": "Dan@Example.com", "username": "dan"}


def choices(*picked: str) -> list[dict]:
    return [{"from_name": "need", "to_name": "text", "type": "choices", "value": {"choices": list(picked)}}]


EXPORT = [
    {
        "id": 201,
        "data": {"text": "how do I rotate the TLS certificate?", "chat": "ops", "sender": "carol"},
        "annotations": [
            # Older exports name the user by id, newer ones by an object.
            {"id": 11, "completed_by": 7, "lead_time": 4.5,
             "result": choices("  Needs Extraction from the context ")},
            {"id": 12, "completed_by": DAN, "result": choices("no_extraction")},
            {"id": 13, "completed_by": 7, "was_cancelled": True, "result": choices("don't know")},
        ],
    },
    {
        "id": 202,
        "data": {"text": "anyone seen the pager?", "chat": "ops", "sender": "erin"},
        "annotations": [
            {"id": 21, "completed_by": DAN, "result": choices("maybe")},
            {"id": 22, "completed_by": 7, "result": choices("don't know")},
        ],
    },
    {
        "id": 203,
        "data": {"text": "thanks all", "chat": "ops", "sender": "frank"},
        "annotations": [{"id": 31, "completed_by": 7, "result": choices("no extraction needed")}],
    },
]


@pytest.fixture
def export(write):
    return write("export.json", json.dumps(EXPORT, indent=1))


def items_for(*task_ids: int) -> dict[int, Item]:
    """Items for the tasks' messages, as preprocessing would make them."""
    items = {}
    for task_id in task_ids:
        message = Message.objects.get(external_id=str(task_id))
        items[task_id] = Item.objects.create(
            project=message.corpus.project, message=message, chat=message.chat,
            text=message.text, sender="A", sent_at=message.sent_at,
        )
    return items


@pytest.fixture
def items(project, export):
    """The export imported once before preprocessing; tasks 201 and 202 became items."""
    messages_import(project=project, path=export)
    return items_for(201, 202)


def imported(item: Item) -> list[tuple[str, str]]:
    return list(
        item.annotations.filter(kind=Annotation.IMPORTED)
        .order_by("id")
        .values_list("annotator__username", "option")
    )


class TestLabels:
    def test_labels_by_the_right_annotators_with_the_right_options(self, project, export, items):
        result = messages_import(project=project, path=export)

        assert imported(items[201]) == [("labelstudio-7", EXTRACTION), ("dan@example.com", NO_EXTRACTION)]
        assert imported(items[202]) == [("labelstudio-7", DONT_KNOW)]
        assert (result.labels.added, result.labels.waiting) == (3, 1)
        first = items[201].annotations.order_by("id").first()
        assert (first.seconds_spent, first.late, first.imported_from) == (4.5, False, "labelstudio:11")
        item = Item.objects.get(pk=items[201].pk)
        assert (item.label, item.annotation_count, item.reviewed) == (NO_EXTRACTION, 2, False)

    def test_each_user_becomes_an_annotator_without_a_password(self, project, export, items):
        messages_import(project=project, path=export)

        users = get_user_model().objects.filter(memberships__project=project).order_by("username")
        assert [(u.username, u.email, u.memberships.get().role) for u in users] == [
            ("dan@example.com", "Dan@Example.com", Membership.ANNOTATOR),
            ("labelstudio-7", "", Membership.ANNOTATOR),
        ]
        assert not any(user.has_usable_password() for user in users)

    def test_an_existing_user_is_found_by_email_and_keeps_their_role(self, project, export, items, lead):
        lead.email = "dan@example.com"
        lead.save(update_fields=["email"])

        messages_import(project=project, path=export)

        assert imported(items[201])[1] == ("lead", NO_EXTRACTION)
        assert Membership.objects.get(project=project, user=lead).role == Membership.LEAD

    def test_unmapped_choice_is_reported_and_changes_nothing(self, project, export, items):
        result = messages_import(project=project, path=export)

        assert result.labels.unmapped == [UnmappedChoice("export.json", "202", "maybe")]
        assert str(result.labels.unmapped[0]) == "export.json: task 202: 'maybe'"
        assert not items[202].annotations.filter(annotator__username="dan@example.com").exists()

    def test_reimport_adds_nothing(self, project, export, items):
        messages_import(project=project, path=export)
        before = list(Annotation.objects.order_by("id").values_list("id", flat=True))

        result = messages_import(project=project, path=export)

        assert (result.labels.added, result.labels.already) == (0, 3)
        assert list(Annotation.objects.order_by("id").values_list("id", flat=True)) == before

    def test_waiting_annotations_land_once_their_item_exists(self, project, export, items):
        first = messages_import(project=project, path=export)
        assert first.labels.waiting == 1
        third = items_for(203)[203]

        again = messages_import(project=project, path=export)

        assert (again.labels.added, again.labels.waiting) == (1, 0)
        assert imported(third) == [("labelstudio-7", NO_EXTRACTION)]

    def test_before_preprocessing_every_mapped_annotation_waits(self, project, export):
        result = messages_import(project=project, path=export)

        assert (result.labels.added, result.labels.waiting) == (0, 4)
        assert result.labels.unmapped == [UnmappedChoice("export.json", "202", "maybe")]
        assert not Annotation.objects.exists()

    def test_a_leads_review_stays_current(self, project, export, items, lead):
        review = services.item_annotate(
            item=items[201], annotator=lead, option=DONT_KNOW, kind=Annotation.REVIEW_ACCEPT
        )

        messages_import(project=project, path=export)

        item = Item.objects.get(pk=items[201].pk)
        assert (item.current_annotation_id, item.label, item.reviewed) == (review.pk, DONT_KNOW, True)
        assert len(imported(item)) == 2


class TestImportJob:
    def test_the_job_and_its_page_report_the_label_counts(self, project, export, items, lead, client):
        job = ImportJob.objects.create(project=project, file_name="export.json", path=str(export))

        import_job_execute(job=job)

        job.refresh_from_db()
        assert (job.status, job.messages_added, job.messages_skipped) == (ImportJob.DONE, 0, 3)
        assert (job.labels_added, job.labels_unmapped, job.labels_waiting) == (3, 1, 1)
        assert job.labels_unmapped_examples == ["export.json: task 202: 'maybe'"]
        client.force_login(lead)
        page = client.get(reverse("annotation:import_status", args=[project.pk, job.pk])).content.decode()
        assert "<strong>3</strong> added; 1 wait for items" in page
        assert "export.json: task 202: &#x27;maybe&#x27;" in page


def test_the_command_prints_the_label_counts(project, export, items):
    out = io.StringIO()

    call_command("import_messages", str(export), "--project", project.name, stdout=out, stderr=io.StringIO())

    assert out.getvalue().splitlines()[1:] == [
        "labels: 3 added, 1 waiting for items (preprocess, then import again), 1 with a choice that is no option",
        "  unmapped: export.json: task 202: 'maybe'",
    ]


def test_an_annotation_without_its_user_rejects_the_file_whole(project, write, existing):
    task = {"id": 1, "data": {"text": "ok"}, "annotations": [{"id": 5, "result": choices("don't know")}]}

    error = rejected(project, write("tasks.json", json.dumps([task])))

    assert (error.path, error.field, error.problem) == ("[0]", "annotations[0].completed_by", "missing")
    assert not Annotation.objects.exists()
