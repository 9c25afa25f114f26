"""Celery tasks of the scaling app."""

from celery import shared_task


@shared_task(name="scaling.verdict_compute", acks_late=True)
def verdict_compute_task(run_id: int, **kwargs) -> None:
    from scaling.services import verdict_attempt

    verdict_attempt(run_id=run_id)
