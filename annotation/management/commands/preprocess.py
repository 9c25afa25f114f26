from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotation.models import Project
from annotation.preprocessing import items_preprocess


class Command(BaseCommand):
    help = "Turn a project's messages into items: merge turns, drop noise, score, add context."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)

    def handle(self, *args, project: str, **options):
        found = Project.objects.filter(name=project).first()
        if found is None:
            raise CommandError(f"no project named {project!r}")
        with tqdm(desc="preprocessing", unit="chat", disable=options["verbosity"] < 1) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            result = items_preprocess(project=found, progress=progress)
        self.stdout.write(
            f"preprocessed {result.messages} messages in {result.chats} chats into {result.turns} turns "
            f"({result.dropped_short} too short): {result.candidates} candidates, "
            f"{result.created} new items ({result.already_present} already present) "
            f"in {result.seconds:.1f} s"
        )
