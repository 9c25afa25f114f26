"""Packed rows: no padding, no attention across examples, the same loss as one example at a time."""

import pytest
import torch
import torch.nn.functional as F

from training.ml.data import IGNORE_INDEX, TrainExample, encode_example
from training.ml.finetune import (
    LoraConfigValues,
    TrainingDynamics,
    collate_packed,
    packed_loss,
    packed_rows,
    prepare_model,
)

EXAMPLES = [
    TrainExample(prompt=f"History: the redis pod {n} restarts\nMessage: does it crash {n}?", response=response)
    for n, response in enumerate(["B:yes", "A:no", "B:needs extraction from the context", "A:no extraction needed"] * 2)
]


def test_rows_hold_every_example_once_within_the_budget():
    encoded = [{"input_ids": [n] * length, "labels": [n] * length} for n, length in enumerate([5, 50, 6, 49, 7, 51, 90])]
    rows = packed_rows(encoded, batch_tokens=100, seed=0)
    assert sorted(example["input_ids"][0] for row in rows for example in row) == list(range(7))
    assert all(sum(len(example["input_ids"]) for example in row) <= 100 for row in rows)
    assert packed_rows(encoded, batch_tokens=100, seed=0) == rows


def test_a_packed_row_has_no_padding_and_restarts_positions():
    encoded = [{"input_ids": [7] * 3, "labels": [IGNORE_INDEX, 8, 9]}, {"input_ids": [5] * 2, "labels": [IGNORE_INDEX, 4]}]
    batch = collate_packed(encoded, "cpu")
    assert batch["input_ids"].tolist() == [[7, 7, 7, 5, 5]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1]]
    assert batch["cu_seq_lens_q"].tolist() == [0, 3, 5]
    # Position p predicts p + 1; the last token of the first example predicts nothing.
    assert batch["logits_to_keep"].tolist() == [[True, True, False, True, False]]
    assert batch["targets"].tolist() == [8, 9, 4]


@pytest.fixture(scope="module")
def model_and_tokenizer(tiny_ladder):
    model, tokenizer = prepare_model(
        tiny_ladder[1]["path"], LoraConfigValues(r=8, dropout=0.0, modules_to_save=["lm_head"]), "cpu", torch.float32
    )
    model.eval()
    return model, tokenizer


def test_the_packed_loss_equals_the_loss_of_each_example_alone(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    encoded = [encode_example(tokenizer, example, max_length=512) for example in EXAMPLES]
    with torch.no_grad():
        packed = float(packed_loss(model, collate_packed(encoded, "cpu")))
        model.base_model.model.set_attn_implementation("sdpa")
        try:
            total, count = 0.0, 0
            for example in encoded:
                logits = model(input_ids=torch.tensor([example["input_ids"]])).logits[0, :-1]
                labels = torch.tensor(example["labels"][1:])
                total += float(F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX, reduction="sum"))
                count += int((labels != IGNORE_INDEX).sum())
        finally:
            model.base_model.model.set_attn_implementation("ladderlab_packed_sdpa")
    assert packed == pytest.approx(total / count, rel=1e-4)


CHOICES = ("A:no extraction needed", "B:needs extraction from the context", "C:don't know")


def test_training_dynamics_read_each_examples_own_answer_logits(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    examples = [
        TrainExample(prompt=f"History: pod {n} restarts\nMessage: why {n}?", response=CHOICES[n % 2], key=str(n),
                     choices=CHOICES)
        for n in range(5)
    ] + [TrainExample(prompt="History: none\nMessage: no key?", response=CHOICES[0], choices=CHOICES)]
    encoded = [encode_example(tokenizer, example, max_length=512) for example in examples]
    dynamics = TrainingDynamics()
    with torch.no_grad():
        packed_loss(model, collate_packed(encoded, "cpu"), dynamics)
        model.base_model.model.set_attn_implementation("sdpa")
        try:
            first_tokens = [tokenizer(choice, add_special_tokens=False)["input_ids"][0] for choice in CHOICES]
            expected = {}
            for example, row in zip(examples[:5], encoded):
                answer_start = row["labels"].index(next(label for label in row["labels"] if label != IGNORE_INDEX))
                logits = model(input_ids=torch.tensor([row["input_ids"]])).logits[0, answer_start - 1, first_tokens]
                answer = CHOICES.index(example.response)
                others = [float(score) for index, score in enumerate(logits) if index != answer]
                expected[example.key] = (float(logits[answer]) - max(others),
                                         float(torch.softmax(logits, dim=0)[answer]))
        finally:
            model.base_model.model.set_attn_implementation("ladderlab_packed_sdpa")
    summary = dynamics.summary()
    assert set(summary) == set(expected), "an example without a key is not recorded"
    for key, (margin, probability) in expected.items():
        area, confidence, variability, seen = summary[key]
        assert area == pytest.approx(margin, abs=1e-4) and confidence == pytest.approx(probability, abs=1e-5)
        assert variability == 0.0 and seen == 1
