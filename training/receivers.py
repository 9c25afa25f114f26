"""A frozen batch starts a run on each ladder of its project (checking every label, if the project says so);
a finished run gives its opinion of the open items, if the project uses it."""

import logging

from django.core.exceptions import ValidationError
from django.dispatch import receiver

from annotation.models import Batch
from annotation.signals import batch_frozen
from training.models import Run
from training.signals import run_finished, runs_swept

logger = logging.getLogger(__name__)


@receiver(batch_frozen, sender=Batch)
def start_runs_for_frozen_batch(sender, batch, user=None, **kwargs) -> None:
    from annotation.models import Project
    from training.services import label_check_config, run_request

    every_freeze = batch.project.label_check == Project.LABEL_CHECK_EVERY_FREEZE
    for ladder in batch.project.ladders.all():
        label_check = label_check_config(ladder=ladder, project=batch.project) if every_freeze else None
        try:
            run_request(batch=batch, ladder=ladder, label_check=label_check, requested_by=user)
        except ValidationError as error:
            if label_check is None:
                raise
            # Too few chats for the folds: the freeze still starts its plain run.
            logger.warning("batch %s: no label check: %s", batch.pk, "; ".join(error.messages))
            run_request(batch=batch, ladder=ladder, requested_by=user)


@receiver(run_finished, sender=Run)
def score_open_items_when_a_run_finishes(sender, run_id: int, **kwargs) -> None:
    from training.services.opinions import run_opinions_enqueue

    run = Run.objects.select_related("batch__project", "ladder").filter(pk=run_id).first()
    if run is not None:
        run_opinions_enqueue(run=run)


@receiver(runs_swept, sender=Run)
def score_open_items_missed(sender, **kwargs) -> None:
    """The latest runs whose opinion was never queued (their run_finished was lost) queue it now."""
    from training.services.opinions import run_opinions_enqueue, runs_missing_an_opinion

    for run in runs_missing_an_opinion():
        run_opinions_enqueue(run=run)
