"""Tiny Qwen2-architecture checkpoints written with `save_pretrained`, as a real rung directory is laid out."""

from pathlib import Path

from training.ml.ladder import Preset, make_model, parameter_count, train_tokenizer

TEXTS = ["the build is red", "since when?", "deploy failed", "which step?"] * 4


def write_tiny_checkpoint(directory, *, layers: int = 1, hidden: int = 16, max_shard_size=None) -> int:
    """A saved model and tokenizer in `directory`; the model's parameter count."""
    directory = Path(directory)
    tokenizer = train_tokenizer(TEXTS, directory, vocab_size=300)
    preset = Preset(hidden, layers, heads=2, kv_heads=1, intermediate=2 * hidden, pretrain_steps=0, pretrain_lr=0.0)
    model = make_model(preset, tokenizer, seed=0)
    options = {"max_shard_size": max_shard_size} if max_shard_size else {}
    model.save_pretrained(directory, safe_serialization=True, **options)
    return parameter_count(model)
