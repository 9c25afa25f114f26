"""The demo's full loop, run beside the web server and the worker.

Builds the demo ladder (once), labels two batches with simulated annotators —
one clean, one with planted label noise — and freezes them; each freeze starts
a run on the worker. The noisy batch's verdict is not monotone, so the ladder
checks every one of its labels (fold jobs of the judging rungs). A simulated
lead then works through that suspect queue through the review service, a
revised batch of the same items is frozen, and its run lands. It prints each
rung's F1 as it lands and every verdict. Safe to re-run: finished steps are
skipped.
"""

import os
import time

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from annotation.batches import batch_create, batch_freeze
from annotation.models import Batch, Item, Project
from annotation.simulation import annotators_simulate, suspects_review_simulate
from scaling.models import Verdict
from training import services as training_services
from training.models import Run, RungJob

CLEAN, NOISY, REVISED = "clean-1", "noisy-1", "noisy-1-revised"
BATCHES = [
    # (name, accuracy, planted noise, seed)
    (CLEAN, 0.97, 0.0, 1),
    (NOISY, 0.97, 0.3, 2),
]


class Command(BaseCommand):
    help = (
        "Run the demo loop: ladder, two labelled batches (clean and noisy), runs and verdicts, the noisy "
        "batch's label check, a simulated review of its suspects and the revised batch's run."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        # The demo's environment variables set the defaults that `make demo` uses.
        parser.add_argument("--items-per-batch", type=int, default=int(os.environ.get("DEMO_ITEMS_PER_BATCH", 700)))
        parser.add_argument("--pretrain-steps", type=int, default=int(os.environ.get("DEMO_PRETRAIN_STEPS", 200)))
        parser.add_argument("--wait", type=int, default=3600, help="seconds to wait for the runs")

    def say(self, text: str) -> None:
        """A line of the loop's story, stamped with the minutes since the loop started."""
        minutes, seconds = divmod(int(time.monotonic() - self.started), 60)
        self.stdout.write(self.style.HTTP_INFO(f"[loop {minutes:02d}:{seconds:02d}] {text}"))
        self.stdout.flush()

    def handle(self, *args, **options):
        self.started = time.monotonic()
        try:
            self.loop(**options)
        except KeyboardInterrupt:
            # Ctrl-C stops the demo: what finished is kept, and the next run goes on from there.
            self.say("stopped; `make demo` again goes on where this left off")

    def loop(self, *, project: str, items_per_batch: int, pretrain_steps: int, wait: int, **options):
        # Rung jobs already printed: each is told once, however often the loop follows the runs.
        self.reported: set[int] = set()
        found = Project.objects.filter(name=project).first()
        if found is None:
            raise CommandError(f"no project named {project!r}")
        if not found.ladders.exists():
            self.say("building the demo ladder (tokenizer + 4 small Qwen2 models, pre-trained on the corpus)")
            call_command("build_demo_ladder", project=project, steps=pretrain_steps)
        for name, accuracy, noise, seed in BATCHES:
            if Batch.objects.filter(project=found, name=name).exists():
                continue
            available = Item.objects.filter(project=found, label="").exclude(gold="").count()
            if available < 50:
                self.say(f"not enough unlabelled items left for batch {name!r} ({available})")
                continue
            self.say(f"simulated annotators label {min(available, items_per_batch)} items for batch {name!r}"
                     + (f" with {noise:.0%} planted label noise" if noise else ""))
            annotators_simulate(
                project=found, accuracy=accuracy, noise=noise, limit=items_per_batch, seed=seed, batch_name=name
            )
        self.follow_runs(found, wait)
        self.revision_round(found, wait)

    def revision_round(self, project: Project, wait: int) -> None:
        """Review the noisy batch's whole-batch suspects as a lead would, freeze the revised batch, follow its run."""
        noisy = Batch.objects.filter(project=project, name=NOISY).first()
        if noisy is None or Batch.objects.filter(project=project, name=REVISED).exists():
            return
        checked = Verdict.objects.filter(run__batch=noisy).exclude(run__label_check={}).first()
        if checked is None:
            plain = Run.objects.filter(batch=noisy, label_check={}, rerun_of__isnull=True, status=Run.DONE).first()
            if plain is None:
                self.say(f"batch {NOISY!r} has no finished run to check: no revision round")
                return
            # Its verdict was monotone, so no check started by itself: the lead asks for one.
            self.say(f"the lead asks the ladder to check every label of {NOISY!r}")
            training_services.label_check_request(run=plain)
            self.follow_runs(project, wait)
            checked = Verdict.objects.filter(run__batch=noisy).exclude(run__label_check={}).first()
            if checked is None:
                self.say(f"the label check of {NOISY!r} has no verdict: no revision round")
                return
        item_ids = [suspect["item_id"] for suspect in checked.suspects]
        changed = suspects_review_simulate(project=project, item_ids=item_ids, accuracy=0.95, seed=4)
        self.say(f"a simulated lead reviews the {len(item_ids)} suspects of {NOISY!r} "
                 f"(95% accurate, reason 'ladder suspect'): {changed} labels changed")
        revised = batch_create(project=project, name=REVISED, items=Item.objects.filter(batch_items__batch=noisy))
        batch_freeze(batch=revised)
        self.say(f"froze the revised batch {REVISED!r}; its run starts on the worker")
        self.follow_runs(project, wait)
        self.summary(project)

    def summary(self, project: Project) -> None:
        """Every batch's tuned F1 per rung and its verdict, side by side."""
        for name in (CLEAN, NOISY, REVISED):
            verdict = (
                Verdict.objects.filter(run__batch__project=project, run__batch__name=name)
                .order_by("-run__created_at").first()
            )
            if verdict is None or not verdict.tuned:
                continue
            scores = ", ".join(
                f"{rung} {f1:.2f}" for rung, f1 in zip(verdict.tuned.get("names", []), verdict.tuned.get("f1", []))
            )
            self.say(f"{name:<16} {verdict.get_kind_display():<24} {scores}")
        jobs = RungJob.objects.filter(run__batch__project=project)
        reused = jobs.filter(reused_from__isnull=False).count()
        self.say(f"{jobs.count()} rung jobs in all: {reused} took a stored result instead of training")

    def follow_runs(self, project: Project, wait: int) -> None:
        """Print rungs as they land until every run has ended and has its verdict (label checks included)."""
        deadline = time.monotonic() + wait
        runs = Run.objects.filter(batch__project=project)
        while time.monotonic() < deadline:
            for job in RungJob.objects.filter(run__in=runs, status__in=RungJob.FINAL_STATUSES).select_related(
                "rung", "run__batch"
            ):
                if job.pk in self.reported:
                    continue
                self.reported.add(job.pk)
                if job.reused_from_id is not None:
                    continue  # its source was reported when it trained
                self.say(f"batch {job.run.batch.name}: rung {job.rung.name}: {job_result(job)}")
            # A verdict that is not monotone starts its label-checking run in the same transaction.
            unjudged = runs.exclude(status__in=Run.OPEN_STATUSES).filter(verdict__isnull=True)
            if runs.exists() and not runs.filter(status__in=Run.OPEN_STATUSES).exists() and not unjudged.exists():
                break
            time.sleep(2)
        for run in runs.select_related("batch").order_by("created_at"):
            verdict = getattr(run, "verdict", None)
            if verdict is None:
                for _ in range(30):
                    time.sleep(1)
                    run.refresh_from_db()
                    verdict = getattr(run, "verdict", None)
                    if verdict is not None:
                        break
            checking = " (every label checked)" if run.label_check else ""
            self.say(f"verdict for {run.batch.name}{checking}: {verdict.message if verdict else 'not computed yet'}")


def job_result(job: RungJob) -> str:
    """One line for a finished job: base → tuned F1, a fold job's held-out F1, or why it did not finish."""
    tuned = (job.metrics.get("tuned") or {}).get("f1")
    base = (job.metrics.get("base") or {}).get("f1")
    if tuned is None:
        return f"{job.status}: {job.error}"
    if job.fold is not None:
        return f"label check, fold {job.fold + 1} of {job.run.label_check['folds']}: held-out F1 {tuned:.3f}"
    return f"F1 base {base:.3f} → tuned {tuned:.3f}" if base is not None else f"F1 tuned {tuned:.3f}"
