"""What a run's result depends on, so that changed inputs make a new run.

A run records its provenance: digests of the code that renders records and
examples and trains and scores on them, the versions of the libraries that
do the maths, each rung's checkpoint digest, and the git commit. Library
versions come from package metadata, so the web process never imports torch.
"""

import hashlib
from importlib import metadata
from pathlib import Path

from django.conf import settings

from training.models import Ladder
from training.services.checkpoints import rung_checkpoint_facts

PROJECT_ROOT = Path(settings.BASE_DIR)
# The modules that render a frozen batch into prompts and train and score on them.
SOURCE_PATTERNS = ("annotation/exports.py", "training/examples.py", "training/ml/*.py")
LIBRARIES = ("torch", "transformers", "peft", "tokenizers")


def source_digests() -> dict[str, str]:
    """{repo-relative path: sha256} of every module that shapes a result."""
    paths = sorted({path for pattern in SOURCE_PATTERNS for path in PROJECT_ROOT.glob(pattern)})
    return {
        path.relative_to(PROJECT_ROOT).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in paths
    }


def code_version(digests: dict[str, str] | None = None) -> str:
    """One digest over the rendering and training code, so changed code makes a new run."""
    digest = hashlib.sha256()
    for path, file_digest in sorted((digests or source_digests()).items()):
        digest.update(f"{path}:{file_digest}\n".encode())
    return digest.hexdigest()[:16]


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries training runs on ("" when one is missing)."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = ""
    return versions


def git_commit(root: Path = PROJECT_ROOT) -> str:
    """The checked-out commit read from `.git` (a directory, or a worktree's pointer file); "" without one."""
    dot_git = root / ".git"
    try:
        if dot_git.is_file():
            git_dir = (root / dot_git.read_text().split("gitdir:", 1)[1].strip()).resolve()
        elif dot_git.is_dir():
            git_dir = dot_git
        else:
            return ""
        head = (git_dir / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head
        ref = head.split(":", 1)[1].strip()
        common = git_dir / "commondir"
        common_dir = (git_dir / common.read_text().strip()).resolve() if common.is_file() else git_dir
        for directory in dict.fromkeys([git_dir, common_dir]):
            if (directory / ref).is_file():
                return (directory / ref).read_text().strip()
            packed = directory / "packed-refs"
            if packed.is_file():
                for line in packed.read_text().splitlines():
                    commit, _, name = line.partition(" ")
                    if name == ref:
                        return commit
    except (OSError, IndexError):
        return ""
    return ""


def run_provenance(*, ladder: Ladder) -> dict:
    """Everything besides the data and settings that shapes a run of `ladder`."""
    sources = source_digests()
    return {
        "code_version": code_version(sources),
        "sources": sources,
        "libraries": library_versions(),
        "checkpoints": {
            rung.name: rung_checkpoint_facts(rung=rung)["digest"] for rung in ladder.rungs.order_by("order")
        },
        "git_commit": git_commit(),
    }


def hashed_provenance(provenance: dict) -> dict:
    """The part of a provenance that names a run.

    The git commit is recorded but left out: it moves with every commit,
    including ones that change nothing a run depends on, and a working tree
    can differ from it; the file digests pin the code itself.
    """
    return {key: value for key, value in provenance.items() if key != "git_commit"}


def worker_mismatch(provenance: dict) -> str:
    """How this process's code and libraries differ from what a run was requested with; "" when they match.

    A run's provenance is taken where it is requested (the web process); the
    worker that trains it must run the same code and library versions, or its
    result would not be the one the run's hash names. Runs recorded before
    provenance held these keys are not checked.
    """
    differences = []
    recorded_code = provenance.get("code_version")
    if recorded_code and recorded_code != code_version():
        differences.append(f"code {code_version()} (the run was requested with {recorded_code})")
    installed = library_versions()
    for name, version in sorted((provenance.get("libraries") or {}).items()):
        if installed.get(name, "") != version:
            differences.append(f"{name} {installed.get(name) or 'not installed'} (the run needs {version})")
    return "; ".join(differences)
