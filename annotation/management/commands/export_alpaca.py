import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotation import exports
from annotation.models import Batch


class Command(BaseCommand):
    help = (
        "Write a frozen batch's export: alpaca JSON (default), chat-messages JSONL, dataset_info, "
        "Parquet for Hugging Face datasets, or an axolotl config."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, required=True)
        parser.add_argument("-o", "--output", required=True)
        parser.add_argument("--split", choices=["train", "eval", "all"], default="train")
        parser.add_argument("--format", choices=exports.KINDS, default="alpaca")

    def handle(self, *args, batch: int, output: str, split: str, format: str, **options):
        found = Batch.objects.select_related("project").filter(pk=batch).first()
        if found is None:
            raise CommandError(f"no batch {batch}")
        if not found.is_frozen:
            raise CommandError(f"batch {found.name!r} is not frozen; freeze it first")
        started = time.perf_counter()
        with open(output, "wb") as stream, tqdm(
            desc="exporting", unit="B", unit_scale=True, disable=options["verbosity"] < 1
        ) as bar:
            written = exports.write_export(
                batch=found, split=split, kind=format, stream=stream, progress=bar.update
            )
        self.stdout.write(
            f"wrote {written:,} bytes of batch {found.pk} ({found.short_hash}, {split}, {format}) "
            f"to {output} in {time.perf_counter() - started:.1f} s"
        )

