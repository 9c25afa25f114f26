import time

from django.core.management.base import BaseCommand, CommandError

from training.models import Run

BAR_WIDTH = 30
POLL_SECONDS = 2.0
# A run that ended gets its verdict within seconds; a cancelled one may never.
VERDICT_GRACE_SECONDS = 60.0


def progress_bar(fraction: float, width: int = BAR_WIDTH) -> str:
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "[" + "#" * filled + "." * (width - filled) + f"] {fraction:4.0%}"


def job_line(job) -> str:
    """One rung job: which rung and part of the train split, its state and phase."""
    part = (
        f"all but fold {job.fold + 1}" if job.fold is not None
        else f"{job.train_size} examples" if job.train_size is not None
        else "full"
    )
    phase = (job.progress or {}).get("phase", "")
    state = f"{job.status} {job.progress_percent}%" if job.status == job.RUNNING else job.status
    if job.reused_from_id is not None:
        state += " (reused)"
    return f"  {job.rung.name:<12} {part:<16} {state}{f' — {phase}' if phase and not job.is_final else ''}" + (
        f" — {job.error}" if job.error and job.status == job.FAILED else ""
    )


class Command(BaseCommand):
    help = "Print a run's state and each rung job's progress; --wait shows a progress bar until it has its verdict."

    def add_arguments(self, parser):
        parser.add_argument("run", type=int, help="the run's id")
        parser.add_argument("--wait", action="store_true", help="follow the run until it has ended and been judged")
        parser.add_argument("--timeout", type=int, default=3600, help="seconds to wait with --wait")

    def handle(self, *args, run, wait, timeout, **options):
        if not Run.objects.filter(pk=run).exists():
            raise CommandError(f"no run {run}")
        deadline = time.monotonic() + timeout
        shown, ended_at = None, None
        while True:
            found = Run.objects.select_related("batch", "ladder").get(pk=run)
            jobs = list(found.rung_jobs.select_related("rung").order_by("rung__order", "fold", "train_size"))
            judged = hasattr(found, "verdict")
            if not wait:
                self.stdout.write(f"run {found.pk} of batch {found.batch.name} on {found.ladder.name}: {found.status}"
                                  + (", judged" if judged else ""))
                for job in jobs:
                    self.stdout.write(job_line(job))
                return
            done = sum(1 for job in jobs if job.is_final)
            fraction = sum(100 if job.is_final else job.progress_percent for job in jobs) / (100 * max(1, len(jobs)))
            line = f"run {found.pk}: {progress_bar(fraction)} {done}/{len(jobs)} rung jobs, {found.status}"
            if line != shown:
                self.stdout.write(line)
                shown = line
            if found.is_final:
                ended_at = ended_at or time.monotonic()
                if judged or time.monotonic() - ended_at > VERDICT_GRACE_SECONDS:
                    for job in jobs:
                        self.stdout.write(job_line(job))
                    self.stdout.write(f"verdict: {found.verdict.message}" if judged else "no verdict")
                    return
            if time.monotonic() > deadline:
                raise CommandError(f"run {run} is still {found.status} after {timeout} s")
            time.sleep(POLL_SECONDS)
