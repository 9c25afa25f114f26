"""A verdict that failed can be asked for again: the attempts start over and the task is queued."""

import pytest

from scaling import selectors as scaling_selectors
from scaling import services as scaling_services
from scaling.models import Verdict
from scaling.services import VerdictRetryRefused, verdict_compute, verdict_retry
from tests.scaling.factories import make_batch, make_labelled_items, make_ladder, make_run
from training.models import Run

pytestmark = pytest.mark.django_db


@pytest.fixture
def given_up(project, annotator, monkeypatch):
    """A finished run whose verdict failed every attempt."""
    labels = make_labelled_items(project, annotator, 60)
    run = make_run(make_batch(project, labels, name="week-1"), make_ladder("l", 2), accuracies=[0.6, 0.9])
    with monkeypatch.context() as patched:
        patched.setattr(scaling_services, "run_eval_arrays", lambda **kwargs: 1 / 0)
        for _ in range(scaling_services.VERDICT_ATTEMPTS):
            with pytest.raises(ZeroDivisionError):
                scaling_services.verdict_attempt(run_id=run.pk)
    run.refresh_from_db()
    assert scaling_selectors.verdict_state(run=run) == scaling_selectors.VERDICT_GAVE_UP
    return run


def test_a_run_that_gave_up_forgets_its_failures_and_is_queued_once_committed(
    given_up, django_capture_on_commit_callbacks, monkeypatch
):
    queued = []
    monkeypatch.setattr(scaling_services.verdict_compute_task, "delay", queued.append)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        verdict_retry(run=given_up)
        assert queued == []
    given_up.refresh_from_db()
    assert (given_up.verdict_failures, given_up.verdict_error, given_up.verdict_retry_at) == (0, "", None)
    assert scaling_selectors.verdict_state(run=given_up) == scaling_selectors.VERDICT_COMPUTING
    for callback in callbacks:
        callback()
    assert queued == [given_up.pk]
    # The sweep has its attempts back, should this one fail too.
    given_up.finished_at = given_up.finished_at - scaling_selectors.VERDICT_GRACE * 2
    given_up.save(update_fields=["finished_at"])
    assert given_up.pk in scaling_selectors.runs_missing_a_verdict()


def test_the_queued_computation_stores_the_verdict(given_up, django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr(
        scaling_services.verdict_compute_task, "delay", lambda run_id: scaling_services.verdict_attempt(run_id=run_id)
    )
    with django_capture_on_commit_callbacks(execute=True):
        verdict_retry(run=given_up)
    assert Verdict.objects.filter(run=given_up).exists()
    assert scaling_selectors.verdict_state(run=given_up) == scaling_selectors.VERDICT_DONE


def test_a_run_still_open_or_with_its_verdict_is_refused(given_up, django_capture_on_commit_callbacks):
    Run.objects.filter(pk=given_up.pk).update(status=Run.RUNNING)
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(VerdictRetryRefused, match="is running"):
        verdict_retry(run=given_up)
    Run.objects.filter(pk=given_up.pk).update(status=Run.DONE)
    verdict_compute(run_id=given_up.pk)
    with pytest.raises(VerdictRetryRefused, match="already has its verdict"):
        verdict_retry(run=given_up)
    assert callbacks == []
