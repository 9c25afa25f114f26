"""API tokens: one user's key for `Authorization: Bearer <key>`."""

from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    """Only the key's sha256 is stored; the key itself is shown once, when it is made."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    key_hash = models.CharField(max_length=64, unique=True)
    # The key's first characters, so a user can tell their tokens apart in the admin.
    prefix = models.CharField(max_length=8)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user", "-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"
