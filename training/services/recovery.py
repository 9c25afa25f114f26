"""Recovery of rung jobs the broker lost or whose worker died: the database knows what is pending."""

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from training.models import Run, RungJob
from training.services.jobs import STALE_HEARTBEAT
from training.services.runs import run_refresh_status, rung_job_enqueue_on_commit
from training.signals import runs_swept

logger = logging.getLogger(__name__)

# A job sent this recently may not be visible on its queue yet.
PENDING_GRACE = timedelta(seconds=5)
# Sent again after this long even when the queue looks full, as a backstop.
PENDING_RESEND = timedelta(hours=1)


def queued_messages(queue: str) -> int:
    """Messages waiting on a broker queue; 0 for a queue the broker no longer knows."""
    from config.celery import app

    with app.connection_for_read() as connection:
        try:
            _, count, _ = connection.default_channel.queue_declare(queue=queue, passive=True)
        except connection.channel_errors:
            # A restarted broker that keeps nothing has forgotten the queue itself.
            return 0
    return count


def jobs_recover(*, stale_after: timedelta = STALE_HEARTBEAT) -> list[int]:
    """Re-enqueue jobs the broker may have lost: the database knows what is pending.

    Pending jobs go back on their queue when it holds fewer messages than
    there are pending jobs for it (a broker that restarted and kept nothing,
    a publish that failed), or when they were sent over PENDING_RESEND ago;
    running jobs go back when their worker stopped beating. Re-delivery is
    harmless: the claim step skips jobs that are final or held by a live
    worker. Open runs whose jobs are all final get their status (and so their
    verdict) now, in case the on-commit refresh was lost; then `runs_swept`
    lets other apps catch up on final runs (scaling: missing verdicts). Runs
    when a worker starts and every TRAINING_RECOVER_SECONDS from the beat
    schedule.
    """
    now = timezone.now()
    settled = now - PENDING_GRACE
    pending = list(
        RungJob.objects.filter(status=RungJob.PENDING)
        .filter(Q(enqueued_at__lt=settled) | Q(enqueued_at__isnull=True))
        .select_related("rung")
    )
    by_queue: dict[str, list[RungJob]] = {}
    for job in pending:
        by_queue.setdefault(job.rung.queue, []).append(job)
    lost = []
    for queue, jobs in by_queue.items():
        if queued_messages(queue) < len(jobs):
            lost.extend(jobs)
        else:
            lost.extend(job for job in jobs if job.enqueued_at is None or job.enqueued_at < now - PENDING_RESEND)
    stale = list(
        RungJob.objects.filter(status=RungJob.RUNNING, heartbeat_at__lt=now - stale_after).select_related("rung")
    )
    recovered = []
    with transaction.atomic():
        for job in lost + stale:
            rung_job_enqueue_on_commit(job=job)
            recovered.append(job.pk)
    if recovered:
        logger.warning("re-enqueued %d rung jobs: %s", len(recovered), recovered)
    settled = runs_settle()
    if settled:
        logger.warning("settled the status of %d runs whose jobs had all finished: %s", len(settled), settled)
    runs_swept.send(sender=Run)
    return recovered


def runs_settle() -> list[int]:
    """Give open runs whose jobs are all final the status their jobs say; their ids."""
    unsettled = (
        Run.objects.filter(status__in=Run.OPEN_STATUSES)
        .exclude(rung_jobs__status__in=[RungJob.PENDING, RungJob.RUNNING])
        .filter(rung_jobs__isnull=False)
        .distinct()
    )
    settled = []
    for run in unsettled:
        if run_refresh_status(run=run).is_final:
            settled.append(run.pk)
    return settled
