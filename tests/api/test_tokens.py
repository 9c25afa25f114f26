import hashlib
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from api.models import ApiToken
from api.tokens import api_token_create, api_token_user


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
