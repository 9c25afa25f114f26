"""A rung that diverges or runs out of memory fails alone, with its reason; the
rest of the ladder finishes and the verdict names the missing rung."""

import pytest

from annotation.models import Batch
from annotation.simulation import annotators_simulate
from scaling.models import Verdict
from tests.training.services.test_run_on_worker import FAST, labelled_project, register, wait_for  # noqa: F401
from training import services
from training.models import Run, Rung, RungJob

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_diverging_rung_fails_with_its_reason_and_the_verdict_names_it(
    celery_worker_process, labelled_project, tiny_ladder
):
    broken = tiny_ladder[1]["name"]
    rungs = [{**rung, "size_class": "cpu", "hyperparameters": FAST} for rung in tiny_ladder]
    ladder = services.ladder_register(name="diverging", rungs=rungs, projects=[])
    # Registration refuses an lr this far out of bounds: written past it, so that the rung diverges.
    Rung.objects.filter(ladder=ladder, name=broken).update(hyperparameters={**FAST, "lr": 1e12})
    result = annotators_simulate(project=labelled_project, accuracy=1.0, limit=160, seed=5, batch_name="fifth")
    run = services.run_request(batch=Batch.objects.get(pk=result.batch_id), ladder=ladder)
    run = wait_for(lambda: Run.objects.filter(pk=run.pk, status__in=[Run.DONE, Run.FAILED]).first(), 240, "the run")
    jobs = {job.rung.name: job for job in run.rung_jobs.select_related("rung")}
    assert jobs[broken].status == RungJob.FAILED and jobs[broken].error.startswith("diverged: loss is")
    assert jobs[broken].attempts == 1
    assert all(job.status == RungJob.DONE for name, job in jobs.items() if name != broken)
    verdict = wait_for(lambda: Verdict.objects.filter(run=run).first(), 60, "the verdict")
    assert verdict.missing_rungs == [broken]
    assert f"Missing rungs: {broken}" in verdict.message


def test_running_out_of_memory_fails_the_rung_at_once_with_advice(labelled_project, tiny_ladder, monkeypatch):
    from training.ml import finetune

    def out_of_memory(**kwargs):
        raise MemoryError("cannot allocate 17179869184 bytes")

    # A queue no worker of the suite listens to: this test runs the job itself.
    ladder = register(labelled_project, tiny_ladder, size_class="gpu-large", name="oom")
    ladder.projects.clear()
    result = annotators_simulate(project=labelled_project, accuracy=1.0, limit=160, seed=6, batch_name="sixth")
    run = services.run_request(batch=Batch.objects.get(pk=result.batch_id), ladder=ladder)
    monkeypatch.setattr(finetune, "lora_finetune", out_of_memory)
    job = run.rung_jobs.order_by("rung__order").first()
    services.rung_job_execute(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == RungJob.FAILED and job.attempts == 1
    assert job.error.startswith(services.OUT_OF_MEMORY) and "17179869184" in job.error
