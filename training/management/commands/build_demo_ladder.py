import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotation.models import Project
from training.examples import pretraining_texts
from training.ml.ladder import CPU_LADDER, PRESETS, build_demo_ladder
from training.services import ladder_register


class Command(BaseCommand):
    help = "Build the demo ladder: a corpus tokenizer and small Qwen2 models, pre-trained and registered."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="its items are the pre-training text")
        parser.add_argument("--sizes", default=",".join(CPU_LADDER), help=f"comma-separated: {', '.join(PRESETS)}")
        parser.add_argument("--name", default="demo")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--steps", type=int, default=None, help="pre-training steps per rung")
        parser.add_argument("-o", "--output", default=None)

    def handle(self, *args, project: str, sizes: str, name: str, seed: int, steps, output, **options):
        found = Project.objects.filter(name=project).first()
        if found is None:
            raise CommandError(f"no project named {project!r}")
        texts = pretraining_texts(project=found)
        if not texts:
            raise CommandError(f"project {project!r} has no items yet: import and preprocess first")
        size_list = [size.strip() for size in sizes.split(",") if size.strip()]
        output_dir = Path(output) if output else Path(settings.VAR_DIR) / "ladders" / name
        started = time.perf_counter()
        bars: dict[str, tqdm] = {}

        def progress(rung: str, info: dict) -> None:
            bar = bars.get(rung) or bars.setdefault(
                rung, tqdm(total=info["steps"], desc=f"pre-training {rung}", disable=options["verbosity"] < 1)
            )
            bar.update(info["step"] - bar.n)
            bar.set_postfix(loss=f"{info['loss']:.3f}")

        try:
            rungs = build_demo_ladder(
                texts=texts, output_dir=output_dir, sizes=size_list, seed=seed, pretrain_steps=steps, progress=progress
            )
        except ValueError as error:
            raise CommandError(str(error)) from error
        for bar in bars.values():
            bar.close()
        ladder = ladder_register(name=name, rungs=rungs, projects=[found])
        summary = ", ".join(f"{rung['name']} ({rung['parameters']:,} params)" for rung in rungs)
        self.stdout.write(
            f"built ladder {ladder.name!r} for {project!r}: {summary} in {time.perf_counter() - started:.0f} s"
        )
