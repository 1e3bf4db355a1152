"""Property-based fuzzing of the whole v1 API from its own OpenAPI schema: the schema tells the truth.

Schemathesis generates valid and invalid requests for every operation the schema lists and sends
them, in-process, to the real WSGI application on the test database. No input may cause a 5xx, and
every answer's status code, content type and body must be what the schema documents.
"""

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from stream_portal.wsgi import application
from tests.conftest import make_client, order_body

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture(autouse=True)
def keep_the_test_connection_open():
    """The WSGI handler closes DB connections after each request; Django's own test client stops
    that so the test's transaction survives. Do the same for schemathesis' WSGI client."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def api_key(depots, make_order):
    """A key with every scope, an order to aim at, and a dispatched movement."""
    _client, key = make_client("fuzzer", ["orders:read", "orders:write", "orders:all", "reference:write"])
    make_order("SO-1")
    make_order("SO-2", lines=[{**order_body()["lines"][0], "stock_location": "MAN"}])
    return key


def test_the_schema_lists_every_endpoint_of_the_contract():
    paths = set(schema.raw_schema["paths"])
    assert {
        "/api/v1/orders/",
        "/api/v1/orders/bulk/",
        "/api/v1/orders/{order_no}/",
        "/api/v1/orders/{order_no}/lines/",
        "/api/v1/orders/{order_no}/groups/{sequence}/",
        "/api/v1/orders/{order_no}/status/",
        "/api/v1/orders/{order_no}/cancel/",
        "/api/v1/stock-movements/",
        "/api/v1/stock-movements/{reference}/dispatch/",
        "/api/v1/stock-movements/{reference}/receive/",
        "/api/v1/stock-locations/",
        "/api/v1/stock-locations/{code}/",
        "/api/v1/delivery-methods/",
        "/api/v1/delivery-methods/{code}/",
        "/api/v1/service-levels/",
        "/api/v1/service-levels/{code}/",
        "/api/v1/failure-reasons/",
        "/api/v1/failure-reasons/{code}/",
        "/api/v1/lanes/",
        "/api/v1/lanes/{id}/",
        "/api/v1/routes/",  # fuzzed like every path listed here: parametrize() takes the whole schema
    } <= paths


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_generated_request_is_answered_as_the_schema_says(case, api_key):
    response = case.call(headers={"Authorization": f"Bearer {api_key}"})
    case.validate_response(
        response,
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )
