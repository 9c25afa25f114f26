"""The importer on the embedded default (SQLite), driven through manage.py in subprocesses."""

import os
import subprocess
import sys

from django.conf import settings

from tests.annotation.importers.conftest import jsonl, message

SCRIPT = """
from django.core.management import call_command
from annotation.models import Message
call_command("migrate", verbosity=0)
call_command("import_messages", {good!r}, "--project", "Embedded", verbosity=0)
call_command("import_messages", {good!r}, "--project", "Embedded", verbosity=0)
for m in Message.objects.order_by("id"):
    print(repr((m.external_id, m.chat.external_id, m.sent_at.isoformat(), m.text, m.metadata)))
"""


def manage(var_dir, *args) -> subprocess.CompletedProcess:
    env = {
        key: value for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "CELERY_BROKER_URL"}
    }
    env["LADDERLAB_VAR_DIR"] = str(var_dir)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=300,
    )


def test_import_on_sqlite(tmp_path):
    var_dir = tmp_path / "var"
    good = tmp_path / "corpus.jsonl"
    good.write_text(jsonl(
        message(1, sent_at="2024-01-01T10:00:00+02:00", lang="en"),
        message(2, chat="dev"),
        message(3, text="multi\nline\twith \\ backslash"),
    ))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(jsonl(message(4), message(5), message(6, id="m4")))

    imported = manage(var_dir, "shell", "-c", SCRIPT.format(good=str(good)))
    failed = manage(var_dir, "import_messages", str(bad), "--project", "Embedded")

    assert imported.returncode == 0, imported.stderr
    lines = imported.stdout.splitlines()
    assert lines[-5].startswith("imported 3 messages (0 already present) from corpus.jsonl")
    assert lines[-4].startswith("imported 0 messages (3 already present) from corpus.jsonl")
    assert lines[-3:] == [
        repr(("m1", "ops", "2024-01-01T08:00:00+00:00", "message number 1", {"lang": "en"})),
        repr(("m2", "dev", "2024-01-01T10:00:02+00:00", "message number 2", {})),
        repr(("m3", "ops", "2024-01-01T10:00:03+00:00", "multi\nline\twith \\ backslash", {})),
    ]
    assert failed.returncode == 1
    assert "bad.jsonl:3: field 'id': duplicate id 'm4' (first at line 1)" in failed.stderr
