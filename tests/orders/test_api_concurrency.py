"""Real concurrency over HTTP (docs/api.md): many requests at once against the threaded live server.

Each test starts N worker threads that each open their own httpx client, meet at a barrier and
then send one request together. The live server handles every request in its own thread with its
own database connection, and `live_server` makes the test transactional, so what the test writes
is committed and seen by the server and what the server writes is seen by the test.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from orders.models import IdempotencyKey, Order, OrderLine, OutboxEvent, StatusChange, StockMovement
from tests.conftest import make_client, order_body

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = httpx.Timeout(30.0)
BARRIER_TIMEOUT = 60


def two_line_body(order_no="SO-C1", **overrides):
    """A delivery on the BHM fleet: one line already at BHM, one coming from MAN (one movement)."""
    lines = [
        {"line_no": 1, "sku": "SOFA-3", "quantity": 1, "stock_location": "BHM", "delivery_method": "BHM-VANS"},
        {"line_no": 2, "sku": "CHAIR", "quantity": 2, "stock_location": "MAN", "delivery_method": "BHM-VANS"},
    ]
    return order_body(order_no, lines=lines, **overrides)


@pytest.fixture
def api(live_server, depots):
    """(ApiClient, base URL, auth headers) for a client with orders:read and orders:write.

    `live_server` makes this test transactional (pytest-django), so `depots` (which asks for `db`)
    and `make_client` commit, and the server's threads see the data.
    """
    client, key = make_client("concurrency-erp", ["orders:read", "orders:write"])
    return client, live_server.url, {"Authorization": f"Bearer {key}"}


def send_together(base_url, requests):
    """Send each (method, path, headers, json) from its own thread, all released at once.

    Returns one (status, headers, body) per request, in the order given. Transport errors are
    returned as the exception so that the test reports them instead of hanging.
    """
    barrier = threading.Barrier(len(requests))

    def worker(spec):
        method, path, headers, body = spec
        with httpx.Client(base_url=base_url, timeout=TIMEOUT) as http:
            barrier.wait(timeout=BARRIER_TIMEOUT)
            response = http.request(method, path, headers=headers, json=body)
            try:
                data = response.json()
            except ValueError:
                data = response.text
            return response.status_code, response.headers, data

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        futures = [pool.submit(worker, spec) for spec in requests]
        return [future.result(timeout=BARRIER_TIMEOUT + 60) for future in futures]


def statuses(results):
    return sorted(status for status, _, _ in results)


def assert_no_server_errors(results):
    errors = [(status, body) for status, _, body in results if status >= 500]
    assert not errors, f"server errors under concurrency: {errors}"


def create_one(base_url, headers, body):
    response = httpx.post(f"{base_url}/api/v1/orders/", json=body, headers=headers, timeout=TIMEOUT)
    assert response.status_code == 201, response.text
    return response.json()


def test_same_idempotency_key_creates_one_order(api):
    client, base_url, auth = api
    headers = {**auth, "Idempotency-Key": "concurrent-create-1"}
    body = two_line_body("SO-IDEM")

    results = send_together(base_url, [("POST", "/api/v1/orders/", headers, body)] * 20)

    assert_no_server_errors(results)
    assert set(statuses(results)) <= {201, 409}, statuses(results)
    created = [(h, data) for status, h, data in results if status == 201]
    assert created, "at least one request must have created (or replayed) the order"
    for status, _, data in results:
        if status == 409:
            assert "still being processed" in data["detail"]

    assert Order.objects.filter(order_no="SO-IDEM").count() == 1
    assert Order.objects.count() == 1
    order = Order.objects.get()
    assert order.version == 1
    assert order.source_client_id == client.pk

    current = httpx.get(f"{base_url}/api/v1/orders/SO-IDEM/", headers=auth, timeout=TIMEOUT).json()
    first = [data for h, data in created if h.get("Idempotent-Replayed") is None]
    replayed = [data for h, data in created if h.get("Idempotent-Replayed") == "true"]
    assert len(first) == 1, "exactly one request does the work; any other 201 is a replay"
    assert len(first) + len(replayed) == len(created)
    for data in (*first, *replayed):
        assert data == current
        assert data["order_no"] == "SO-IDEM"
        assert data["version"] == 1

    # The work was done once: lines, movement and order.created written once.
    assert OrderLine.objects.filter(order=order).count() == 2
    assert StockMovement.objects.filter(order=order).count() == 1
    assert OutboxEvent.objects.filter(type=OutboxEvent.Type.ORDER_CREATED).count() == 1
    key = IdempotencyKey.objects.get(client=client, key="concurrent-create-1")
    assert key.state == IdempotencyKey.State.DONE
    assert key.response_status == 201

    # After the storm the key replays the first answer.
    again = httpx.post(f"{base_url}/api/v1/orders/", json=body, headers=headers, timeout=TIMEOUT)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == current


def test_same_order_no_without_key_creates_once(api):
    _, base_url, auth = api
    requests = [
        ("POST", "/api/v1/orders/", auth, two_line_body("SO-RACE", customer_reference=f"REF-{i}")) for i in range(20)
    ]

    results = send_together(base_url, requests)

    assert_no_server_errors(results)
    assert statuses(results) == [201] + [409] * 19, statuses(results)
    for status, _, data in results:
        if status == 409:
            assert "already exists" in data["detail"]
    winner = next(data for status, _, data in results if status == 201)

    assert Order.objects.count() == 1
    order = Order.objects.get(order_no="SO-RACE")
    assert order.customer_reference == winner["customer_reference"]
    assert order.version == 1
    assert OrderLine.objects.count() == 2
    assert OrderLine.objects.filter(order=order).count() == 2
    assert StockMovement.objects.count() == 1
    assert OutboxEvent.objects.filter(type=OutboxEvent.Type.ORDER_CREATED).count() == 1
    assert StatusChange.objects.filter(subject="order", previous_status="").count() == 1


def test_concurrent_patches_with_same_if_match(api):
    _, base_url, auth = api
    create_one(base_url, auth, two_line_body("SO-PATCH"))
    headers = {**auth, "If-Match": '"1"'}
    requests = [("PATCH", "/api/v1/orders/SO-PATCH/", headers, {"order_notes": f"Note {i}"}) for i in range(20)]

    results = send_together(base_url, requests)

    assert_no_server_errors(results)
    assert statuses(results) == [200] + [412] * 19, statuses(results)
    status, response_headers, winner = next(r for r in results if r[0] == 200)
    assert winner["version"] == 2
    assert response_headers["ETag"] == '"2"'

    order = Order.objects.get(order_no="SO-PATCH")
    assert order.version == 2
    assert order.order_notes == winner["order_notes"]
    assert OutboxEvent.objects.filter(order=order, type=OutboxEvent.Type.ORDER_UPDATED).count() == 1


def test_concurrent_dispatches_of_one_movement(api):
    _, base_url, auth = api
    created = create_one(base_url, auth, two_line_body("SO-MOVE"))
    [movement] = created["movements"]
    reference = movement["reference"]
    assert movement["status"] == "pending"
    path = f"/api/v1/stock-movements/{reference}/dispatch/"

    results = send_together(base_url, [("POST", path, auth, {})] * 10)

    assert_no_server_errors(results)
    assert statuses(results) == [200] + [409] * 9, statuses(results)
    winner = next(data for status, _, data in results if status == 200)
    assert winner["status"] == "dispatched"
    assert winner["version"] == 2

    movement = StockMovement.objects.get(reference=reference)
    assert movement.status == StockMovement.Status.DISPATCHED
    assert movement.version == 2
    assert StatusChange.objects.filter(movement=movement, status=StockMovement.Status.DISPATCHED).count() == 1
    assert OutboxEvent.objects.filter(movement=movement, type=OutboxEvent.Type.MOVEMENT_STATUS_CHANGED).count() == 1
