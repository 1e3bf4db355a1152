"""Fuzzing of the webhook operations from the OpenAPI schema: no generated request may cause a 5xx."""

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from orders.models import OutboxEvent
from stream_portal.wsgi import application
from tests.conftest import make_client
from webhooks import delivery, ssrf
from webhooks.models import Subscription

schema = schemathesis.openapi.from_wsgi("/api/schema/", application).include(path_regex=r"^/api/v1/webhook-")


@pytest.fixture(autouse=True)
def keep_the_test_connection_open():
    """As in tests/orders/test_api_schemathesis.py: keep the test's transaction across WSGI requests."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def api_key(outbound, make_order, monkeypatch):
    """A webhooks:manage key with a subscription and a delivery to aim at. Names resolve only to loopback:
    DNS is what leaves the machine, so it is the one thing stood in for."""
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: ["127.0.0.1"])
    client, key = make_client("hook-fuzzer", ["webhooks:manage", "orders:write"])
    Subscription.objects.create(client=client, url="http://127.0.0.1:8399/", event_types=["*"])
    make_order("SO-FUZZ")
    delivery.fan_out(OutboxEvent.objects.values_list("id", flat=True))
    return key


def test_the_fuzzed_schema_has_the_webhook_operations():
    assert len(list(schema.get_all_operations())) == 11


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_generated_webhook_request_gets_a_server_error(case, api_key):
    response = case.call(headers={"Authorization": f"Bearer {api_key}"})
    case.validate_response(response, checks=[not_a_server_error])
