from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotation.models import Item, Project
from annotation.simulation import annotators_simulate


class Command(BaseCommand):
    help = "Label items as simulated annotators of a given accuracy; optionally plant noise and freeze."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--accuracy", type=float, default=0.9)
        parser.add_argument("--limit", type=int, default=None)
        parser.add_argument("--annotators", type=int, default=1)
        parser.add_argument("--noise", type=float, default=0.0, help="fraction of labels flipped on purpose")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--batch", default=None, help="freeze the labelled items as this batch")
        parser.add_argument("--noise-batch", default=None, help="same as --batch; reads well with --noise")
        parser.add_argument("--no-review", action="store_true")

    def handle(self, *args, project: str, **options):
        found = Project.objects.filter(name=project).first()
        if found is None:
            raise CommandError(f"no project named {project!r}")
        open_items = Item.objects.filter(project=found, label="").exclude(gold="").count()
        total = min(open_items, options["limit"]) if options["limit"] else open_items
        with tqdm(total=total, desc="labelling", unit="item", disable=options["verbosity"] < 1) as bar:
            try:
                result = annotators_simulate(
                    project=found,
                    accuracy=options["accuracy"],
                    limit=options["limit"],
                    annotators=options["annotators"],
                    noise=options["noise"],
                    seed=options["seed"],
                    review=not options["no_review"],
                    batch_name=options["batch"] or options["noise_batch"],
                    progress=bar.update,
                )
            except (ValueError, ValidationError) as error:
                raise CommandError(str(error)) from error
        batch = f", froze batch {result.batch_id}" if result.batch_id else ""
        self.stdout.write(
            f"labelled {result.labelled} items ({result.wrong} differ from gold, {len(result.planted)} "
            f"flipped on purpose){batch} in {result.seconds:.1f} s"
        )
