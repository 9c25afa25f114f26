"""Settings come from the environment, with an embedded default when unset."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROBE = (
    "import json, django; from django.conf import settings; django.setup();"
    "print(json.dumps({'engine': settings.DATABASES['default']['ENGINE'],"
    "'name': str(settings.DATABASES['default']['NAME']),"
    "'options': settings.DATABASES['default'].get('OPTIONS', {}),"
    "'broker': settings.CELERY_BROKER_URL, 'debug': settings.DEBUG,"
    "'hosts': settings.ALLOWED_HOSTS}, default=str))"
)


def read_settings(env_overrides: dict, tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    env.update(env_overrides)
    env["LADDERLAB_VAR_DIR"] = str(tmp_path)
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def test_nothing_set_means_sqlite_in_wal_mode_and_a_serverless_broker(tmp_path):
    settings = read_settings({}, tmp_path)
    assert settings["engine"] == "django.db.backends.sqlite3"
    assert settings["name"] == str(tmp_path / "ladderlab.sqlite3")
    assert "journal_mode=WAL" in settings["options"]["init_command"]
    assert settings["options"]["transaction_mode"] == "IMMEDIATE"
    assert settings["broker"] == "filesystem://"
    assert settings["debug"] is False


def test_environment_selects_postgresql_and_redis(tmp_path):
    settings = read_settings(
        {
            "DATABASE_URL": "postgres://u:p@db.example:5432/ll",
            "CELERY_BROKER_URL": "redis://cache.example:6379/0",
            "DEBUG": "true",
            "ALLOWED_HOSTS": "ll.example,api.example",
        },
        tmp_path,
    )
    assert settings["engine"] == "django.db.backends.postgresql"
    assert settings["name"] == "ll"
    assert settings["broker"] == "redis://cache.example:6379/0"
    assert settings["debug"] is True
    assert settings["hosts"] == ["ll.example", "api.example"]


@pytest.mark.django_db
def test_the_suite_runs_on_postgresql():
    from django.db import connection

    assert connection.vendor == "postgresql"
