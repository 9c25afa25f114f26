"""A claim's attempt number fences its writes: a stale worker cannot touch a newer attempt."""

from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.models import BatchItem
from tests.scaling.factories import make_batch, make_labelled_items, make_ladder
from training import services
from training.models import InvalidTransition, Prediction, RungJob, Superseded

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(project, annotator):
    batch = make_batch(project, make_labelled_items(project, annotator, 4), name="fenced")
    run = services.run_request(batch=batch, ladder=make_ladder("fence", 1))
    return run.rung_jobs.get()


def _claim_after_the_worker_went_quiet(job_id: int) -> RungJob:
    RungJob.objects.filter(pk=job_id).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    return services.rung_job_claim(job_id=job_id)


def test_a_stale_attempt_records_nothing_once_a_newer_attempt_holds_the_job(job):
    stale = services.rung_job_claim(job_id=job.pk)
    newer = _claim_after_the_worker_went_quiet(job.pk)
    assert (stale.attempts, newer.attempts) == (1, 2)
    item_id = BatchItem.objects.filter(batch=job.run.batch).values_list("item_id", flat=True).first()
    row = {"item_id": item_id, "option": "x", "label": "x", "scores": {}, "margin": None}

    with pytest.raises(Superseded):
        services.ProgressRecorder(stale, "fine-tuning")({"step": 1, "steps": 9}, force=True)
    with pytest.raises(Superseded):
        services.ProgressRecorder(stale, "fine-tuning").should_cancel()
    with pytest.raises(Superseded):
        services.predictions_store(job=stale, stage=Prediction.BASE, rows=[row])
    with pytest.raises(Superseded):
        services.rung_job_finish(job=stale, status=RungJob.DONE)

    job.refresh_from_db()
    assert job.status == RungJob.RUNNING and job.attempts == 2 and job.finished_at is None
    assert job.progress == {"phase": "starting", "attempt": 2}
    assert not Prediction.objects.filter(rung_job=job).exists()
    # The attempt that holds the job writes as usual.
    services.ProgressRecorder(newer, "fine-tuning")({"step": 1, "steps": 9}, force=True)
    services.rung_job_finish(job=newer, status=RungJob.DONE)
    job.refresh_from_db()
    assert job.status == RungJob.DONE and job.progress["step"] == 1


def test_each_attempt_writes_its_adapter_in_a_work_folder_of_its_own(job):
    stale = services.rung_job_claim(job_id=job.pk)
    newer = _claim_after_the_worker_went_quiet(job.pk)
    assert services.adapter_work_dir_for(stale) != services.adapter_work_dir_for(newer)
    assert services.adapter_work_dir_for(newer).name.endswith(".partial-2")
    # Both attempts' finished adapter is one folder, so a newer attempt may reuse an earlier one's.
    assert services.adapter_dir_for(stale) == services.adapter_dir_for(newer)


def test_a_stale_worker_ends_without_removing_the_newer_attempt_s_work(job, monkeypatch):
    """The stale worker reaches fine-tuning after a newer attempt started it: it stops, touching nothing."""
    from training.services import jobs

    stale = services.rung_job_claim(job_id=job.pk)
    newer = _claim_after_the_worker_went_quiet(job.pk)
    newer_work = services.adapter_work_dir_for(newer)
    newer_work.mkdir(parents=True)
    (newer_work / "adapter_model.safetensors").write_bytes(b"weights")
    trained = []
    monkeypatch.setattr(jobs, "_score_stage", lambda **kwargs: {"seconds": 0.0})
    monkeypatch.setattr("training.examples.train_examples", lambda **kwargs: [])
    monkeypatch.setattr("training.ml.finetune.lora_finetune", lambda **kwargs: trained.append(kwargs))

    with pytest.raises(Superseded):
        jobs._train_and_score(stale)

    assert (newer_work / "adapter_model.safetensors").read_bytes() == b"weights"
    assert not trained
    job.refresh_from_db()
    assert job.attempts == 2 and job.metrics == {}


class TestTransitions:
    def test_a_done_job_cannot_move_again(self, job):
        claimed = services.rung_job_claim(job_id=job.pk)
        services.rung_job_finish(job=claimed, status=RungJob.DONE)
        with pytest.raises(InvalidTransition, match="is done; it cannot become pending"):
            claimed.requeue(error="again")
        with pytest.raises(InvalidTransition, match="is done; it cannot become cancelled"):
            claimed.cancel()

    def test_a_pending_job_cannot_be_finished_as_done(self, job):
        with pytest.raises(InvalidTransition, match="is pending; it cannot become done"):
            job.finish(RungJob.DONE)
        job.refresh_from_db()
        assert job.status == RungJob.PENDING

    def test_an_attempt_number_must_follow_the_last_one(self, job):
        with pytest.raises(InvalidTransition, match="attempt 3 after 0"):
            job.start(attempt=3)
