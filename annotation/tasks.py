"""Celery tasks of the annotation app: thin, taking ids, safe to redeliver."""

from celery import shared_task
from celery.signals import worker_ready


# Acknowledged only once it ends, so a worker that dies mid-import gives the
# message back; the job's attempt count, not the broker, bounds how often it runs.
@shared_task(name="annotation.import_job_run", acks_late=True, reject_on_worker_lost=True)
def import_job_run(import_job_id: int, **kwargs) -> None:
    from annotation.importers import import_job_process

    import_job_process(job_id=import_job_id)


@shared_task(name="annotation.import_jobs_recover")
def import_jobs_recover_task(**kwargs) -> None:
    from annotation.importers import import_jobs_recover

    import_jobs_recover()


@worker_ready.connect
def recover_imports_on_worker_start(sender=None, **kwargs) -> None:
    """A (re)started worker re-enqueues imports whose messages may have been lost."""
    from annotation.importers import import_jobs_recover

    import_jobs_recover()
