"""Deployment settings, the login rate limit, and uploads never served back."""

import os
import secrets
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.urls import Resolver404, resolve
from django.utils import timezone

from annotation import services

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "ladderlab.example.org",
    "SESSION_COOKIE_SECURE": "true",
    "CSRF_COOKIE_SECURE": "true",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
}


def deploy_check(env_overrides: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    # The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in this process; no deployment has it.
    unset = {*PRODUCTION, "DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {key: value for key, value in os.environ.items() if key not in unset}
    env.update(env_overrides, LADDERLAB_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="config.settings")
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


class TestDeployCheck:
    def test_production_settings_from_the_environment_pass_with_no_warning(self, tmp_path):
        result = deploy_check(PRODUCTION, tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "System check identified no issues" in result.stdout

    def test_the_embedded_default_is_flagged_as_not_for_production(self, tmp_path):
        result = deploy_check({}, tmp_path)
        assert result.returncode != 0
        # The built-in secret, plain-HTTP cookies, no HSTS and no HTTPS redirect.
        for check_id in ("security.W009", "security.W012", "security.W016", "security.W004", "security.W008"):
            assert check_id in result.stderr, check_id


@pytest.fixture
def person(db):
    return services.user_get_or_create(username="pat", password="right-pass-123")


def log_in(client: Client, username: str, password: str, ip: str = "10.0.0.1", **headers):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=ip, **headers)


class TestLoginRateLimit:
    def test_after_the_failure_limit_even_the_right_password_is_refused_with_429(self, person, settings):
        client = Client()
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            assert log_in(client, "pat", "wrong").status_code == 200  # the form again, with its error
        locked = log_in(client, "pat", "wrong")
        assert locked.status_code == 429
        assert b"Too many failed logins" in locked.content
        refused = log_in(client, "pat", "right-pass-123")
        assert refused.status_code == 429 and "_auth_user_id" not in client.session

    def test_the_lock_holds_one_username_from_one_address(self, person, settings):
        services.user_get_or_create(username="sam", password="sams-pass-123")
        for _ in range(settings.AXES_FAILURE_LIMIT):
            log_in(Client(), "pat", "wrong")
        assert log_in(Client(), "pat", "right-pass-123").status_code == 429
        assert log_in(Client(), "pat", "right-pass-123", ip="10.0.0.2").status_code == 302
        assert log_in(Client(), "sam", "sams-pass-123").status_code == 302

    def test_after_the_cool_off_the_right_password_works_again(self, person, settings):
        from axes.models import AccessAttempt

        for _ in range(settings.AXES_FAILURE_LIMIT):
            log_in(Client(), "pat", "wrong")
        AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))
        assert log_in(Client(), "pat", "right-pass-123").status_code == 302

    def test_a_successful_login_clears_the_count(self, person, settings):
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            log_in(Client(), "pat", "wrong")
        assert log_in(Client(), "pat", "right-pass-123").status_code == 302
        assert log_in(Client(), "pat", "wrong").status_code == 200


class TestPasswordSpraying:
    """One username tried from many addresses is locked; one address alone cannot lock it for everyone."""

    def test_one_username_sprayed_from_many_addresses_is_locked_everywhere(self, person, settings):
        settings.LOGIN_USERNAME_FAILURE_LIMIT = 6
        for n in range(5):
            assert log_in(Client(), "pat", "wrong", ip=f"203.0.113.{n}").status_code == 200
        # The sixth address's failure brings the spread to the limit.
        assert log_in(Client(), "pat", "wrong", ip="203.0.113.5").status_code == 429
        assert log_in(Client(), "pat", "right-pass-123", ip="198.51.100.9").status_code == 429
        services.user_get_or_create(username="sam", password="sams-pass-123")
        assert log_in(Client(), "sam", "sams-pass-123", ip="198.51.100.9").status_code == 302

    def test_failures_from_one_attacker_address_do_not_lock_the_user_out_of_their_own(self, person, settings):
        settings.LOGIN_USERNAME_FAILURE_LIMIT = 6
        for _ in range(settings.AXES_FAILURE_LIMIT + 3):
            log_in(Client(), "pat", "wrong", ip="203.0.113.66")
        assert log_in(Client(), "pat", "right-pass-123", ip="203.0.113.66").status_code == 429
        assert log_in(Client(), "pat", "right-pass-123", ip="10.0.0.7").status_code == 302

    def test_an_address_the_user_logged_in_from_before_is_spared_the_spray_lock(self, person, settings):
        settings.LOGIN_USERNAME_FAILURE_LIMIT = 6
        assert log_in(Client(), "pat", "right-pass-123", ip="10.0.0.7").status_code == 302
        for n in range(6):
            log_in(Client(), "pat", "wrong", ip=f"203.0.113.{n}")
        assert log_in(Client(), "pat", "right-pass-123", ip="198.51.100.9").status_code == 429
        assert log_in(Client(), "pat", "right-pass-123", ip="10.0.0.7").status_code == 302


class TestClientAddressBehindProxies:
    def test_the_address_the_trusted_proxy_saw_counts_and_forged_ones_do_not(self, person, settings):
        settings.TRUSTED_PROXY_COUNT = 1
        proxy = "172.18.0.5"
        for forged in range(settings.AXES_FAILURE_LIMIT):
            response = log_in(Client(), "pat", "wrong", ip=proxy, HTTP_X_FORWARDED_FOR=f"9.9.9.{forged}, 203.0.113.7")
        assert response.status_code == 429
        # Another client through the same proxy is not locked out with the first.
        other = log_in(Client(), "pat", "right-pass-123", ip=proxy, HTTP_X_FORWARDED_FOR="198.51.100.2")
        assert other.status_code == 302

    def test_without_trusted_proxies_the_header_is_ignored(self, rf, settings):
        from config.client_ip import client_ip

        settings.TRUSTED_PROXY_COUNT = 0
        request = rf.get("/", REMOTE_ADDR="10.1.1.1", HTTP_X_FORWARDED_FOR="1.2.3.4")
        assert client_ip(request) == "10.1.1.1"
        settings.TRUSTED_PROXY_COUNT = 2
        assert client_ip(request) == "10.1.1.1"  # fewer entries than proxies: not trusted
        request = rf.get("/", REMOTE_ADDR="10.1.1.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 1.2.3.4, 10.0.0.9")
        assert client_ip(request) == "1.2.3.4"


class TestUploadsAreNeverServed:
    def test_no_url_routes_media(self):
        with pytest.raises(Resolver404):
            resolve("/media/imports/0123/upload.jsonl")

    def test_an_uploaded_file_is_not_reachable_under_the_media_url(self, lead, project, settings):
        from django.core.files.uploadedfile import SimpleUploadedFile

        from annotation.importers.jobs import import_job_start

        job = import_job_start(
            project=project, upload=SimpleUploadedFile("x.html", b"<script>alert(1)</script>"), created_by=lead
        )
        stored = Path(job.path)
        assert stored.is_file() and stored.name == "upload.html"
        relative = stored.relative_to(settings.MEDIA_ROOT).as_posix()
        client = Client()
        client.force_login(lead)
        for url in (f"{settings.MEDIA_URL}{relative}", f"/static/../media/{relative}", f"/{relative}"):
            response = client.get(url)
            assert response.status_code == 404, url
            assert b"<script>" not in b"".join(getattr(response, "streaming_content", [response.content]))
