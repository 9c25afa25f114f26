"""The secret key of a local run (the embedded default, or DEBUG): made once, kept under var/."""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key


def local_secret_key(path: Path) -> str:
    """The key stored in `path`, made there on first use.

    The "django-insecure-" prefix, as `startproject` writes it, makes
    `check --deploy` flag the key as not fit for production (security.W009).
    The web server and the worker may start at once: the key is written to a
    file of its own and linked into place, so both read the same key, whole.
    """
    try:
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        draft.touch(mode=0o600)
        draft.write_text("django-insecure-" + get_random_secret_key())
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
        return path.read_text().strip()
    except OSError as error:
        raise ImproperlyConfigured(
            f"cannot keep the local secret key in {path}: {error}. "
            "Set SECRET_KEY, or LADDERLAB_VAR_DIR to a folder this user may write."
        ) from error
