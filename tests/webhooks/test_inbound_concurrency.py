"""Ten copies of one inbound event at once, over real HTTP against the threaded live server and PostgreSQL.

Each copy is sent from its own thread with its own connection, all released together by a barrier;
the live server answers each in its own thread with its own database connection.
"""

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from orders.models import Order, OutboxEvent, StatusChange
from webhooks.models import InboundEvent

from .inbound_helpers import make_source, payload, signed_headers

pytestmark = pytest.mark.django_db(transaction=True)

COPIES = 10
TIMEOUT = 60


def send_together(url, requests):
    """POST each (raw body, headers) from its own thread at the same moment; return (status, json) pairs."""
    barrier = threading.Barrier(len(requests))

    def worker(spec):
        raw, headers = spec
        with httpx.Client(timeout=TIMEOUT) as http:
            barrier.wait(timeout=TIMEOUT)
            response = http.post(url, content=raw, headers={**headers, "Content-Type": "application/json"})
            return response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return [f.result(timeout=TIMEOUT * 2) for f in [pool.submit(worker, spec) for spec in requests]]


@pytest.fixture
def setup(live_server, make_order):
    order = make_order("SO-1")
    source, secret = make_source()
    return order, secret, f"{live_server.url}/webhooks/inbound/{source.name}/"


def test_ten_concurrent_copies_of_one_event_apply_once(setup):
    order, secret, url = setup
    raw = json.dumps(payload("order_planned"))
    headers = signed_headers(secret, raw, webhook_id="msg_storm")

    results = send_together(url, [(raw, headers)] * COPIES)

    assert [status for status, _ in results] == [200] * COPIES
    assert sorted(body["result"] for _, body in results) == ["applied"] + ["duplicate"] * (COPIES - 1)
    order = Order.objects.get(pk=order.pk)
    assert (order.status, order.version) == ("planned", 2)
    assert StatusChange.objects.filter(order=order, status="planned").count() == 1
    assert list(OutboxEvent.objects.filter(order=order).values_list("type", flat=True).order_by("id")) == [
        "order.created",
        "order.status_changed",
    ]
    event = InboundEvent.objects.get()
    assert (event.result, event.duplicates) == ("applied", COPIES - 1)


def test_ten_concurrent_senders_of_the_same_change_under_different_ids_move_it_once(setup):
    """A driver app that retries with fresh ids: one start applies, the rest are not allowed any more."""
    order, secret, url = setup
    raw = json.dumps(payload("order_planned"))
    assert httpx.post(url, content=raw, headers=signed_headers(secret, raw), timeout=TIMEOUT).status_code == 200
    raw = json.dumps(payload("order_in_progress"))
    requests = [(raw, signed_headers(secret, raw, webhook_id=f"msg_start_{n}")) for n in range(COPIES)]

    results = send_together(url, requests)

    assert [status for status, _ in results] == [200] * COPIES
    assert sorted(body["result"] for _, body in results) == ["applied"] + ["ignored"] * (COPIES - 1)
    order = Order.objects.get(pk=order.pk)
    assert (order.status, order.version) == ("in_progress", 3)
    assert StatusChange.objects.filter(order=order, status="in_progress").count() == 1
    assert InboundEvent.objects.filter(result="ignored").count() == COPIES - 1
