"""What a rung's checkpoint is, read without torch: its digest and its module names.

Both are computed once and kept on the rung (`Rung.checkpoint_facts`) with
each file's size and mtime, and computed again only when those change, so a
run request in the web process costs a few `stat` calls, not a hash of the
weights.
"""

import hashlib
from pathlib import Path

from training.checkpoints import safetensors_tensors
from training.models import Rung

HASH_CHUNK_BYTES = 1 << 20


def checkpoint_files(checkpoint_dir: Path) -> dict[str, list[int]]:
    """{file name: [size, mtime_ns]} of the checkpoint's files (config, tokenizer, weights)."""
    if not checkpoint_dir.is_dir():
        return {}
    stamps = {}
    for path in sorted(checkpoint_dir.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        stat = path.stat()
        stamps[path.name] = [stat.st_size, stat.st_mtime_ns]
    return stamps


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def linear_module_names(tensors: dict[str, dict]) -> set[str]:
    """Leaf names of modules holding a 2-D weight (linear and embedding layers), which LoRA can adapt.

    `model.layers.0.self_attn.q_proj.weight` → `q_proj`; norms (1-D weights) are left out.
    """
    names = set()
    for name, tensor in tensors.items():
        if name.endswith(".weight") and len(tensor.get("shape", [])) == 2:
            names.add(name[: -len(".weight")].rsplit(".", 1)[-1])
    return names


def read_checkpoint(checkpoint_dir: Path, files: dict[str, list[int]]) -> dict:
    digest = hashlib.sha256()
    modules: set[str] = set()
    for name in sorted(files):
        path = checkpoint_dir / name
        digest.update(f"{name}:{file_sha256(path)}\n".encode())
        if name.endswith(".safetensors"):
            modules |= linear_module_names(safetensors_tensors(path))
    return {"files": files, "digest": digest.hexdigest() if files else "", "modules": sorted(modules)}


def rung_checkpoint_facts(*, rung: Rung) -> dict:
    """The rung's checkpoint digest and module names, read again only when its files changed.

    The digest covers every file of the checkpoint directory (config, tokenizer
    and weights); "" when the directory is missing or empty.
    """
    checkpoint_dir = Path(rung.checkpoint_path)
    files = checkpoint_files(checkpoint_dir)
    facts = rung.checkpoint_facts or {}
    if facts.get("files") != files or "modules" not in facts:
        facts = read_checkpoint(checkpoint_dir, files)
        Rung.objects.filter(pk=rung.pk).update(checkpoint_facts=facts)
        rung.checkpoint_facts = facts
    return facts
