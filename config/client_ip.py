"""The client's address, as the login rate limit counts failures by it."""

from django.conf import settings


def client_ip(request) -> str:
    """REMOTE_ADDR; behind TRUSTED_PROXY_COUNT proxies, the address the outermost one saw.

    Each proxy appends the address it received the request from to
    X-Forwarded-For, so behind N proxies the client's is the Nth entry from the
    right. Entries further left came from the client and may be forged, so
    they are never used: otherwise anyone could fail logins under someone
    else's address, or dodge the limit by changing the header.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    return forwarded[-count] if len(forwarded) >= count else remote
