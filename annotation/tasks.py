"""Celery tasks of the annotation app: thin, taking ids, safe to redeliver."""

from celery import shared_task

# Attempts after the database connection dropped mid-import.
IMPORT_RETRIES = 3


@shared_task(name="annotation.import_job_run", bind=True, max_retries=IMPORT_RETRIES)
def import_job_run(self, import_job_id: int, **kwargs) -> None:
    from annotation.importers import ImportInterrupted, import_job_execute, import_job_requeue
    from annotation.models import ImportJob

    job = ImportJob.objects.filter(pk=import_job_id).select_related("project").first()
    if job is None or job.is_final:
        return  # deleted, or redelivered after it finished
    try:
        import_job_execute(job=job)
    except ImportInterrupted as interrupted:
        if self.request.retries < self.max_retries:
            import_job_requeue(job=job)
            raise self.retry(exc=interrupted, countdown=2 ** self.request.retries)
