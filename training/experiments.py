"""Does the demo ladder's tuned F1 rise with size, and does label noise flatten it?

Builds the demo ladder from a project's messages, then LoRA-tunes and scores
every rung on each named batch, in this process (no worker), and reports F1
and the AUC of the option margin per size. The benchmark script
`benchmarks/ladder_scaling_experiment.py` prints it. The same question through
the worker and the verdict is held, with fixed seeds, by
`tests/scaling/services/test_verdict_on_real_training.py`.
"""

import time
from dataclasses import dataclass
from pathlib import Path

from annotation.models import Batch, Project
from training.examples import eval_examples, pretraining_texts, train_examples


@dataclass
class RungResult:
    batch: str
    rung: str
    parameters: int
    f1: float
    auc: float
    train_seconds: float
    tokens_per_second: float
    eval_seconds: float


def ladder_scaling(
    *, project: Project, batch_names: list[str], sizes: list[str], pretrain_steps: int, output_dir: Path, seed: int = 0
) -> tuple[list[dict], list[RungResult]]:
    """The rungs built, and one result per batch and rung, in that order."""
    from sklearn.metrics import f1_score, roc_auc_score

    from training.ml.evaluate import score_choices
    from training.ml.finetune import LoraConfigValues, lora_finetune
    from training.ml.ladder import DEMO_HYPERPARAMETERS, build_demo_ladder, load_model

    rungs = build_demo_ladder(
        texts=pretraining_texts(project=project), output_dir=output_dir / "ladder", sizes=sizes,
        pretrain_steps=pretrain_steps, seed=seed,
    )
    results = []
    for name in batch_names:
        batch = Batch.objects.get(project=project, name=name)
        train = train_examples(batch=batch)
        evaluation, option_values, labels = eval_examples(batch=batch)
        truth = [labels[example.key] == project.positive_option for example in evaluation]
        for rung in rungs:
            tuned = lora_finetune(
                checkpoint_dir=rung["path"], examples=train, output_dir=output_dir / "adapters" / f"{name}-{rung['name']}",
                config=LoraConfigValues.from_overrides({**DEMO_HYPERPARAMETERS, "seed": seed}),
            )
            model, tokenizer = load_model(rung["path"], adapter_dir=tuned.adapter_dir)
            started = time.perf_counter()
            scores = score_choices(model=model, tokenizer=tokenizer, examples=evaluation)
            eval_seconds = time.perf_counter() - started
            predicted, margins = [], []
            for score in scores:
                values = option_values[score.key]
                positive = values.index(project.positive_option)
                predicted.append(values[score.choice_index] == project.positive_option)
                margins.append(score.logprobs[positive] - max(
                    logprob for index, logprob in enumerate(score.logprobs) if index != positive
                ))
            results.append(RungResult(
                batch=name, rung=rung["name"], parameters=rung["parameters"],
                f1=float(f1_score(truth, predicted, zero_division=0)), auc=float(roc_auc_score(truth, margins)),
                train_seconds=tuned.seconds, tokens_per_second=tuned.tokens_per_second, eval_seconds=eval_seconds,
            ))
    return rungs, results
