"""Constrained-choice evaluation, batched, and the per-item `generate` baseline.

Each choice ("A:no extraction needed", …) is scored by the summed
log-probability of its tokens after the prompt, i.e. log P(choice | prompt),
and the model's answer is the best-scoring choice. Summed rather than
length-normalised: the sum is the probability that greedy decoding's letter
comes with the rest of that choice, so on a tuned model, where the letter
settles the rest, the best choice is the one `generate` starts with; dividing
by length would favour long choices for no reason the model gave.

The work is one forward pass per prompt and a small one per choice: prompts
are sorted by length and batched (left-padded to the batch's longest, which
sorting keeps close), the prompt's KV cache is kept and copied for each of
its choices, and the choices' tokens run as one batch on top of the cached
prefix. Logits are projected only where a choice token is predicted.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

from training.ml.data import EvalExample, prompt_text

_LETTER = re.compile(r"^\s*\(?([A-J])\b\s*[:).]?")


@dataclass(frozen=True)
class ChoiceScore:
    key: str
    # The best-scoring choice.
    choice_index: int
    # log P(choice | prompt) for each choice, summed over the choice's tokens.
    logprobs: list[float]
    # The positive choice's log-probability minus the best other's (a
    # threshold-free score for ROC AUC); None when the example names no positive.
    margin: float | None = None


def parse_answer(text: str, choices: list[str]) -> int | None:
    """The choice a generated answer names: by its letter ("B", "B:", "B: …", "(B)"),
    else by the start of an option's text; None if neither."""
    stripped = text.strip()
    if not stripped:
        return None
    letters = [choice.split(":", 1)[0].strip() for choice in choices]
    match = _LETTER.match(stripped)
    if match and match.group(1) in letters:
        return letters.index(match.group(1))
    lowered = stripped.lower()
    for index, choice in enumerate(choices):
        body = choice.split(":", 1)[-1].strip().lower()
        if body and lowered.startswith(body):
            return index
    return None


def _margin(logprobs: list[float], positive: int | None) -> float | None:
    if positive is None or len(logprobs) < 2:
        return None
    return logprobs[positive] - max(score for index, score in enumerate(logprobs) if index != positive)


def _batches(order: list[int], lengths: list[int], *, batch_size: int, batch_tokens: int) -> list[list[int]]:
    """Consecutive runs of the length-sorted order, each within both limits once padded."""
    batches, current = [], []
    for index in order:
        # Sorted: the newcomer is the longest so far.
        if current and (len(current) >= batch_size or lengths[index] * (len(current) + 1) > batch_tokens):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


def score_choices(
    *,
    model,
    tokenizer,
    examples: list[EvalExample],
    batch_size: int = 32,
    batch_tokens: int = 16384,
    progress: Callable[[int, int], None] | None = None,
) -> list[ChoiceScore]:
    """Score every example's choices; results in the order of `examples`.

    `progress(done, total)` is called after every batch of prompts.
    """
    import torch

    device = next(model.parameters()).device
    prompts = tokenizer([prompt_text(tokenizer, example.prompt) for example in examples], add_special_tokens=False)[
        "input_ids"
    ]
    choice_ids: dict[str, list[int]] = {}
    for example in examples:
        for choice in example.choices:
            if choice not in choice_ids:
                choice_ids[choice] = tokenizer(choice, add_special_tokens=False)["input_ids"]
                if not choice_ids[choice]:
                    raise ValueError(f"choice {choice!r} has no tokens")
    lengths = [len(ids) for ids in prompts]
    order = sorted(range(len(examples)), key=lengths.__getitem__)
    results: list[ChoiceScore | None] = [None] * len(examples)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    done = 0
    with torch.inference_mode():
        for batch in _batches(order, lengths, batch_size=batch_size, batch_tokens=batch_tokens):
            scores = _score_batch(model, [prompts[i] for i in batch],
                                  [[choice_ids[c] for c in examples[i].choices] for i in batch], pad_id, device)
            for index, logprobs in zip(batch, scores):
                example = examples[index]
                results[index] = ChoiceScore(
                    key=example.key,
                    choice_index=max(range(len(logprobs)), key=logprobs.__getitem__),
                    logprobs=logprobs,
                    margin=_margin(logprobs, example.positive),
                )
            done += len(batch)
            if progress is not None:
                progress(done, len(examples))
    return results


def _score_batch(model, prompts: list[list[int]], choices: list[list[list[int]]], pad_id: int, device):
    """log P(choice | prompt) for each choice of each prompt in one batch."""
    import torch

    rows, longest = len(prompts), max(len(ids) for ids in prompts)
    input_ids = torch.full((rows, longest), pad_id, dtype=torch.long)
    attention = torch.zeros((rows, longest), dtype=torch.long)
    for row, ids in enumerate(prompts):
        # Left padding: every prompt ends in the last column, where its answer starts.
        input_ids[row, longest - len(ids):] = torch.tensor(ids)
        attention[row, longest - len(ids):] = 1
    positions = (attention.cumsum(dim=1) - 1).clamp(min=0)
    output = model(
        input_ids=input_ids.to(device),
        attention_mask=attention.to(device),
        position_ids=positions.to(device),
        use_cache=True,
        logits_to_keep=1,
    )
    first = torch.log_softmax(output.logits[:, -1, :].float(), dim=-1).cpu()
    # Row r's choice c: first token scored from the prompt; the rest need a pass on the cached prefix.
    owners = [row for row, row_choices in enumerate(choices) for _ in row_choices]
    flat = [ids for row_choices in choices for ids in row_choices]
    totals = [float(first[owner, ids[0]]) for owner, ids in zip(owners, flat)]
    rest_longest = max(len(ids) for ids in flat) - 1
    if rest_longest > 0:
        cache = output.past_key_values
        cache.batch_select_indices(torch.tensor(owners, device=device))
        count = len(flat)
        rest_ids = torch.full((count, rest_longest), pad_id, dtype=torch.long)
        rest_attention = torch.zeros((count, rest_longest), dtype=torch.long)
        for row, ids in enumerate(flat):
            # Fed: every token but the last; each predicts the one after it.
            fed = ids[:-1]
            rest_ids[row, :len(fed)] = torch.tensor(fed, dtype=torch.long)
            rest_attention[row, :len(fed)] = 1
        owner_index = torch.tensor(owners)
        prompt_lengths = attention.sum(dim=1)[owner_index]
        rest_positions = prompt_lengths.unsqueeze(1) + torch.arange(rest_longest).unsqueeze(0)
        rest = model(
            input_ids=rest_ids.to(device),
            attention_mask=torch.cat([attention[owner_index], rest_attention], dim=1).to(device),
            position_ids=rest_positions.to(device),
            past_key_values=cache,
            use_cache=True,
        )
        logprobs = torch.log_softmax(rest.logits.float(), dim=-1).cpu()
        for row, ids in enumerate(flat):
            for step, token in enumerate(ids[1:]):
                totals[row] += float(logprobs[row, step, token])
    scores, position = [], 0
    for row_choices in choices:
        scores.append(totals[position:position + len(row_choices)])
        position += len(row_choices)
    return scores


def generate_answers(*, model, tokenizer, examples: list[EvalExample], max_new_tokens: int = 8) -> list[str]:
    """The straightforward baseline: greedy `generate`, one item at a time; the decoded answers."""
    import torch

    device = next(model.parameters()).device
    answers = []
    with torch.inference_mode():
        for example in examples:
            ids = tokenizer(prompt_text(tokenizer, example.prompt), add_special_tokens=False, return_tensors="pt")
            output = model.generate(
                input_ids=ids["input_ids"].to(device),
                attention_mask=ids["attention_mask"].to(device),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )
            answers.append(tokenizer.decode(output[0, ids["input_ids"].shape[1]:], skip_special_tokens=True))
    return answers
