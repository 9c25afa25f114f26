"""How examples are rendered and masked, and how generated answers are read."""

import pytest
from transformers import AutoTokenizer

from training.ml.data import IGNORE_INDEX, TrainExample, encode_example, prompt_text, render_chat
from training.ml.evaluate import parse_answer

CHOICES = ["A:no extraction needed", "B:needs extraction from the context", "C:don't know"]


@pytest.fixture(scope="module")
def tokenizer(tiny_ladder):
    return AutoTokenizer.from_pretrained(tiny_ladder[0]["path"], local_files_only=True)


def test_the_demo_tokenizer_renders_chatml_like_qwen(tokenizer, tiny_ladder):
    assert "chat_template" in (open(f"{tiny_ladder[0]['path']}/tokenizer_config.json").read())
    assert prompt_text(tokenizer, "is it down?") == "<|im_start|>user\nis it down?<|im_end|>\n<|im_start|>assistant\n"
    assert render_chat(tokenizer, "is it down?", "B:yes") == (
        "<|im_start|>user\nis it down?<|im_end|>\n<|im_start|>assistant\nB:yes<|im_end|>"
    )
    for special in ("<|im_start|>", "<|im_end|>", "<|endoftext|>"):
        assert len(tokenizer(special, add_special_tokens=False)["input_ids"]) == 1
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"


def test_without_a_chat_template_the_alpaca_prompt_is_used(tiny_ladder):
    plain = AutoTokenizer.from_pretrained(tiny_ladder[0]["path"], local_files_only=True)
    plain.chat_template = None
    assert render_chat(plain, "is it down?", "B:yes") == (
        "### Instruction:\nis it down?\n\n### Response:\nB:yes" + plain.eos_token
    )


def test_labels_are_ignored_exactly_on_the_prompt_tokens(tokenizer):
    example = TrainExample(prompt="History: redis restarts\nMessage: does it also crash?", response=CHOICES[1])
    encoded = encode_example(tokenizer, example, max_length=512)
    prompt_ids = tokenizer(prompt_text(tokenizer, example.prompt), add_special_tokens=False)["input_ids"]
    labels = encoded["labels"]
    assert labels[: len(prompt_ids)] == [IGNORE_INDEX] * len(prompt_ids)
    assert IGNORE_INDEX not in labels[len(prompt_ids):]
    assert labels[len(prompt_ids):] == encoded["input_ids"][len(prompt_ids):]
    assert tokenizer.decode(labels[len(prompt_ids):]) == CHOICES[1] + "<|im_end|>"


def test_a_long_prompt_loses_its_oldest_tokens_never_the_answer(tokenizer):
    example = TrainExample(prompt="word " * 400 + "the end?", response="A:no")
    encoded = encode_example(tokenizer, example, max_length=64)
    assert len(encoded["input_ids"]) == 64
    assert tokenizer.decode([t for t in encoded["labels"] if t != IGNORE_INDEX]) == "A:no<|im_end|>"


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("B", 1),
        ("B:", 1),
        ("B:needs extraction from the context", 1),
        ("B: needs extraction from the context", 1),
        (" (C) don't know", 2),
        ("A.", 0),
        ("needs extraction from the context", 1),
        ("No extraction needed", 0),
        ("don't know", 2),
        ("C:don't know", 2),
        ("", None),
        ("maybe", None),
        ("D:", None),
        ("Blah", None),
        ("<|im_end|>", None),
    ],
)
def test_the_answer_parser(answer, expected):
    assert parse_answer(answer, CHOICES) == expected


def test_the_parser_follows_the_items_own_letters():
    shuffled = ["A:don't know", "B:no extraction needed", "C:needs extraction from the context"]
    assert parse_answer("C", shuffled) == 2
    assert parse_answer("no extraction needed", shuffled) == 1
    assert parse_answer("don't know", shuffled) == 0
