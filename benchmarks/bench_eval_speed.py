"""Constrained scoring vs the per-item `generate` baseline on a tuned rung.

Target: >= 4x faster on 2 CPU cores (>= 20x on a GPU) with identical predictions.
Builds a small demo rung from the sample corpus, LoRA-tunes it on the fixed-order
task, then scores 500 eval prompts both ways.

    .venv/bin/python benchmarks/bench_eval_speed.py [--size cpu-s] [--items 500]
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The prompt renderer lives in the annotation app; no database is touched.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LADDERLAB_VAR_DIR", tempfile.mkdtemp(prefix="bench-eval-"))
import django  # noqa: E402

django.setup()

from annotation.exports import LETTERS, render_instruction  # noqa: E402
from annotation.sample_corpus import generate  # noqa: E402
from training.ml.data import EvalExample, TrainExample  # noqa: E402
from training.ml.evaluate import generate_answers, parse_answer, score_choices  # noqa: E402
from training.ml.finetune import LoraConfigValues, lora_finetune  # noqa: E402
from training.ml.ladder import DEMO_HYPERPARAMETERS, build_demo_ladder, load_model  # noqa: E402

OPTIONS = [("no_extraction", "no extraction needed"), ("extraction", "needs extraction from the context"),
           ("dont_know", "don't know")]


def examples(count: int):
    """Candidates of the sample corpus with their 11 earlier messages, as prompts."""
    rows = list(generate(messages=40_000, seed=11))
    train, evaluate = [], []
    for index, row in enumerate(rows):
        if "gold" not in row:
            continue
        history = [{"username": r["sender"][:1].upper(), "content": r["text"]} for r in rows[max(0, index - 11):index]
                   if r["chat"] == row["chat"]]
        lettered = [(LETTERS[i], text) for i, (_, text) in enumerate(OPTIONS)]
        prompt = render_instruction(instruction="Does answering the message need the history?", history=history,
                                    sender="Z", text=row["text"], lettered=lettered)
        answer = next(f"{LETTERS[i]}:{text}" for i, (value, text) in enumerate(OPTIONS) if value == row["gold"])
        train.append(TrainExample(prompt=prompt, response=answer))
        evaluate.append(EvalExample(prompt=prompt, choices=[f"{l}:{t}" for l, t in lettered], key=str(index)))
    return train[:1200], evaluate[-count:]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="cpu-s")
    parser.add_argument("--items", type=int, default=500)
    args = parser.parse_args()
    train, evaluate = examples(args.items)
    with tempfile.TemporaryDirectory() as folder:
        rungs = build_demo_ladder(texts=[e.prompt for e in train], output_dir=Path(folder), sizes=[args.size],
                                  pretrain_steps=150)
        result = lora_finetune(checkpoint_dir=rungs[0]["path"], examples=train, output_dir=Path(folder) / "adapter",
                               config=LoraConfigValues.from_overrides(DEMO_HYPERPARAMETERS))
        model, tokenizer = load_model(rungs[0]["path"], adapter_dir=result.adapter_dir)
        started = time.perf_counter()
        scores = score_choices(model=model, tokenizer=tokenizer, examples=evaluate)
        scored_seconds = time.perf_counter() - started
        started = time.perf_counter()
        generated = generate_answers(model=model, tokenizer=tokenizer, examples=evaluate)
        generate_seconds = time.perf_counter() - started
    parsed = [parse_answer(text, item.choices) for text, item in zip(generated, evaluate)]
    same = sum(score.choice_index == answer for score, answer in zip(scores, parsed))
    unparseable = parsed.count(None)
    print(f"rung {args.size} ({rungs[0]['parameters']:,} parameters), {len(evaluate)} eval items, "
          f"tuned: train loss {result.loss_curve[-1][1]:.3f}")
    print(f"constrained scoring: {scored_seconds:.2f} s   per-item generate: {generate_seconds:.2f} s   "
          f"speed-up {generate_seconds / scored_seconds:.1f}x   target: >= 4x on 2 CPU cores")
    print(f"same prediction on {same}/{len(evaluate)} items ({unparseable} generated answers unparseable)"
          f"   target: identical")


if __name__ == "__main__":
    main()
