"""Reading a user's API tokens."""

from api.models import ApiToken


def api_tokens_of(*, user):
    """The user's own tokens, newest first."""
    return ApiToken.objects.filter(user=user).order_by("-created_at")


def api_token_of(*, user, token_id: int) -> ApiToken:
    """The user's token with this id; another user's token is as good as none (ApiToken.DoesNotExist)."""
    return ApiToken.objects.get(user=user, pk=token_id)
