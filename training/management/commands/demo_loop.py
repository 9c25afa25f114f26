"""The demo's full loop, run beside the web server and the worker.

Builds the demo ladder (once), labels two batches with simulated annotators —
one clean, one with planted label noise — and freezes them; each freeze starts
a run on the worker. Then it prints each rung's F1 as it lands and the two
verdicts. Safe to re-run: finished steps are skipped.
"""

import os
import time

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from annotation.models import Batch, Item, Project
from annotation.simulation import annotators_simulate
from training.models import Run, RungJob

BATCHES = [
    # (name, accuracy, planted noise, seed)
    ("clean-1", 0.97, 0.0, 1),
    ("noisy-1", 0.97, 0.3, 2),
]


class Command(BaseCommand):
    help = "Run the demo loop: ladder, two labelled batches (clean and noisy), runs and verdicts."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        # The demo's environment variables set the defaults that `make demo` uses.
        parser.add_argument("--items-per-batch", type=int, default=int(os.environ.get("DEMO_ITEMS_PER_BATCH", 700)))
        parser.add_argument("--pretrain-steps", type=int, default=int(os.environ.get("DEMO_PRETRAIN_STEPS", 200)))
        parser.add_argument("--wait", type=int, default=3600, help="seconds to wait for the runs")

    def say(self, text: str) -> None:
        self.stdout.write(self.style.HTTP_INFO(f"[loop] {text}"))
        self.stdout.flush()

    def handle(self, *args, project: str, items_per_batch: int, pretrain_steps: int, wait: int, **options):
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

    def follow_runs(self, project: Project, wait: int) -> None:
        reported: set[int] = set()
        deadline = time.monotonic() + wait
        runs = Run.objects.filter(batch__project=project)
        while time.monotonic() < deadline:
            for job in RungJob.objects.filter(run__in=runs, status__in=RungJob.FINAL_STATUSES).select_related(
                "rung", "run__batch"
            ):
                if job.pk in reported:
                    continue
                reported.add(job.pk)
                tuned = (job.metrics.get("tuned") or {}).get("f1")
                base = (job.metrics.get("base") or {}).get("f1")
                result = (
                    f"F1 base {base:.3f} → tuned {tuned:.3f}" if tuned is not None else f"{job.status}: {job.error}"
                )
                self.say(f"batch {job.run.batch.name}: rung {job.rung.name}: {result}")
            if runs.exists() and not runs.filter(status__in=Run.OPEN_STATUSES).exists():
                break
            time.sleep(2)
        for run in runs.select_related("batch"):
            verdict = getattr(run, "verdict", None)
            if verdict is None:
                for _ in range(30):
                    time.sleep(1)
                    run.refresh_from_db()
                    verdict = getattr(run, "verdict", None)
                    if verdict is not None:
                        break
            self.say(f"verdict for {run.batch.name}: {verdict.message if verdict else 'not computed yet'}")
