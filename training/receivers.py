"""A frozen batch starts a run on each ladder of its project."""

from django.dispatch import receiver

from annotation.models import Batch
from annotation.signals import batch_frozen


@receiver(batch_frozen, sender=Batch)
def start_runs_for_frozen_batch(sender, batch, user=None, **kwargs) -> None:
    from training.services import run_request

    for ladder in batch.project.ladders.all():
        run_request(batch=batch, ladder=ladder, requested_by=user)
