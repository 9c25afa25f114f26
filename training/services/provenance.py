"""What a run's result depends on, so that changed inputs make a new run."""

import hashlib
from pathlib import Path

ML_SOURCE_DIR = Path(__file__).resolve().parent.parent / "ml"


def code_version() -> str:
    """A digest of the training code, so changed code makes a new run."""
    digest = hashlib.sha256()
    for path in sorted(ML_SOURCE_DIR.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
