"""Celery tasks of the annotation app: thin, taking ids, safe to redeliver."""

from celery import shared_task


@shared_task(name="annotation.import_job_run")
def import_job_run(import_job_id: int, **kwargs) -> None:
    from annotation.importers import import_job_execute
    from annotation.models import ImportJob

    job = ImportJob.objects.filter(pk=import_job_id).select_related("project").first()
    if job is None or job.is_final:
        return  # deleted, or redelivered after it finished
    import_job_execute(job=job)
