"""Examples, and how a model sees them: its chat template, or the alpaca prompt.

Training and scoring both render an item through `prompt_text` and
`answer_text`, so the tokens a model is tuned on are exactly the tokens it is
scored on. With a chat template (Qwen checkpoints and the demo tokenizer:
ChatML) the prompt is one user turn plus the assistant header and the answer
ends with the template's end-of-turn token; without one, the alpaca prompt
and the tokenizer's EOS.
"""

from dataclasses import dataclass

ALPACA_PROMPT = "### Instruction:\n{prompt}\n\n### Response:\n"
IGNORE_INDEX = -100


@dataclass(frozen=True)
class TrainExample:
    prompt: str
    # The answer as the export writes it, e.g. "B:needs extraction from the context".
    response: str
    # With both, training records how the model sees this example as it learns
    # (finetune.TrainingDynamics): which item it is, and the choices its
    # response is one of, in the order the prompt lists them.
    key: str = ""
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class EvalExample:
    prompt: str
    # e.g. ["A:no extraction needed", "B:needs extraction from the context", "C:don't know"]
    choices: list[str]
    key: str
    # The choice that counts as the positive class, when the caller wants a margin.
    positive: int | None = None


def prompt_text(tokenizer, prompt: str) -> str:
    """The text before the answer."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
    return ALPACA_PROMPT.format(prompt=prompt)


def answer_text(tokenizer, prompt: str, response: str) -> str:
    """The answer as the template writes it after `prompt_text`, end-of-turn token included.

    Taken from the template itself (the full conversation minus the prompt), so
    templates other than ChatML close the turn their own way; trailing
    whitespace after the end-of-turn token is not trained on.
    """
    if getattr(tokenizer, "chat_template", None):
        prefix = prompt_text(tokenizer, prompt)
        full = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}], tokenize=False
        )
        if full.startswith(prefix) and response in full[len(prefix):]:
            return full[len(prefix):].rstrip()
    return response + (tokenizer.eos_token or "")


def render_chat(tokenizer, prompt: str, response: str | None = None) -> str:
    """The full text a model trains on, or without a response the text it is prompted with."""
    text = prompt_text(tokenizer, prompt)
    return text if response is None else text + answer_text(tokenizer, prompt, response)


def encode_example(tokenizer, example: TrainExample, *, max_length: int) -> dict:
    """Token ids, and labels on the answer only (-100 on every prompt token).

    Prompt and answer are tokenized apart, as scoring does. A prompt too long
    for `max_length` loses its oldest tokens; the answer is always kept whole.
    """
    prompt_ids = tokenizer(prompt_text(tokenizer, example.prompt), add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(answer_text(tokenizer, example.prompt, example.response), add_special_tokens=False)[
        "input_ids"
    ]
    room = max_length - len(answer_ids)
    if room <= 0:
        raise ValueError(f"max_seq_len {max_length} leaves no room for a {len(answer_ids)}-token answer")
    prompt_ids = prompt_ids[-room:]
    encoded = {
        "input_ids": prompt_ids + answer_ids,
        "labels": [IGNORE_INDEX] * len(prompt_ids) + answer_ids,
    }
    first_tokens = choice_first_tokens(tokenizer, example.choices)
    if example.key and example.response in example.choices and first_tokens is not None:
        if first_tokens[example.choices.index(example.response)] == answer_ids[0]:
            encoded["dynamics"] = (example.key, first_tokens, example.choices.index(example.response))
    return encoded


def choice_first_tokens(tokenizer, choices) -> list[int] | None:
    """Each choice's first token, as an answer starts; None unless they are distinct.

    The first answer token then tells the choices apart (the letters "A", "B",
    …), so its logits say which choice the model is about to give.
    """
    if len(choices) < 2:
        return None
    first = [tokenizer(choice, add_special_tokens=False)["input_ids"][:1] for choice in choices]
    if any(not ids for ids in first) or len({ids[0] for ids in first}) != len(first):
        return None
    return [ids[0] for ids in first]
