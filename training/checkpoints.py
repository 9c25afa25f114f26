"""Inspecting checkpoint directories on disk without loading a weight.

A rung's directory must be a causal LM that `transformers` loads offline: a
`config.json` naming a `*ForCausalLM` architecture of a model type it knows,
safetensors weights (one file or shards listed in an index) and tokenizer
files. Parameters are counted from the safetensors headers: an 8-byte
little-endian length, then JSON giving each tensor's dtype and shape.
Nothing here imports torch or loads weights; transformers (imported only
when a config is read) may import torch itself.
"""

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path

from training.models import CPU, GPU_LARGE, GPU_SMALL

SAFETENSORS_FILE = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
# Any one of these is a tokenizer `AutoTokenizer` can load.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")
# The largest models trained on the CPU workers: the demo ladder's cpu-* rungs (a few million) fit.
CPU_MAX_PARAMETERS = 20_000_000
# The largest fine-tuned with LoRA on one 80 GB device: bf16 weights at 2 bytes each plus activations.
GPU_SMALL_MAX_PARAMETERS = 20_000_000_000
# The header length is a u64; a sane header is far under this.
MAX_HEADER_BYTES = 100_000_000


class CheckpointError(ValueError):
    """The directory is not a loadable causal LM; the message names it and what is missing."""


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    name: str
    parameters: int
    size_class: str
    model_type: str


def size_class_for(parameters: int) -> str:
    if parameters <= CPU_MAX_PARAMETERS:
        return CPU
    if parameters <= GPU_SMALL_MAX_PARAMETERS:
        return GPU_SMALL
    return GPU_LARGE


def safetensors_tensors(file: Path) -> dict[str, dict]:
    """The tensor index of one safetensors file, {name: {"dtype", "shape", …}}, read from its header alone."""
    with open(file, "rb") as stream:
        prefix = stream.read(8)
        if len(prefix) != 8:
            raise CheckpointError(f"{file}: too short for a safetensors header")
        (length,) = struct.unpack("<Q", prefix)
        if length > MAX_HEADER_BYTES:
            raise CheckpointError(f"{file}: header length {length} is not that of a safetensors file")
        raw = stream.read(length)
    try:
        header = json.loads(raw)
        header.pop("__metadata__", None)
        if not all(isinstance(tensor, dict) for tensor in header.values()):
            raise TypeError("a tensor entry is not an object")
        return header
    except (ValueError, TypeError, AttributeError) as error:
        raise CheckpointError(f"{file}: unreadable safetensors header ({error})") from error


def safetensors_parameters(file: Path) -> int:
    """The number of values in every tensor of one safetensors file."""
    try:
        return sum(math.prod(tensor["shape"]) for tensor in safetensors_tensors(file).values())
    except (TypeError, KeyError) as error:
        raise CheckpointError(f"{file}: unreadable safetensors header ({error})") from error


def weight_files(directory: Path) -> list[Path]:
    """The safetensors files holding the weights: the shards of the index, or the single file."""
    index = directory / SAFETENSORS_INDEX
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (ValueError, KeyError, AttributeError, TypeError) as error:
            raise CheckpointError(f"{directory}: {SAFETENSORS_INDEX} has no readable weight_map ({error})") from error
        missing = [shard for shard in shards if not (directory / shard).is_file()]
        if missing:
            listed = ", ".join(missing)
            raise CheckpointError(f"{directory}: shards listed in {SAFETENSORS_INDEX} are missing: {listed}")
        return [directory / shard for shard in shards]
    if (directory / SAFETENSORS_FILE).is_file():
        return [directory / SAFETENSORS_FILE]
    raise CheckpointError(f"{directory}: no safetensors weights ({SAFETENSORS_FILE} or {SAFETENSORS_INDEX})")


def checkpoint_inspect(directory) -> Checkpoint:
    """What a rung needs to know of a checkpoint directory, or CheckpointError saying what is missing."""
    from transformers import AutoConfig

    path = Path(directory)
    if not path.is_dir():
        raise CheckpointError(f"{path}: not a directory")
    if not (path / "config.json").is_file():
        raise CheckpointError(f"{path}: no config.json")
    try:
        # Reads config.json only; local_files_only keeps it from reaching a hub.
        config = AutoConfig.from_pretrained(path, local_files_only=True)
    except (ValueError, OSError, KeyError) as error:
        raise CheckpointError(f"{path}: config.json is not a model config transformers knows ({error})") from error
    architectures = getattr(config, "architectures", None) or []
    if not any(str(architecture).endswith("ForCausalLM") for architecture in architectures):
        named = ", ".join(map(str, architectures)) or "none"
        raise CheckpointError(f"{path}: config.json names no causal-LM architecture (*ForCausalLM; it has {named})")
    if not any((path / file).is_file() for file in TOKENIZER_FILES):
        raise CheckpointError(f"{path}: no tokenizer files ({', '.join(TOKENIZER_FILES)})")
    parameters = sum(safetensors_parameters(file) for file in weight_files(path))
    return Checkpoint(
        path=path, name=path.name, parameters=parameters, size_class=size_class_for(parameters),
        model_type=config.model_type,
    )


@dataclass(frozen=True)
class PresetRung:
    size: str
    hyperparameters: dict


# The seed paper (arXiv 2405.02817) fine-tuned a Qwen1.5 ladder with lr 2e-4 and had to
# drop its 4B rung to 2e-5 to train; Qwen2.5 has no 4B, and its nearest size, 3B, gets the fix.
QWEN25_DEFAULT_LR = 2e-4
QWEN25_FIXED_LR = 2e-5
QWEN25_LADDER = [
    PresetRung(size, {"lr": QWEN25_FIXED_LR if size == "3B" else QWEN25_DEFAULT_LR})
    for size in ("0.5B", "1.5B", "3B", "7B", "14B", "32B")
]
PRESET_LADDERS = {"qwen2.5": ("Qwen2.5", QWEN25_LADDER)}


def preset_directories(preset: str, root) -> tuple[list[tuple[Path, dict]], list[str]]:
    """The preset's rung directories found under root, each with its hyper-parameters, and the sizes missing.

    A size is found as `<Family>-<size>-Instruct` or `<Family>-<size>` (the chat model first).
    """
    family, rungs = PRESET_LADDERS[preset]
    root = Path(root)
    found, missing = [], []
    for rung in rungs:
        candidates = [root / f"{family}-{rung.size}-Instruct", root / f"{family}-{rung.size}"]
        directory = next((candidate for candidate in candidates if candidate.is_dir()), None)
        if directory is None:
            missing.append(f"{family}-{rung.size}")
        else:
            found.append((directory, dict(rung.hyperparameters)))
    return found, missing
