import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from tqdm import tqdm

from annotation.sample_corpus import write_jsonl


class Command(BaseCommand):
    help = "Write a deterministic sample corpus of technical group chats (JSONL, hidden gold labels)."

    def add_arguments(self, parser):
        parser.add_argument("--messages", type=int, default=58_000)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("-o", "--output", default=None)

    def handle(self, *args, messages: int, seed: int, output: str | None, **options):
        path = Path(output) if output else Path(settings.VAR_DIR) / "sample" / f"corpus-{messages}-{seed}.jsonl"
        started = time.perf_counter()
        with tqdm(total=messages, desc="generating", unit="msg", disable=options["verbosity"] < 1) as bar:
            counts = write_jsonl(path=path, messages=messages, seed=seed, progress=bar.update)
        self.stdout.write(
            f"wrote {counts['messages']} messages in {counts['chats']} chats with {counts['candidates']} "
            f"candidate questions ({counts['gold:extraction']} need extraction) to {path} "
            f"in {time.perf_counter() - started:.1f} s"
        )
