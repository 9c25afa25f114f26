"""Does the demo ladder's tuned F1 rise with size on clean data, and flatten with noise?

Runs on its own embedded SQLite database in a scratch folder: generates the
sample corpus, imports and preprocesses it, lets simulated annotators label a
clean batch and a batch with 30% planted label noise, builds the demo ladder,
then LoRA-tunes and scores every rung on both batches and prints F1 and the
AUC of the option margin per size.

    .venv/bin/python benchmarks/ladder_scaling_experiment.py [--sizes cpu-xs,cpu-s,cpu-m,cpu-l]
        [--messages 58000] [--items 1600] [--pretrain-steps 300] [--shuffle]
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
    from sklearn.metrics import f1_score, roc_auc_score

    from annotation import services
    from annotation.importers import messages_import
    from annotation.preprocessing import items_preprocess
    from annotation.sample_corpus import write_jsonl
    from annotation.simulation import annotators_simulate
    from annotation.models import Batch
    from training.examples import eval_examples, pretraining_texts, train_examples
    from training.ml.evaluate import score_choices
    from training.ml.finetune import LoraConfigValues, lora_finetune
    from training.ml.ladder import DEMO_HYPERPARAMETERS, build_demo_ladder, load_model

    call_command("migrate", verbosity=0)
    project = services.project_create(name="experiment", shuffle_options=args.shuffle)
    write_jsonl(path=folder / "corpus.jsonl", messages=args.messages, seed=0)
    messages_import(project=project, path=folder / "corpus.jsonl")
    items_preprocess(project=project)
    annotators_simulate(project=project, accuracy=1.0, limit=args.items, seed=1, batch_name="clean")
    annotators_simulate(project=project, accuracy=1.0, limit=args.items, noise=0.3, seed=2, batch_name="noisy")
    sizes = args.sizes.split(",")
    started = time.perf_counter()
    rungs = build_demo_ladder(
        texts=pretraining_texts(project=project), output_dir=folder / "ladder", sizes=sizes,
        pretrain_steps=args.pretrain_steps,
    )
    print(f"ladder built in {time.perf_counter() - started:.0f} s: "
          + ", ".join(f"{rung['name']} {rung['parameters']:,}" for rung in rungs), flush=True)
    print(f"{'batch':<6} {'rung':<7} {'F1':>6} {'AUC':>6} {'train s':>8} {'tokens/s':>9} {'eval s':>7}")
    for name in ("clean", "noisy"):
        batch = Batch.objects.get(project=project, name=name)
        train = train_examples(batch=batch)
        evaluation, option_values, labels = eval_examples(batch=batch)
        truth = [labels[example.key] == project.positive_option for example in evaluation]
        for rung in rungs:
            tuned = lora_finetune(
                checkpoint_dir=rung["path"], examples=train, output_dir=folder / "adapters" / f"{name}-{rung['name']}",
                config=LoraConfigValues.from_overrides(DEMO_HYPERPARAMETERS),
            )
            model, tokenizer = load_model(rung["path"], adapter_dir=tuned.adapter_dir)
            scoring_started = time.perf_counter()
            scores = score_choices(model=model, tokenizer=tokenizer, examples=evaluation)
            scoring_seconds = time.perf_counter() - scoring_started
            predicted, margins = [], []
            for score in scores:
                values = option_values[score.key]
                positive = values.index(project.positive_option)
                predicted.append(values[score.choice_index] == project.positive_option)
                margins.append(score.logprobs[positive] - max(
                    logprob for index, logprob in enumerate(score.logprobs) if index != positive
                ))
            print(f"{name:<6} {rung['name']:<7} {f1_score(truth, predicted):6.3f} {roc_auc_score(truth, margins):6.3f} "
                  f"{tuned.seconds:8.0f} {tuned.tokens_per_second:9.0f} {scoring_seconds:7.1f}", flush=True)


if __name__ == "__main__":
    main()
