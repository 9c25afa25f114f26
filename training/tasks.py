"""Celery tasks of the training app: thin, taking ids, safe to redeliver."""

from celery import shared_task
from celery.signals import worker_ready


@shared_task(name="training.rung_job_run", acks_late=True, reject_on_worker_lost=True)
def rung_job_run(rung_job_id: int, **kwargs) -> None:
    from training.services import rung_job_execute

    rung_job_execute(job_id=rung_job_id)


@shared_task(name="training.run_opinions", acks_late=True, reject_on_worker_lost=True)
def run_opinions_task(run_id: int, **kwargs) -> None:
    from training.services.opinions import run_opinions_attempt

    run_opinions_attempt(run_id=run_id)


@shared_task(name="training.jobs_recover")
def jobs_recover_task(**kwargs) -> None:
    from training.services import jobs_recover

    jobs_recover()


@worker_ready.connect
def recover_on_worker_start(sender=None, **kwargs) -> None:
    """A (re)started worker re-enqueues jobs whose messages may have been lost."""
    from training.services import jobs_recover

    jobs_recover()
