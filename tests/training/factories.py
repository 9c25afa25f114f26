"""Checkpoint directories on disk, small enough to write in a test: a config and safetensors weights."""

import json
import struct
from pathlib import Path


def write_safetensors(path: Path, shapes: dict[str, list[int]]) -> None:
    """A valid safetensors file of zero-filled float32 tensors with these names and shapes."""
    header, offset = {}, 0
    for name, shape in shapes.items():
        size = 4
        for dimension in shape:
            size *= dimension
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    encoded = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + bytes(offset))


QWEN_LIKE_TENSORS = {
    "model.embed_tokens.weight": [8, 4],
    "model.layers.0.self_attn.q_proj.weight": [4, 4],
    "model.layers.0.self_attn.q_proj.bias": [4],
    "model.layers.0.self_attn.v_proj.weight": [4, 4],
    "model.layers.0.mlp.down_proj.weight": [4, 4],
    "model.layers.0.input_layernorm.weight": [4],
    "model.norm.weight": [4],
}


def write_checkpoint(directory: Path, tensors: dict[str, list[int]] | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps({"model_type": "qwen2", "hidden_size": 4}))
    write_safetensors(directory / "model.safetensors", tensors or QWEN_LIKE_TENSORS)
    return directory
