"""Does the demo ladder's tuned F1 rise with size on clean data, and flatten with noise?

Runs on its own embedded SQLite database in a scratch folder: generates the
sample corpus, imports and preprocesses it, lets simulated annotators label a
clean batch and a batch with 30% planted label noise, builds the demo ladder,
then LoRA-tunes and scores every rung on both batches and prints F1 and the
AUC of the option margin per size.

    .venv/bin/python benchmarks/ladder_scaling_experiment.py [--sizes cpu-xs,cpu-s,cpu-m,cpu-l]
        [--messages 58000] [--items 1600] [--pretrain-steps 300] [--batches clean,noisy] [--shuffle]

The loop figure (target: a 2,000-item batch fine-tuned and scored on the
4-rung demo ladder in <= 10 min on 2 CPU cores) is the tuning and scoring
time of `--items 2000 --batches clean`.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="cpu-xs,cpu-s,cpu-m,cpu-l")
    parser.add_argument("--messages", type=int, default=58_000)
    parser.add_argument("--items", type=int, default=1600, help="items per batch")
    parser.add_argument("--pretrain-steps", type=int, default=300)
    parser.add_argument("--batches", default="clean,noisy", help="which of the two batches to tune on")
    parser.add_argument("--shuffle", action="store_true", help="letter the options in a per-item shuffled order")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="ladder-experiment-"))
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ["LADDERLAB_VAR_DIR"] = str(folder)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from annotation import services
    from annotation.importers import messages_import
    from annotation.preprocessing import items_preprocess
    from annotation.sample_corpus import write_jsonl
    from annotation.simulation import annotators_simulate
    from training.experiments import ladder_scaling

    call_command("migrate", verbosity=0)
    project = services.project_create(name="experiment", shuffle_options=args.shuffle)
    write_jsonl(path=folder / "corpus.jsonl", messages=args.messages, seed=0)
    messages_import(project=project, path=folder / "corpus.jsonl")
    items_preprocess(project=project)
    annotators_simulate(project=project, accuracy=1.0, limit=args.items, seed=1, batch_name="clean")
    annotators_simulate(project=project, accuracy=1.0, limit=args.items, noise=0.3, seed=2, batch_name="noisy")
    started = time.perf_counter()
    rungs, results = ladder_scaling(
        project=project, batch_names=args.batches.split(","), sizes=args.sizes.split(","),
        pretrain_steps=args.pretrain_steps, output_dir=folder,
    )
    print(f"ladder built and tuned in {time.perf_counter() - started:.0f} s "
          f"(tuning and scoring: {sum(row.train_seconds + row.eval_seconds for row in results):.0f} s): "
          + ", ".join(f"{rung['name']} {rung['parameters']:,}" for rung in rungs))
    print(f"{'batch':<6} {'rung':<7} {'F1':>6} {'AUC':>6} {'train s':>8} {'tokens/s':>9} {'eval s':>7}")
    for row in results:
        print(f"{row.batch:<6} {row.rung:<7} {row.f1:6.3f} {row.auc:6.3f} {row.train_seconds:8.0f} "
              f"{row.tokens_per_second:9.0f} {row.eval_seconds:7.1f}")


if __name__ == "__main__":
    main()
