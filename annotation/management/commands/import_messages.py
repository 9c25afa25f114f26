"""Import chat messages from a file into a project's corpus."""

import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotation import services
from annotation.importers import FORMATS, import_job_execute
from annotation.importers.services import input_size
from annotation.models import ImportJob


class Command(BaseCommand):
    help = (
        "Import messages (JSONL, CSV, Slack, Telegram, IRC logs, Label Studio) into a "
        "project's corpus, all or nothing; messages already present are skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="a file, or a Slack export directory")
        parser.add_argument("--project", required=True, help="created when missing")
        parser.add_argument("--corpus", default="default")
        parser.add_argument("--format", choices=FORMATS, help="default: from the file")

    def handle(self, *args, path: Path, project: str, corpus: str, format: str | None, **options):
        if not path.exists():
            raise CommandError(f"{path}: no such file or directory")
        project_row, _ = services.project_get_or_create(name=project)
        job = ImportJob.objects.create(
            project=project_row,
            corpus_name=corpus,
            file_name=path.name,
            path=str(path.resolve()),
            format=format or "",
        )
        with tqdm(
            total=input_size(path), unit="B", unit_scale=True, desc=path.name,
            file=sys.stderr, disable=options["verbosity"] == 0,
        ) as bar:

            def show(done: int, total: int) -> None:
                bar.update(done - bar.n)

            started = time.perf_counter()
            import_job_execute(job=job, progress=show)
            seconds = time.perf_counter() - started
        if job.status == ImportJob.FAILED:
            raise CommandError(job.error)
        self.stdout.write(
            f"imported {job.messages_added} messages ({job.messages_skipped} already present) "
            f"from {path.name} in {seconds:.1f} s"
        )
        if job.format == "labelstudio":
            self.stdout.write(
                f"labels: {job.labels_added} added, {job.labels_waiting} waiting for items "
                f"(preprocess, then import again), {job.labels_unmapped} with a choice that is no option"
            )
            for example in job.labels_unmapped_examples:
                self.stdout.write(f"  unmapped: {example}")
