"""A finished run's rows become a stored verdict with provenance."""

import random

import pytest
from django.utils import timezone

from annotation.models import Annotation, Batch, BatchItem
from scaling import services as scaling_services
from scaling.models import Verdict
from scaling.services import verdict_compute
from tests.annotation.assignments.test_assignment_claim import make_items
from training.models import Ladder, Prediction, Rung, RungJob, Run

pytestmark = pytest.mark.django_db

POSITIVE, NEGATIVE = "extraction", "no_extraction"


def make_run(
    project, annotator, *, accuracies, n_items=300, seed=0, failed=(), identical_rungs=False, chosen_score=2.0
):
    rng = random.Random(seed)
    items = make_items(project, n_items)
    batch = Batch.objects.create(project=project, name=f"b{seed}", status=Batch.FROZEN, content_hash="ab" * 32)
    labels = {}
    for index, item in enumerate(items):
        label = POSITIVE if index % 2 else NEGATIVE
        annotation = Annotation.objects.create(item=item, annotator=annotator, option=label, guideline_version=1)
        item.category = "easy" if index % 3 else "hard"
        item.save(update_fields=["category"])
        BatchItem.objects.create(batch=batch, item=item, annotation=annotation, label=label, split=BatchItem.EVAL)
        labels[item.pk] = label
    ladder = Ladder.objects.create(name=f"ladder{seed}")
    run = Run.objects.create(batch=batch, ladder=ladder, code_version="t", config_hash=f"{seed:064d}")
    for order, accuracy in enumerate(accuracies):
        rung = Rung.objects.create(
            ladder=ladder, order=order, name=f"r{order}", checkpoint_path="/x", parameters=10 ** (6 + order),
            hyperparameters={"lr": 2e-4},
        )
        status = RungJob.FAILED if order in failed else RungJob.DONE
        job = RungJob.objects.create(run=run, rung=rung, status=status, hyperparameters={"lr": 2e-4})
        if status != RungJob.DONE:
            continue
        if identical_rungs:
            rng = random.Random(seed)
        rows = []
        for item_id, label in labels.items():
            for stage, acc in ((Prediction.TUNED, accuracy), (Prediction.BASE, 0.5)):
                right = rng.random() < acc
                option = label if right else (NEGATIVE if label == POSITIVE else POSITIVE)
                scores = {POSITIVE: 0.0, NEGATIVE: 0.0, "dont_know": -5.0}
                scores[option] = chosen_score
                margin = scores[POSITIVE] - max(scores[NEGATIVE], scores["dont_know"])
                rows.append(Prediction(rung_job=job, item_id=item_id, stage=stage, option=option,
                                       label=label, scores=scores, margin=margin))
        Prediction.objects.bulk_create(rows)
    return run


def test_a_rising_ladder_is_monotone_with_provenance(project, annotator):
    run = make_run(project, annotator, accuracies=[0.6, 0.7, 0.8, 0.9])
    verdict = verdict_compute(run_id=run.pk)
    assert verdict.kind == Verdict.MONOTONE
    assert verdict.tuned["f1"][0] < verdict.tuned["f1"][-1]
    assert len(verdict.tuned["ci_low"]) == 4
    assert verdict.provenance["batch"] == "ab" * 32
    assert [rung["name"] for rung in verdict.provenance["rungs"]] == ["r0", "r1", "r2", "r3"]
    assert verdict.provenance["rungs"][0]["hyperparameters"] == {"lr": 2e-4}
    assert "next_f1" in verdict.fits["power"]
    assert {c["category"] for c in verdict.diagnostics["categories"]["categories"]} == {"easy", "hard"}
    assert "F1 rises with size" in verdict.message


def test_a_flat_ladder_is_called_data_with_suspects_queued(project, annotator):
    run = make_run(project, annotator, accuracies=[0.7, 0.7, 0.7, 0.7], seed=1, identical_rungs=True)
    verdict = verdict_compute(run_id=run.pk)
    assert verdict.kind == Verdict.FLAT
    assert "suspect labels queued" in verdict.message


def test_a_flat_ladder_unsure_of_every_answer_says_no_label_stands_out(project, annotator):
    # Chosen option 0.5 above the other: about 62% sure, under the suspect bar of 70%.
    run = make_run(project, annotator, accuracies=[0.7] * 4, seed=1, identical_rungs=True, chosen_score=0.5)
    verdict = verdict_compute(run_id=run.pk)
    assert verdict.kind == Verdict.FLAT and verdict.suspects == []
    assert "likely the data — no label stands out" in verdict.message


def test_a_failed_rung_is_named_and_recomputing_replaces_the_verdict(project, annotator):
    run = make_run(project, annotator, accuracies=[0.6, 0.7, 0.8], seed=2, failed={1})
    first = verdict_compute(run_id=run.pk)
    assert first.missing_rungs == ["r1"]
    assert "Missing rungs: r1" in first.message
    again = verdict_compute(run_id=run.pk)
    assert again.pk == first.pk
    assert Verdict.objects.count() == 1


def test_a_single_finished_rung_is_incomplete(project, annotator):
    run = make_run(project, annotator, accuracies=[0.6, 0.7], seed=3, failed={1})
    assert verdict_compute(run_id=run.pk).kind == Verdict.INCOMPLETE


class TestOneDecisionForKindAndMessage:
    """The stored kind, the rung diagnosis and the banner's message come from one verdict."""

    def test_a_break_is_named_by_verdict_diagnosis_and_message(self, project, annotator):
        run = make_run(project, annotator, accuracies=[0.6, 0.75, 0.9, 0.75], seed=4)
        verdict = verdict_compute(run_id=run.pk)
        assert verdict.kind == Verdict.BREAK
        assert [(b["smaller_name"], b["larger_name"]) for b in verdict.tuned["breaks"]] == [("r2", "r3")]
        assert verdict.diagnostics["rungs"]["kind"] == "rung_off_curve"
        assert verdict.diagnostics["rungs"]["rungs"] == ["r3"]
        assert "F1 falls from r2 to r3" in verdict.message
        assert "rises" not in verdict.message

    def test_monotone(self, project, annotator):
        verdict = verdict_compute(run_id=make_run(project, annotator, accuracies=[0.6, 0.7, 0.8, 0.9]).pk)
        assert verdict.kind == Verdict.MONOTONE
        assert verdict.diagnostics["rungs"]["kind"] == "healthy"
        assert verdict.tuned["gain_low"] > 0

    def test_flat(self, project, annotator):
        run = make_run(project, annotator, accuracies=[0.7] * 4, seed=1, identical_rungs=True)
        verdict = verdict_compute(run_id=run.pk)
        assert verdict.kind == Verdict.FLAT
        assert verdict.diagnostics["rungs"]["kind"] == "data"
        assert verdict.diagnostics["rungs"]["proposed_changes"] == []

    def test_too_few_items_says_how_many_more(self, project, annotator):
        run = make_run(project, annotator, accuracies=[0.65, 0.66, 0.67, 0.68], n_items=30, seed=5)
        verdict = verdict_compute(run_id=run.pk)
        assert verdict.kind == Verdict.TOO_FEW_ITEMS
        assert verdict.get_kind_display() == "Too few eval items to say"
        assert verdict.diagnostics["rungs"]["kind"] == "too_few_items"
        assert verdict.diagnostics["rungs"]["proposed_changes"] == []
        assert f"about {verdict.tuned['items_needed']} more would decide" in verdict.message


class TestFailedVerdicts:
    def test_a_failure_is_recorded_on_the_run_with_a_doubling_wait_and_given_up_at_last(
        self, project, annotator, monkeypatch
    ):
        run = make_run(project, annotator, accuracies=[0.6, 0.9], n_items=20)

        def broken(**kwargs):
            raise KeyError("r1")

        monkeypatch.setattr(scaling_services, "run_eval_arrays", broken)
        now = timezone.now()
        for attempt in range(1, scaling_services.VERDICT_ATTEMPTS + 1):
            with pytest.raises(KeyError):
                scaling_services.verdict_attempt(run_id=run.pk, now=now)
            run.refresh_from_db()
            assert (run.verdict_failures, run.verdict_error) == (attempt, "KeyError: 'r1'")
            if attempt < scaling_services.VERDICT_ATTEMPTS:
                assert run.verdict_retry_at == now + scaling_services.VERDICT_RETRY_AFTER * 2 ** (attempt - 1)
        assert run.verdict_retry_at is None
        assert not Verdict.objects.filter(run=run).exists()

    def test_a_verdict_stored_clears_the_failure(self, project, annotator, monkeypatch):
        run = make_run(project, annotator, accuracies=[0.6, 0.9], n_items=20)
        with monkeypatch.context() as patched:
            patched.setattr(scaling_services, "run_eval_arrays", lambda **kwargs: 1 / 0)
            with pytest.raises(ZeroDivisionError):
                scaling_services.verdict_attempt(run_id=run.pk)
        verdict = scaling_services.verdict_attempt(run_id=run.pk)
        run.refresh_from_db()
        assert verdict.run_id == run.pk
        assert (run.verdict_failures, run.verdict_error, run.verdict_retry_at) == (0, "", None)
