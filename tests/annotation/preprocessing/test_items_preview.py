"""The preview counts what preprocessing would make, with any settings, and writes nothing."""

from dataclasses import asdict, replace

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation import preprocessing
from annotation.models import Item, Project
from annotation.preprocessing import PreprocessSettings, items_preprocess, items_preview
from tests.annotation.factories import make_chat


def counts(result) -> dict:
    return {key: value for key, value in asdict(result).items() if key != "seconds"}


@pytest.fixture
def chats(project):
    make_chat(project, "ops", [
        ("ann", 0, "the deploy went fine today"), ("bob", 30, "is the cache warm yet?"),
        ("bob", 40, "it was cold at nine"), ("cat", 90, "ok"), ("ann", 120, "how do I purge it?"),
        ("cat", 150, "why?"), ("bob", 200, "anyone tried a rolling restart"),
    ])
    make_chat(project, "dev", [
        ("dee", 0, "ci is red on main"), ("eve", 10, "which job?"), ("dee", 15, "the arm64 one"),
        ("dee", 25, "does it fail on retry too?"),
    ])


SETTINGS = [
    PreprocessSettings(merge_window_seconds=18.0, min_chars=7, candidate_threshold=0.5, context_window=11),
    PreprocessSettings(merge_window_seconds=60.0, min_chars=3, candidate_threshold=0.3, context_window=1),
    PreprocessSettings(merge_window_seconds=0.0, min_chars=0, candidate_threshold=0.0, context_window=0),
    PreprocessSettings(merge_window_seconds=18.0, min_chars=40, candidate_threshold=1.0, context_window=5),
]


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda settings: "-".join(map(str, asdict(settings).values())))
def test_the_preview_counts_exactly_what_preprocessing_then_makes(project, chats, settings):
    preview = items_preview(project=project, settings=settings)

    made = items_preprocess(project=project, settings=settings)

    assert counts(preview) == counts(made)
    assert Item.objects.filter(project=project).count() == preview.created


def test_a_preview_after_preprocessing_counts_the_items_already_made(project, chats):
    first = items_preprocess(project=project)
    looser = replace(PreprocessSettings.of(project), candidate_threshold=0.0)

    preview = items_preview(project=project, settings=looser)
    made = items_preprocess(project=project, settings=looser)

    assert preview.already_present == first.created > 0
    assert counts(preview) == counts(made)


def test_a_preview_writes_nothing(project, chats):
    before = PreprocessSettings.of(project)
    other = replace(before, min_chars=2, context_window=3)

    with CaptureQueriesContext(connection) as queries:
        preview = items_preview(project=project, settings=other)

    assert preview.created > 0
    assert queries.captured_queries
    assert all(query["sql"].lstrip().upper().startswith("SELECT") for query in queries.captured_queries)
    assert not Item.objects.filter(project=project).exists()
    assert PreprocessSettings.of(Project.objects.get(pk=project.pk)) == before


def test_settings_given_to_preprocessing_are_saved_to_the_project(project, chats):
    settings = PreprocessSettings(merge_window_seconds=60.0, min_chars=3, candidate_threshold=0.3, context_window=1)

    items_preprocess(project=project, settings=settings)

    assert PreprocessSettings.of(Project.objects.get(pk=project.pk)) == settings
    assert all(len(item.context) <= 1 for item in Item.objects.filter(project=project))


@pytest.mark.parametrize("field, value", [
    ("merge_window_seconds", -1.0), ("merge_window_seconds", float("inf")), ("min_chars", 10**9),
    ("min_chars", 2.5), ("candidate_threshold", float("nan")), ("candidate_threshold", 1.5), ("context_window", -3),
])
def test_settings_out_of_bounds_are_refused_by_name_and_nothing_changes(project, chats, field, value):
    before = PreprocessSettings.of(project)

    with pytest.raises(ValidationError) as refused:
        items_preprocess(project=project, settings=replace(before, **{field: value}))

    assert list(refused.value.message_dict) == [field]
    assert PreprocessSettings.of(Project.objects.get(pk=project.pk)) == before
    assert not Item.objects.filter(project=project).exists()


def test_a_run_cut_short_is_finished_by_the_next_without_duplicates(project, chats, monkeypatch):
    monkeypatch.setattr(preprocessing, "INSERT_CHUNK", 1)
    expected = items_preview(project=project, settings=PreprocessSettings.of(project)).created

    def crash_after_the_first_chat(done, total):
        raise RuntimeError("worker killed")

    with pytest.raises(RuntimeError):
        items_preprocess(project=project, progress=crash_after_the_first_chat)
    left_behind = Item.objects.filter(project=project).count()
    again = items_preprocess(project=project)

    assert 0 < left_behind < expected
    assert (again.already_present, again.created) == (left_behind, expected - left_behind)
    message_ids = list(Item.objects.filter(project=project).values_list("message_id", flat=True))
    assert len(message_ids) == len(set(message_ids)) == expected
