from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from annotation.models import Project
from training import services
from training.checkpoints import PRESET_LADDERS, QWEN25_DEFAULT_LR, QWEN25_FIXED_LR, preset_directories


class Command(BaseCommand):
    help = (
        "Register a ladder of local checkpoint directories (safetensors causal LMs with a tokenizer), "
        "ordered by parameter count, which is read from the safetensors headers without loading weights. "
        f"--preset qwen2.5 --root DIR takes the Qwen2.5 0.5B-32B rungs found under DIR (Qwen2.5-3B-Instruct "
        f"or Qwen2.5-3B, and so on), each with lr {QWEN25_DEFAULT_LR:g} except the 3B rung at {QWEN25_FIXED_LR:g}: "
        "the seed paper (arXiv 2405.02817) used Qwen1.5 and lowered its 4B rung's lr from 2e-4 to 2e-5; "
        "the nearest Qwen2.5 size is 3B."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="the ladder's name; an existing ladder's rungs are updated")
        parser.add_argument("--rung", action="append", default=[], metavar="DIR", help="a checkpoint directory")
        parser.add_argument("--preset", choices=sorted(PRESET_LADDERS), help="a known ladder, found under --root")
        parser.add_argument("--root", help="the directory holding the preset's checkpoint directories")
        parser.add_argument("--project", action="append", default=[], metavar="NAME",
                            help="a project whose frozen batches run on this ladder")

    def handle(self, *args, name: str, rung: list, preset, root, project: list, **options):
        if bool(preset) != bool(root):
            raise CommandError("--preset and --root go together")
        directories, hyperparameters = list(rung), {}
        if preset:
            found, missing = preset_directories(preset, root)
            if missing:
                self.stdout.write(f"not found under {root}: {', '.join(missing)}")
            if not found:
                raise CommandError(f"no {preset} checkpoint directory under {root}")
            for directory, values in found:
                directories.append(str(directory))
                hyperparameters[str(directory)] = values
        if not directories:
            raise CommandError("give --rung DIR (one or more) or --preset with --root")
        projects = []
        for project_name in project:
            found_project = Project.objects.filter(name=project_name).first()
            if found_project is None:
                raise CommandError(f"no project named {project_name!r}")
            projects.append(found_project)
        try:
            ladder = services.ladder_register_checkpoints(
                name=name, directories=directories, projects=projects, hyperparameters=hyperparameters
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        for registered in ladder.rungs.order_by("order"):
            self.stdout.write(
                f"{registered.order}: {registered.name} {registered.parameters:,} parameters, "
                f"queue {registered.queue}, {registered.hyperparameters or 'run defaults'}"
            )
        self.stdout.write(f"registered ladder {ladder.name!r} with {ladder.rungs.count()} rungs")
