import hashlib
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from api.models import ApiToken
from api.tokens import ApiTokenExpired, api_token_create, api_token_user


def test_only_the_keys_sha256_is_stored(annotator):
    token, key = api_token_create(user=annotator)
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in {token.key_hash, token.prefix} and key.startswith(token.prefix)
    assert api_token_user(key=key) == annotator
    assert api_token_user(key=key + "x") is None


def test_the_command_prints_a_working_token_once(annotator):
    out, err = StringIO(), StringIO()
    call_command("create_api_token", "ann", stdout=out, stderr=err)
    key = out.getvalue().strip()
    assert api_token_user(key=key) == annotator
    assert "shown once" in err.getvalue()
    assert ApiToken.objects.filter(user=annotator).count() == 1


def test_the_command_refuses_an_unknown_user(db):
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        call_command("create_api_token", "nobody")


class TestExpiry:
    def test_a_token_lasts_90_days_unless_told_otherwise(self, annotator):
        token, _ = api_token_create(user=annotator)
        assert token.expires_at - token.created_at == pytest.approx(timedelta(days=90), abs=timedelta(seconds=5))
        token, _ = api_token_create(user=annotator, days=7)
        assert token.expires_at - token.created_at == pytest.approx(timedelta(days=7), abs=timedelta(seconds=5))

    def test_the_command_takes_the_days(self, annotator):
        out, err = StringIO(), StringIO()
        call_command("create_api_token", "ann", "--days", "3", "--name", "nightly export", stdout=out, stderr=err)
        token = ApiToken.objects.get(user=annotator)
        assert token.name == "nightly export"
        assert timedelta(days=3) - timedelta(seconds=5) < token.expires_at - timezone.now() <= timedelta(days=3)
        assert f"expires {token.expires_at:%Y-%m-%d}" in err.getvalue()

    @pytest.mark.parametrize("days", ["0", "-1", "5000"])
    def test_the_command_refuses_a_lifetime_out_of_bounds_and_makes_nothing(self, annotator, days):
        with pytest.raises(CommandError, match="--days: a token lasts 1 to 366 days"):
            call_command("create_api_token", "ann", "--days", days)
        assert not ApiToken.objects.exists()

    def test_an_expired_token_is_refused_with_401_saying_it_expired(self, annotator):
        token, key = api_token_create(user=annotator, days=1)
        ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        response = Client().get("/api/v1/projects", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 401
        assert "expired" in response.json()["detail"] and token.prefix in response.json()["detail"]
        assert 'error="invalid_token"' in response["WWW-Authenticate"]
        with pytest.raises(ApiTokenExpired):
            api_token_user(key=key)

    def test_a_token_in_date_works_and_records_when_it_was_last_used(self, annotator):
        token, key = api_token_create(user=annotator, days=1)
        assert token.last_used_at is None
        response = Client().get("/api/v1/projects", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200
        token.refresh_from_db()
        assert timezone.now() - token.last_used_at < timedelta(minutes=1)
