"""Property-based run of the whole API against its own OpenAPI schema (schemathesis).

Requests are generated from the schema, valid and invalid, and sent through the
WSGI application; no answer may be a server error, and every answer must match
the status codes and shapes the schema declares. Path ids are pinned to real
rows so the generated bodies and queries reach the endpoints' logic instead of
stopping at a 404. Bounded: a few examples per operation, derandomized.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance

from tests.api.conftest import LEAD

schema = schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application())


@pytest.fixture
def connection_kept_open():
    """Keep the test's database connection (and its transaction) across WSGI requests.

    A request's start and end close a connection that is inside a transaction;
    Django's test client disconnects that for its own requests, and this does
    the same for schemathesis's.
    """
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_operation_answers_a_server_error_or_off_schema(
    case, world, connection_kept_open, django_capture_on_commit_callbacks
):
    real = {
        "project_id": world["project"].pk,
        "job_id": world["job"].pk,
        "item_id": world["items"][0].pk,
        "batch_id": world["batch"].pk,
        "run_id": world["run"].pk,
    }
    if case.path_parameters:
        case.path_parameters = {name: real.get(name, value) for name, value in case.path_parameters.items()}
    with django_capture_on_commit_callbacks():
        response = case.call(headers={"Authorization": f"Bearer {world['keys'][LEAD]}"})
    case.validate_response(
        response, checks=[not_a_server_error, status_code_conformance, response_schema_conformance]
    )
