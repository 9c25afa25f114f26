"""Numbers read from query strings and forms.

Views read ids and numbers through these, so a malformed, out-of-range or
non-finite value answers 422 with a message naming the field (see
`config.errors.bad_request`) instead of failing deeper down as a 500.
"""

import math

from django.core.exceptions import BadRequest
from django.http import QueryDict

class InvalidParameter(BadRequest):
    """A request that was read, with a value that is not valid: 422, the message naming the field."""


# PostgreSQL's bigint, the widest id column: a larger number can name no row.
ID_MAX = 2**63 - 1


def id_or_none(value: str | None) -> int | None:
    """The id written in `value`, or None when it is blank or not an id at all."""
    value = (value or "").strip()
    # isdigit() alone would pass "²", which int() refuses.
    if value.isascii() and value.isdigit() and int(value) <= ID_MAX:
        return int(value)
    return None


def id_param(params: QueryDict, name: str) -> int | None:
    """The id in `params[name]`; None when it is absent or blank, InvalidParameter when it is not an id."""
    value = params.get(name, "").strip()
    parsed = id_or_none(value)
    if value and parsed is None:
        raise InvalidParameter(f"{name} must be an id (a whole number up to {ID_MAX}), not {value[:40]!r}")
    return parsed


def number_param(params: QueryDict, name: str, *, default: float, minimum: float, maximum: float) -> float:
    """The finite number in `params[name]`, within [minimum, maximum]; `default` when blank."""
    value = params.get(name, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and minimum <= number <= maximum):
        raise InvalidParameter(f"{name} must be a number from {minimum:g} to {maximum:g}, not {value[:40]!r}")
    return number
