from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from annotation.batches import batch_create_frozen
from annotation.models import Project


class Command(BaseCommand):
    help = "Create a batch from a project's labelled (or reviewed) items and freeze it."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--reviewed-only", action="store_true")
        parser.add_argument("--eval-share", type=float, default=None)

    def handle(self, *args, project: str, name: str, reviewed_only: bool, eval_share, **options):
        found = Project.objects.filter(name=project).first()
        if found is None:
            raise CommandError(f"no project named {project!r}")
        try:
            batch = batch_create_frozen(
                project=found, name=name, selection="reviewed" if reviewed_only else "labelled", eval_share=eval_share
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        self.stdout.write(
            f"froze batch {batch.pk} {batch.name!r}: {batch.train_count} train, {batch.eval_count} eval, "
            f"hash {batch.content_hash}"
        )
