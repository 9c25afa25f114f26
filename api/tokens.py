"""Making API tokens and finding the user behind one."""

import hashlib
import secrets

from django.db import transaction

from api.models import ApiToken


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def api_token_create(*, user) -> tuple[ApiToken, str]:
    """A new token for `user` and its key; the key is not stored and cannot be shown again."""
    key = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, key_hash=key_hash(key), prefix=key[:8])
    return token, key


def api_token_user(*, key: str):
    """The active user whose token this key is, or None."""
    token = ApiToken.objects.filter(key_hash=key_hash(key)).select_related("user").first()
    if token is None or not token.user.is_active:
        return None
    return token.user
