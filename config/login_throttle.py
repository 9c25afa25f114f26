"""The login rate limit: per username and address, and per username across addresses.

django-axes counts failures per (username, address) and locks that pair at
AXES_FAILURE_LIMIT. On its own that lets a spray over many addresses try a
password per address against one username; locking the username alone after
AXES_FAILURE_LIMIT failures would instead let anyone lock a user out with a
handful of bad passwords. So the username is locked for every address only
when failures from many addresses add up to LOGIN_USERNAME_FAILURE_LIMIT,
each address counting no more than AXES_FAILURE_LIMIT of them, and never for
an address the user has logged in from before.
"""

from django.conf import settings
from django.db.models import Sum

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_failure_limit
from axes.models import AccessAttempt, AccessLog


class LoginThrottleHandler(AxesDatabaseHandler):
    def get_failures(self, request, credentials=None) -> int:
        """The (username, address) pair's failures, or the limit when the username is under a spray."""
        failures = super().get_failures(request, credentials)
        limit = get_failure_limit(request, credentials)
        if failures < limit and self.username_is_sprayed(request, credentials, per_address_limit=limit):
            return limit
        return failures

    def username_is_sprayed(self, request, credentials, *, per_address_limit: int) -> bool:
        username = get_client_username(request, credentials)
        if not username:
            return False
        address = request.axes_ip_address
        if AccessLog.objects.filter(username=username, ip_address=address).exists():
            return False
        per_address = (
            AccessAttempt.objects.filter(username=username, attempt_time__gte=get_cool_off_threshold(request))
            .values("ip_address")
            .annotate(failures=Sum("failures_since_start"))
        )
        spread = sum(min(row["failures"], per_address_limit) for row in per_address)
        return spread >= settings.LOGIN_USERNAME_FAILURE_LIMIT
