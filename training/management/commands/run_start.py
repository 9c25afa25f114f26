from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from annotation.models import Batch, Project
from training import services
from training.models import Ladder


class Command(BaseCommand):
    help = (
        "Start (or find) the run of a frozen batch on one of its project's ladders and print its id; "
        "--wait follows it to its verdict."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="the project's name")
        parser.add_argument("--batch", required=True, help="the frozen batch's name")
        parser.add_argument("--ladder", required=True, help="the ladder's name (one of the project's)")
        parser.add_argument("--hyperparameters", default="",
                            help='overrides for every rung, e.g. "lr=2e-5 epochs=2"')
        parser.add_argument("--learning-curve", action="store_true", help="also train halving subsets on each rung")
        parser.add_argument("--label-check", action="store_true",
                            help="also fine-tune the judging rungs on folds of the train split")
        parser.add_argument("--wait", action="store_true", help="show progress until the run has its verdict")
        parser.add_argument("--timeout", type=int, default=3600, help="seconds to wait with --wait")

    def handle(self, *args, project, batch, ladder, hyperparameters, learning_curve, label_check, wait, timeout,
               **options):
        found_project = Project.objects.filter(name=project).first()
        if found_project is None:
            raise CommandError(f"--project: no project named {project!r}")
        found_batch = Batch.objects.filter(project=found_project, name=batch).first()
        if found_batch is None:
            raise CommandError(f"--batch: project {project!r} has no batch named {batch!r}")
        found_ladder = Ladder.objects.filter(projects=found_project, name=ladder).first()
        if found_ladder is None:
            names = ", ".join(found_project.ladders.order_by("name").values_list("name", flat=True)) or "none"
            raise CommandError(f"--ladder: {ladder!r} is not one of project {project!r}'s ladders ({names})")
        try:
            run = services.run_request(
                batch=found_batch,
                ladder=found_ladder,
                hyperparameters=services.hyperparameters_parse(hyperparameters) if hyperparameters.strip() else {},
                learning_curve=learning_curve,
                label_check=services.label_check_config(ladder=found_ladder, project=found_project)
                if label_check else None,
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        jobs = run.rung_jobs.count()
        reused = run.rung_jobs.filter(reused_from__isnull=False).count()
        self.stdout.write(f"run {run.pk}: {run.status}, {jobs} rung jobs ({reused} reused from stored results)")
        if wait:
            call_command("run_status", run.pk, wait=True, timeout=timeout, stdout=self.stdout)
