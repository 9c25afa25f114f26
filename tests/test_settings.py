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
    "'hosts': settings.ALLOWED_HOSTS, 'secret_key': settings.SECRET_KEY,"
    "'proxy_ssl_header': settings.SECURE_PROXY_SSL_HEADER}, default=str))"
)


def load_settings(env_overrides: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    unset = {"DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY", "DEBUG", "TLS_PROXY"}
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(env_overrides)
    env["LADDERLAB_VAR_DIR"] = str(tmp_path)
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    return subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True)


def read_settings(env_overrides: dict, tmp_path: Path) -> dict:
    loaded = load_settings(env_overrides, tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    return json.loads(loaded.stdout)


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


POSTGRES = {"DATABASE_URL": "postgres://u:p@db.example:5432/ll", "CELERY_BROKER_URL": "redis://cache.example:6379/0"}


class TestSecretKey:
    def test_a_deployment_without_a_secret_key_refuses_to_start_and_says_why(self, tmp_path):
        loaded = load_settings(POSTGRES, tmp_path)
        assert loaded.returncode != 0
        assert "SECRET_KEY is not set" in loaded.stderr
        assert "set SECRET_KEY in the environment" in loaded.stderr

    def test_the_secret_key_from_the_environment_is_used(self, tmp_path):
        assert read_settings({**POSTGRES, "SECRET_KEY": "k" * 60}, tmp_path)["secret_key"] == "k" * 60

    def test_the_embedded_default_makes_a_local_key_once_and_keeps_it(self, tmp_path):
        first = read_settings({}, tmp_path)["secret_key"]
        assert (tmp_path / "secret_key").read_text().strip() == first
        assert read_settings({}, tmp_path)["secret_key"] == first
        # Made for this var/ folder, not written in the code: another folder gets another key.
        elsewhere = tmp_path / "elsewhere"
        assert read_settings({}, elsewhere)["secret_key"] != first
        # Marked so that `check --deploy` flags it (security.W009).
        assert first.startswith("django-insecure-") and len(first) > 50

    def test_a_var_folder_it_cannot_write_is_named_in_the_error(self, tmp_path):
        blocker = tmp_path / "not-a-folder"
        blocker.write_text("")
        loaded = load_settings({}, blocker / "var")
        assert loaded.returncode != 0
        assert f"cannot keep the local secret key in {blocker / 'var' / 'secret_key'}" in loaded.stderr

    def test_debug_runs_on_postgresql_with_the_local_key(self, tmp_path):
        settings = read_settings({**POSTGRES, "DEBUG": "true"}, tmp_path)
        assert settings["secret_key"] == (tmp_path / "secret_key").read_text().strip()


class TestTlsProxy:
    def test_forwarded_proto_is_ignored_unless_a_tls_proxy_is_declared(self, tmp_path):
        assert read_settings({}, tmp_path)["proxy_ssl_header"] is None
        assert read_settings({"TLS_PROXY": "false"}, tmp_path)["proxy_ssl_header"] is None

    def test_a_declared_tls_proxy_is_trusted_to_say_https(self, tmp_path):
        assert read_settings({"TLS_PROXY": "true"}, tmp_path)["proxy_ssl_header"] == ["HTTP_X_FORWARDED_PROTO", "https"]

    def test_without_a_tls_proxy_a_client_cannot_claim_https(self):
        from django.test import RequestFactory

        request = RequestFactory().get("/", HTTP_X_FORWARDED_PROTO="https")
        assert not request.is_secure()


@pytest.mark.django_db
def test_the_suite_runs_on_postgresql():
    from django.db import connection

    assert connection.vendor == "postgresql"
