"""Making, finding and revoking API tokens."""

import hashlib
import secrets
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from api.models import ApiToken

DEFAULT_TOKEN_DAYS = 90
MAX_TOKEN_DAYS = 366
# How stale `last_used_at` may get before a request writes it again: one write a
# minute, not one a request, for a script that calls the API in a loop.
LAST_USED_PRECISION = timedelta(minutes=1)


class ApiTokenExpired(Exception):
    """The key names a token whose expiry has passed."""

    def __init__(self, token: ApiToken):
        self.token = token
        super().__init__(
            f"this API token ({token.prefix}…) expired on {token.expires_at:%Y-%m-%d %H:%M} UTC; "
            "make a new one on your API tokens page or with 'manage.py create_api_token'"
        )


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def api_token_create(*, user, name: str = "", days: int = DEFAULT_TOKEN_DAYS) -> tuple[ApiToken, str]:
    """A new token for `user`, valid for `days`, and its key; the key is not stored and cannot be shown again."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_TOKEN_DAYS:
        raise ValidationError({"days": f"a token lasts 1 to {MAX_TOKEN_DAYS} days, not {days!r}"})
    key = secrets.token_urlsafe(32)
    token = ApiToken(
        user=user, name=name.strip(), key_hash=key_hash(key), prefix=key[:8],
        expires_at=timezone.now() + timedelta(days=days),
    )
    token.full_clean()
    token.save()
    return token, key


def api_token_user(*, key: str):
    """The active user whose token this key is, or None; an expired token raises ApiTokenExpired."""
    token = ApiToken.objects.filter(key_hash=key_hash(key)).select_related("user").first()
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.expires_at <= now:
        raise ApiTokenExpired(token)
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def api_token_revoke(*, token: ApiToken) -> None:
    """Delete the token: its key is refused from the next request on."""
    token.delete()

