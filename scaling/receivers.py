"""A finished run gets its verdict computed by a worker."""

from django.dispatch import receiver

from training.models import Run
from training.signals import run_finished, runs_swept


@receiver(run_finished, sender=Run)
def compute_verdict_when_a_run_finishes(sender, run_id: int, **kwargs) -> None:
    from scaling.tasks import verdict_compute_task

    verdict_compute_task.delay(run_id)


@receiver(runs_swept, sender=Run)
def compute_missing_verdicts(sender, **kwargs) -> None:
    """Final runs that have no verdict (their run_finished was lost) get one now."""
    from scaling.selectors import runs_missing_a_verdict
    from scaling.tasks import verdict_compute_task

    for run_id in runs_missing_a_verdict():
        verdict_compute_task.delay(run_id)
