"""Each annotator's live accuracy on the controls in force."""

from annotation import assignments, review, selectors, services
from tests.annotation.assignments.test_assignment_claim import make_annotators, make_items
from tests.annotation.controls.builders import claim_and_answer, every_claim_a_control_turn, make_controls


def answer_all(project, annotator, options: list[str]) -> None:
    for option in options:
        assert claim_and_answer(project, annotator, option=option).control


def figures(project) -> dict:
    rows = selectors.control_accuracy(project=project)
    return {row["annotator"]: (row["answered"], row["correct"], row["accuracy"]) for row in rows}


def test_answers_are_scored_against_the_reviewed_label_as_it_is_now(project, lead, monkeypatch):
    every_claim_a_control_turn(project, monkeypatch)
    controls = make_controls(project, lead=lead, count=4)
    amy, bo = make_annotators(project, 2)
    # Controls come in an order of their own to each annotator: answer by item.
    for annotator, wrong in ((amy, {controls[0].pk}), (bo, {control.pk for control in controls[:3]})):
        for _ in controls:
            lease = assignments.assignment_claim_next(project=project, annotator=annotator)
            option = "no_extraction" if lease.item_id in wrong else "extraction"
            services.item_label(item=lease.item, annotator=annotator, option=option, expected_current_id=None)
    assert figures(project) == {"ann0": (4, 3, 0.75), "ann1": (4, 1, 0.25)}

    # The lead changes a known answer: both annotators' figures follow.
    first = controls[0]
    first.refresh_from_db()
    review.item_review(
        item=first, lead=lead, option="no_extraction", reason="it needs the history",
        expected_current_id=first.current_annotation_id,
    )
    assert figures(project) == {"ann0": (4, 4, 1.0), "ann1": (4, 2, 0.5)}

    # A control the lead stops using no longer counts.
    review.item_control_set(item=controls[1], control=False)
    assert figures(project) == {"ann0": (3, 3, 1.0), "ann1": (3, 2, 2 / 3)}


def test_an_answer_changed_by_undo_counts_once_by_the_latest(project, annotator, lead, monkeypatch):
    every_claim_a_control_turn(project, monkeypatch)
    make_controls(project, lead=lead, count=1)
    answer_all(project, annotator, ["no_extraction"])
    assert figures(project) == {"ann": (1, 0, 0.0)}
    lease, last = assignments.assignment_reopen_last(project=project, annotator=annotator)
    services.item_label(item=lease.item, annotator=annotator, option="extraction", expected_current_id=last.pk)
    assert figures(project) == {"ann": (1, 1, 1.0)}


def test_labels_outside_controls_and_other_projects_do_not_count(project, annotator, lead, monkeypatch):
    (item,) = make_items(project, 1)
    services.item_annotate(item=item, annotator=annotator, option="extraction")
    assert selectors.control_accuracy(project=project) == []
    every_claim_a_control_turn(project, monkeypatch)
    make_controls(project, lead=lead, count=1)
    answer_all(project, annotator, ["extraction"])
    other = services.project_create(name="Elsewhere")
    assert selectors.control_accuracy(project=other) == []
    assert figures(project) == {"ann": (1, 1, 1.0)}
