"""A finished run gets its verdict computed by a worker."""

from django.dispatch import receiver

from training.models import Run
from training.signals import run_finished


@receiver(run_finished, sender=Run)
def compute_verdict_when_a_run_finishes(sender, run_id: int, **kwargs) -> None:
    from scaling.tasks import verdict_compute_task

    verdict_compute_task.delay(run_id)
