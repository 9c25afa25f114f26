"""Model ladders: loading local checkpoints, and building the demo ladder.

Real Qwen1.5/Qwen2/Qwen2.5 directories and the demo ladder load through the
same `from_pretrained` path, offline. The demo ladder is a byte-level BPE
tokenizer trained on the corpus (ChatML special tokens and template, as Qwen's)
and Qwen2-architecture models of increasing size, pre-trained as causal
language models on the corpus text and saved with `save_pretrained`.
"""

import math
import os
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
ENDOFTEXT, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = [ENDOFTEXT, IM_START, IM_END]


@dataclass(frozen=True)
class Preset:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    # Pre-training steps (batches of `pretrain_batch` blocks of `pretrain_block` tokens).
    pretrain_steps: int
    pretrain_lr: float
    size_class: str = "cpu"
    pretrain_batch: int = 8
    pretrain_block: int = 512


PRESETS = {
    # The CPU ladder: each pre-trains in a couple of minutes on 2 cores.
    "cpu-xs": Preset(64, 1, 4, 2, 192, pretrain_steps=300, pretrain_lr=3e-3),
    "cpu-s": Preset(128, 2, 4, 2, 384, pretrain_steps=300, pretrain_lr=3e-3),
    "cpu-m": Preset(192, 3, 6, 3, 576, pretrain_steps=300, pretrain_lr=2e-3),
    "cpu-l": Preset(256, 4, 8, 4, 768, pretrain_steps=300, pretrain_lr=2e-3),
    # GPU presets, chosen by name.
    "gpu-25m": Preset(512, 8, 8, 4, 1408, pretrain_steps=2000, pretrain_lr=1e-3, size_class="gpu-small",
                      pretrain_batch=32),
    "gpu-60m": Preset(768, 10, 12, 4, 2048, pretrain_steps=2000, pretrain_lr=8e-4, size_class="gpu-small",
                      pretrain_batch=32),
    "gpu-120m": Preset(1024, 12, 16, 8, 2816, pretrain_steps=2000, pretrain_lr=6e-4, size_class="gpu-small",
                       pretrain_batch=32),
}
CPU_LADDER = ["cpu-xs", "cpu-s", "cpu-m", "cpu-l"]
GPU_LADDER = ["gpu-25m", "gpu-60m", "gpu-120m"]
# For tests: two rungs that build in seconds with `pretrain_steps` of a few dozen.
TEST_LADDER = ["cpu-xs", "cpu-s"]
# Fine-tuning settings the demo ladder's rungs are registered with. The seed's
# lr 2e-4 for one epoch leaves models this small predicting one class; these
# let them learn within the demo's time budget (measurements: the report of
# benchmarks/ladder_scaling_experiment.py). Real checkpoints keep the seed's defaults.
DEMO_HYPERPARAMETERS = {"lr": 3e-3, "epochs": 2, "r": 16, "alpha": 32, "modules_to_save": ["lm_head"]}


def offline() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def device_and_dtype(device=None, dtype=None):
    """CUDA in bf16 when there is one, else the CPU in fp32 on two threads."""
    import torch

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype is None:
        dtype = torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    if str(device) == "cpu":
        torch.set_num_threads(min(2, os.cpu_count() or 1))
    return device, dtype


def load_model(checkpoint_dir, *, adapter_dir=None, device=None, dtype=None):
    """A causal LM and its tokenizer from local directories, in eval mode; never downloads.

    With `adapter_dir`, the saved LoRA adapter (and any modules it trained
    whole) is applied on top of the checkpoint.
    """
    offline()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device, dtype = device_and_dtype(device, dtype)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint_dir, local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(checkpoint_dir, local_files_only=True, dtype=dtype)
    if adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter_dir, local_files_only=True)
    model.to(device)
    model.eval()
    return model, tokenizer


def train_tokenizer(texts: Iterable[str], output_dir: Path, *, vocab_size: int = 4096):
    """A byte-level BPE tokenizer on the corpus, with ChatML special tokens and template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    # As Qwen's chat checkpoints: <|im_end|> ends a turn, <|endoftext|> pads.
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token=IM_END, pad_token=ENDOFTEXT)
    tokenizer.chat_template = CHATML_TEMPLATE
    save_tokenizer(tokenizer, output_dir)
    return tokenizer


def save_tokenizer(tokenizer, directory: Path) -> None:
    # The template inside tokenizer_config.json, where Qwen's checkpoints keep it.
    tokenizer.save_pretrained(directory, save_jinja_files=False)


def make_model(preset: Preset, tokenizer, *, seed: int):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=preset.hidden,
        num_hidden_layers=preset.layers,
        num_attention_heads=preset.heads,
        num_key_value_heads=preset.kv_heads,
        intermediate_size=preset.intermediate,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.convert_tokens_to_ids(IM_END),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    return Qwen2ForCausalLM(config)


def pretraining_blocks(tokenizer, texts: list[str], *, block: int) -> list[list[int]]:
    """The texts as one token stream (<|endoftext|> between texts), cut into blocks."""
    separator = tokenizer.convert_tokens_to_ids(ENDOFTEXT)
    stream: list[int] = []
    for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        stream.extend(ids)
        stream.append(separator)
    return [stream[start:start + block] for start in range(0, len(stream) - block + 1, block)]


def pretrain(model, blocks: list[list[int]], *, steps: int, lr: float, batch_size: int, seed: int,
             progress: Callable[[dict], None] | None = None) -> list[float]:
    """Causal-LM pre-training on random blocks, AdamW with warmup and cosine decay; the loss curve."""
    import torch

    rng = random.Random(seed)
    torch.manual_seed(seed)
    device, _ = device_and_dtype()
    model.to(device)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.95))
    warmup = max(1, steps // 20)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
    )
    cuda = str(device).startswith("cuda")
    losses = []
    started = time.monotonic()
    for step in range(steps):
        batch = torch.tensor([rng.choice(blocks) for _ in range(batch_size)], device=device)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=cuda):
            loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        if progress is not None and (step % 10 == 0 or step == steps - 1):
            progress({"step": step + 1, "steps": steps, "loss": losses[-1], "seconds": time.monotonic() - started})
    model.eval()
    return losses


def parameter_count(model) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def build_demo_ladder(*, texts: Iterable[str], output_dir: Path, sizes: list[str] | None = None, seed: int = 0,
                      pretrain_steps: int | None = None, vocab_size: int = 4096,
                      progress: Callable[[str, dict], None] | None = None) -> list[dict]:
    """Train the tokenizer, then pre-train and save each rung into output_dir/<name>/.

    `pretrain_steps` overrides every preset's own step count (tests use a few
    dozen). `progress(name, {"step", "steps", "loss", "seconds"})` reports
    pre-training. Returns [{"name", "path", "parameters", "size_class",
    "hyperparameters", "pretrain_loss", "pretrain_seconds"}] ordered by size.
    """
    sizes = list(sizes or CPU_LADDER)
    unknown = [size for size in sizes if size not in PRESETS]
    if unknown:
        raise ValueError(f"unknown ladder sizes {unknown}; presets: {', '.join(PRESETS)}")
    texts = [text for text in texts if text.strip()]
    if not texts:
        raise ValueError("no text to build the demo ladder from")
    output_dir = Path(output_dir)
    tokenizer = train_tokenizer(texts, output_dir / "tokenizer", vocab_size=vocab_size)
    rungs = []
    for name in sizes:
        preset = PRESETS[name]
        blocks = pretraining_blocks(tokenizer, texts, block=preset.pretrain_block)
        if not blocks:
            raise ValueError(f"not enough text to pre-train on: under {preset.pretrain_block} tokens")
        model = make_model(preset, tokenizer, seed=seed)
        started = time.monotonic()
        curve = pretrain(
            model, blocks, steps=pretrain_steps if pretrain_steps is not None else preset.pretrain_steps,
            lr=preset.pretrain_lr, batch_size=preset.pretrain_batch, seed=seed,
            progress=(lambda info, name=name: progress(name, info)) if progress else None,
        )
        path = output_dir / name
        model.save_pretrained(path)
        save_tokenizer(tokenizer, path)
        rungs.append({
            "name": name,
            "path": str(path),
            "parameters": parameter_count(model),
            "size_class": preset.size_class,
            "hyperparameters": dict(DEMO_HYPERPARAMETERS),
            "pretrain_loss": sum(curve[-10:]) / len(curve[-10:]),
            "pretrain_seconds": time.monotonic() - started,
        })
    return sorted(rungs, key=lambda rung: rung["parameters"])
