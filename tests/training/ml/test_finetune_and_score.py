"""LoRA fine-tuning, constrained scoring and reloading on a tiny two-layer rung."""

import math

import pytest
import torch

from training.ml.data import EvalExample, TrainExample, prompt_text
from training.ml.evaluate import generate_answers, parse_answer, score_choices
from training.ml.finetune import Cancelled, Diverged, LoraConfigValues, lora_finetune
from training.ml.ladder import load_model

pytestmark = pytest.mark.slow

CHOICES = ["A:no extraction needed", "B:needs extraction from the context"]


def toy_examples(count: int) -> tuple[list[TrainExample], list[EvalExample]]:
    """A learnable rule: a question with "it" needs the history (B), one naming its subject not (A)."""
    train, evaluate = [], []
    for n in range(count):
        needs = n % 2 == 0
        message = f"does it crash on node {n}?" if needs else f"how do I install redis on node {n}?"
        prompt = f"History: the redis pod {n} restarts\nMessage: {message}"
        train.append(TrainExample(prompt=prompt, response=CHOICES[1] if needs else CHOICES[0]))
        evaluate.append(EvalExample(prompt=prompt, choices=CHOICES, key=str(n), positive=1))
    return train, evaluate


TOY_CONFIG = LoraConfigValues(r=8, alpha=16, lr=5e-3, epochs=4, batch_tokens=512, modules_to_save=["lm_head"])


@pytest.fixture(scope="module")
def tuned(tiny_ladder, tmp_path_factory):
    train, evaluate = toy_examples(64)
    reports = []
    result = lora_finetune(
        checkpoint_dir=tiny_ladder[1]["path"], examples=train, output_dir=tmp_path_factory.mktemp("adapter"),
        config=TOY_CONFIG, progress=reports.append,
    )
    return result, evaluate, reports


def test_the_loss_falls_progress_is_reported_and_the_adapter_is_saved(tuned):
    result, _, reports = tuned
    first = sum(loss for _, loss in result.loss_curve[:3]) / 3
    last = sum(loss for _, loss in result.loss_curve[-3:]) / 3
    assert last < first / 2
    assert result.steps == len(result.loss_curve)
    assert reports[-1]["step"] == reports[-1]["steps"] == result.steps
    assert set(reports[-1]) == {"step", "steps", "loss", "tokens_per_second", "eta_seconds"}
    assert (result.tokens_per_second > 0) and (result.tokens > 0)
    assert {"adapter_config.json", "adapter_model.safetensors"} <= {p.name for p in _files(result.adapter_dir)}


def _files(directory):
    from pathlib import Path

    return list(Path(directory).iterdir())


def test_constrained_scoring_picks_what_per_item_generate_answers(tiny_ladder, tuned):
    result, evaluate, _ = tuned
    model, tokenizer = load_model(tiny_ladder[1]["path"], adapter_dir=result.adapter_dir)
    scores = score_choices(model=model, tokenizer=tokenizer, examples=evaluate[:24], batch_size=5)
    generated = generate_answers(model=model, tokenizer=tokenizer, examples=evaluate[:24])
    parsed = [parse_answer(text, CHOICES) for text in generated]
    assert None not in parsed
    assert [score.choice_index for score in scores] == parsed
    # Each item is scored on its own text: the margins differ from item to item.
    assert len({round(score.margin, 4) for score in scores}) > 1
    assert [score.key for score in scores] == [example.key for example in evaluate[:24]]
    for score in scores:
        assert score.margin == pytest.approx(score.logprobs[1] - score.logprobs[0])


def test_a_choice_scores_its_whole_log_likelihood(tiny_ladder, tuned):
    result, evaluate, _ = tuned
    model, tokenizer = load_model(tiny_ladder[1]["path"], adapter_dir=result.adapter_dir)
    example = evaluate[3]
    [score] = score_choices(model=model, tokenizer=tokenizer, examples=[example])
    prompt_ids = tokenizer(prompt_text(tokenizer, example.prompt), add_special_tokens=False)["input_ids"]
    for choice, scored in zip(example.choices, score.logprobs):
        choice_ids = tokenizer(choice, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([prompt_ids + choice_ids])).logits[0].float()
        logprobs = torch.log_softmax(logits, dim=-1)
        expected = sum(float(logprobs[len(prompt_ids) - 1 + i, token]) for i, token in enumerate(choice_ids))
        assert scored == pytest.approx(expected, abs=1e-4)


def test_a_saved_adapter_reloads_to_the_same_predictions(tiny_ladder, tuned):
    result, evaluate, _ = tuned
    first, tokenizer = load_model(tiny_ladder[1]["path"], adapter_dir=result.adapter_dir)
    second, _ = load_model(tiny_ladder[1]["path"], adapter_dir=result.adapter_dir)
    base, _ = load_model(tiny_ladder[1]["path"])
    ids = torch.tensor([tokenizer(prompt_text(tokenizer, evaluate[0].prompt), add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        tuned_logits = first(input_ids=ids).logits
        assert torch.equal(tuned_logits, second(input_ids=ids).logits)
        assert not torch.allclose(tuned_logits, base(input_ids=ids).logits)


def test_the_same_seed_gives_the_same_loss_curve(tiny_ladder, tmp_path):
    train, _ = toy_examples(16)
    config = LoraConfigValues(r=4, lr=1e-3, batch_tokens=256, epochs=2)
    first = lora_finetune(checkpoint_dir=tiny_ladder[0]["path"], examples=train, output_dir=tmp_path / "a", config=config)
    second = lora_finetune(checkpoint_dir=tiny_ladder[0]["path"], examples=train, output_dir=tmp_path / "b", config=config)
    assert len(first.loss_curve) > 2
    assert first.loss_curve == second.loss_curve


def test_a_cancel_request_stops_training(tiny_ladder, tmp_path):
    train, _ = toy_examples(16)
    with pytest.raises(Cancelled):
        lora_finetune(
            checkpoint_dir=tiny_ladder[0]["path"], examples=train, output_dir=tmp_path / "c",
            config=LoraConfigValues(r=4, batch_tokens=256), should_cancel=lambda: True,
        )
    assert not (tmp_path / "c").exists()


def test_a_nan_loss_raises_diverged(tiny_ladder, tmp_path):
    train, _ = toy_examples(16)
    with pytest.raises(Diverged, match="loss is nan"):
        lora_finetune(
            checkpoint_dir=tiny_ladder[0]["path"], examples=train, output_dir=tmp_path / "d",
            config=LoraConfigValues(r=4, lr=math.inf, warmup_ratio=0.0, batch_tokens=256),
        )
