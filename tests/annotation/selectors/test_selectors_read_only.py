"""Selectors read: none of them writes, whatever state the project is in."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation import review, selectors, services
from annotation.models import Assignment, Project
from tests.annotation.assignments.test_assignment_claim import make_items

WRITES = ("INSERT", "UPDATE", "DELETE")


def writes_in(queries) -> list[str]:
    return [query["sql"] for query in queries if query["sql"].lstrip().upper().startswith(WRITES)]


def test_labelling_progress_counts_an_unknown_counter_without_storing_it(project, annotator):
    make_items(project, 3)
    Project.objects.filter(pk=project.pk).update(open_items=None)
    with CaptureQueriesContext(connection) as queries:
        progress = selectors.labelling_progress(project=project, user=annotator)
    assert progress["left"] == 3
    assert writes_in(queries) == []
    assert Project.objects.get(pk=project.pk).open_items is None


def test_new_items_recount_the_counter_when_they_are_added(project):
    make_items(project, 2)
    services.project_items_changed(project=project)
    assert Project.objects.get(pk=project.pk).open_items == 2


def test_no_selector_writes(project, annotator, lead):
    items = make_items(project, 2)
    label = services.item_annotate(item=items[0], annotator=annotator, option="extraction")
    review.item_review(item=items[0], lead=lead, option="no_extraction", reason="r", expected_current_id=label.pk)
    review.item_control_set(item=items[0], control=True)
    Project.objects.filter(pk=project.pk).update(open_items=None)
    item = items[0]
    with CaptureQueriesContext(connection) as queries:
        selectors.project_list_for_user(user=annotator).count()
        selectors.membership_role(project=project, user=annotator)
        selectors.labelling_progress(project=project, user=annotator)
        selectors.last_label_by(project=project, user=annotator)
        list(selectors.item_browse(project=project, filters={"disputed": "1", "disagreement": "1"}))
        selectors.item_browse_page(project=project, filters={}, page_number=1, per_page=10)
        selectors.item_history(item=item)
        list(selectors.items_disputed(project=project))
        selectors.item_disputes(item=item)
        selectors.project_counts(project=project)
        list(selectors.controls_in_force(project=project))
        selectors.control_accuracy(project=project)
        selectors.card_revision_id(lease=Assignment(item=item, annotator=annotator, control=True))
    assert writes_in(queries) == []
