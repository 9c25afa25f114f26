"""The JSON API: version 1 under /api/v1/, its OpenAPI schema and docs under /api/.

Endpoints call the same permission checks, services and selectors as the
pages, so a role may do through the API exactly what it may do in the UI.
Every error is JSON: {"detail": "..."}, plus {"errors": {field: [...]}} for
input. The codes, here and on the pages: 400 a request that cannot be read
(a body that is not JSON), 401 no valid token, 403 a role that may not, 404
not found or not yours, 409 a conflict with the state (stale, taken, already
done), 422 a readable request with a value that is not valid, naming the field.
"""

import json
import logging
import math

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as RequestValidationError
from ninja.parser import Parser
from ninja.security import HttpBearer

from api import tokens
from api.endpoints import batches, controls, imports, items, labelling, projects, training

logger = logging.getLogger(__name__)


class TokenAuth(HttpBearer):
    """`Authorization: Bearer <key>` with a key from the API tokens page or `manage.py create_api_token`."""

    def authenticate(self, request, token: str):
        # An expired token raises tokens.ApiTokenExpired, answered 401 below with its own message.
        user = tokens.api_token_user(key=token)
        if user is not None:
            # The same attribute the pages read, for code shared with them.
            request.user = user
        return user


class NonFiniteNumber(ValueError):
    """NaN, Infinity, or a number too large for a float (1e999), at `field`."""

    def __init__(self, field: str):
        super().__init__("must be a finite number (NaN, Infinity and 1e999 are not)")
        self.field = field


def _non_finite_field(value, path: tuple = ()) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return ".".join(str(part) for part in path) or "body"
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        found = _non_finite_field(child, (*path, key))
        if found:
            return found
    return None


class FiniteJsonParser(Parser):
    """JSON bodies as RFC 8259 has them: Python's json module accepts NaN and
    Infinity, which no float field or JSON column can hold."""

    def parse_body(self, request):
        data = json.loads(request.body)
        field = _non_finite_field(data)
        if field:
            raise NonFiniteNumber(field)
        return data


api = NinjaAPI(
    title="ladderlab",
    version="1",
    description=(
        "Projects, imports, items, labels, controls, batches, ladders, runs and verdicts. "
        "Send `Authorization: Bearer <token>`; make one on the API tokens page (/account/tokens/) "
        "or with `manage.py create_api_token USER --days N`. Tokens expire (90 days unless chosen)."
    ),
    urls_namespace="api",
    auth=TokenAuth(),
    openapi_url="/openapi.json",
    docs_url="/docs",
    parser=FiniteJsonParser(),
)

for router in (projects, imports, items, labelling, controls, batches, training):
    api.add_router("/v1/", router.router)


def _field_name(location: list) -> str:
    # ("body", "payload", "option") → "option"; ("query", "page") → "page".
    parts = [str(part) for part in location]
    if parts and parts[0] in {"body", "form", "file"}:
        parts = parts[2:] if len(parts) > 2 else parts[1:]
    elif parts:
        parts = parts[1:]
    return ".".join(parts) or "__all__"


@api.exception_handler(RequestValidationError)
def invalid_request(request, exc: RequestValidationError):
    errors: dict[str, list[str]] = {}
    for error in exc.errors:
        errors.setdefault(_field_name(error.get("loc", [])), []).append(error.get("msg", "invalid"))
    summary = "; ".join(f"{field}: {', '.join(messages)}" for field, messages in errors.items())
    return api.create_response(request, {"detail": f"invalid request: {summary}", "errors": errors}, status=422)


@api.exception_handler(HttpError)
def http_error(request, exc: HttpError):
    body, status = {"detail": str(exc)}, exc.status_code
    if isinstance(exc.__cause__, NonFiniteNumber):
        # Ninja wraps whatever the parser raises as "Cannot parse request body"; this body was read.
        non_finite = exc.__cause__
        body = {
            "detail": f"invalid request: {non_finite.field}: {non_finite}",
            "errors": {non_finite.field: [str(non_finite)]},
        }
        status = 422
    elif exc.status_code == 400:
        # Ninja's only 400 of its own: a body that is not JSON (or not the form) at all.
        body["errors"] = {"body": [str(exc)]}
    return api.create_response(request, body, status=status)


@api.exception_handler(DjangoValidationError)
def invalid_data(request, exc: DjangoValidationError):
    errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    return api.create_response(request, {"detail": "; ".join(exc.messages), "errors": errors}, status=422)


@api.exception_handler(PermissionDenied)
def forbidden(request, exc: PermissionDenied):
    detail = str(exc) or "your role in this project does not allow this"
    return api.create_response(request, {"detail": detail}, status=403)


@api.exception_handler(Http404)
def not_found(request, exc: Http404):
    return api.create_response(request, {"detail": str(exc) or "not found"}, status=404)


@api.exception_handler(AuthenticationError)
def unauthenticated(request, exc: AuthenticationError):
    detail = "missing or unknown API token: send 'Authorization: Bearer <token>'"
    return api.create_response(request, {"detail": detail}, status=401)


@api.exception_handler(tokens.ApiTokenExpired)
def token_expired(request, exc: tokens.ApiTokenExpired):
    response = api.create_response(request, {"detail": str(exc)}, status=401)
    response["WWW-Authenticate"] = 'Bearer error="invalid_token", error_description="The token expired"'
    return response


@api.exception_handler(Exception)
def server_error(request, exc: Exception):
    # A script reading the API expects JSON even here; the traceback goes to the log.
    logger.error("API error on %s %s", request.method, request.path, exc_info=exc)
    return api.create_response(request, {"detail": "internal server error; it has been logged"}, status=500)
