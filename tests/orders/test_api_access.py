"""Who may call what (docs/api.md): keys, scopes, ownership and rate limits, over every v1 endpoint."""

import hashlib
from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orders import services
from orders.domain import Actor
from orders.models import (
    ApiClient,
    DeliveryMethod,
    FailureReason,
    IdempotencyKey,
    Lane,
    Order,
    OrderLine,
    OutboxEvent,
    ServiceLevel,
    StatusChange,
    StockLocation,
    StockMovement,
)
from tests.conftest import ApiCaller, line, make_client, order_body


def counts():
    models = (
        Order,
        OrderLine,
        StockMovement,
        StatusChange,
        OutboxEvent,
        IdempotencyKey,
        StockLocation,
        DeliveryMethod,
        ServiceLevel,
        FailureReason,
        Lane,
    )
    return {model.__name__: model.objects.count() for model in models}


ORDERS_READ, ORDERS_WRITE, REF_READ, REF_WRITE = "orders:read", "orders:write", "ref:read", "ref:write"

# (id, kind, method, path, body, status on success)
ENDPOINTS = [
    ("orders-list", ORDERS_READ, "get", "/api/v1/orders/", None, 200),
    ("orders-create", ORDERS_WRITE, "post", "/api/v1/orders/", order_body("NEW-1"), 201),
    ("orders-bulk", ORDERS_WRITE, "post", "/api/v1/orders/bulk/", [order_body("NEW-2")], 200),
    ("order-detail", ORDERS_READ, "get", "/api/v1/orders/{order}/", None, 200),
    ("order-patch", ORDERS_WRITE, "patch", "/api/v1/orders/{order}/", {"driver_notes": "Side door."}, 200),
    (
        "order-lines",
        ORDERS_WRITE,
        "put",
        "/api/v1/orders/{order}/lines/",
        {"lines": [line(1, "MAN"), line(2, "LDS")]},
        200,
    ),
    ("order-group", ORDERS_WRITE, "patch", "/api/v1/orders/{order}/groups/1/", {"required_time_from": "09:00"}, 200),
    ("order-status", ORDERS_READ, "get", "/api/v1/orders/{order}/status/", None, 200),
    ("order-cancel", ORDERS_WRITE, "post", "/api/v1/orders/{order}/cancel/", {"note": "No longer wanted."}, 200),
    ("movements-list", ORDERS_READ, "get", "/api/v1/stock-movements/", None, 200),
    ("movement-dispatch", ORDERS_WRITE, "post", "/api/v1/stock-movements/{pending}/dispatch/", {}, 200),
    ("movement-receive", ORDERS_WRITE, "post", "/api/v1/stock-movements/{dispatched}/receive/", {}, 200),
]
REFERENCE = [
    (
        "stock-locations",
        "BHM",
        {
            "code": "GLA",
            "name": "Glasgow",
            "address": {"line1": "4 Depot Way", "postal_code": "G1 1AA", "country": "GB"},
        },
        {"name": "Birmingham Central"},
        {"code": "BHM", "name": "Birmingham Central"},
    ),
    (
        "delivery-methods",
        "BHM-VANS",
        {"code": "BHM-TRUCKS", "name": "Birmingham trucks", "depot": "BHM"},
        {"name": "Birmingham Luton vans"},
        {"code": "BHM-VANS", "name": "Birmingham Luton vans", "depot": "BHM"},
    ),
    (
        "service-levels",
        "2MAN-ROC",
        {"code": "1MAN-KERB", "name": "One-man kerbside"},
        {"default_unload_minutes": 25},
        {"code": "2MAN-ROC", "name": "Two-man room of choice", "default_unload_minutes": 25},
    ),
    (
        "failure-reasons",
        "NOT-HOME",
        {"code": "DAMAGED", "description": "Item damaged"},
        {"description": "Nobody in"},
        {"code": "NOT-HOME", "description": "Nobody in"},
    ),
    (
        "lanes",
        "{lane}",
        {"from_location": "BHM", "to_location": "LDS", "transit_days": 1},
        {"transit_days": 4},
        {"from_location": "MAN", "to_location": "BHM", "transit_days": 4},
    ),
]
for _name, _key, _create, _patch, _put in REFERENCE:
    ENDPOINTS += [
        (f"{_name}-list", REF_READ, "get", f"/api/v1/{_name}/", None, 200),
        (f"{_name}-retrieve", REF_READ, "get", f"/api/v1/{_name}/{_key}/", None, 200),
        (f"{_name}-create", REF_WRITE, "post", f"/api/v1/{_name}/", _create, 201),
        (f"{_name}-update", REF_WRITE, "patch", f"/api/v1/{_name}/{_key}/", _patch, 200),
        (f"{_name}-replace", REF_WRITE, "put", f"/api/v1/{_name}/{_key}/", _put, 200),
    ]

ENDPOINT_IDS = [e[0] for e in ENDPOINTS]
ORDER_ENDPOINTS = [e for e in ENDPOINTS if e[1] in (ORDERS_READ, ORDERS_WRITE)]
OWNED = [e for e in ENDPOINTS if "{order}" in e[3]]


def by_kind(*kinds):
    chosen = [e for e in ENDPOINTS if e[1] in kinds]
    return pytest.mark.parametrize(("name", "kind", "method", "path", "body", "ok"), chosen, ids=[e[0] for e in chosen])


every_endpoint = pytest.mark.parametrize(("name", "kind", "method", "path", "body", "ok"), ENDPOINTS, ids=ENDPOINT_IDS)


@pytest.fixture
def world(alice, depots, make_order):
    """Alice's trunked order SO-1 with one pending and one dispatched movement."""
    order = make_order("SO-1", client=alice[0], lines=[line(1, "MAN"), line(2, "LDS")])
    pending, dispatched = StockMovement.objects.filter(order=order).order_by("id")
    services.dispatch_movement(dispatched.reference, actor=Actor.system())
    lane = Lane.objects.get(from_location__code="MAN", to_location__code="BHM")
    return {"order": "SO-1", "pending": pending.reference, "dispatched": dispatched.reference, "lane": lane.pk}


def call(caller, method, path, body, world, headers=None):
    path = path.format(**world)
    if method == "get":
        return caller.get(path, headers=headers)
    return getattr(caller, method)(path, body, headers=headers)


class RawCaller(ApiCaller):
    """An ApiCaller sending an Authorization header exactly as given."""

    def __init__(self, authorization):
        self.client = Client(headers={"Authorization": authorization})


# --- Authentication -----------------------------------------------------------------------------


@every_endpoint
def test_every_endpoint_answers_401_without_a_key(anon_api, world, name, kind, method, path, body, ok):
    before = counts()

    response = call(anon_api, method, path, body, world)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert counts() == before


@every_endpoint
def test_every_endpoint_answers_401_with_a_key_that_is_not_valid(alice, world, name, kind, method, path, body, ok):
    client, key = alice
    secret = key.split("_", 2)[2]
    inactive, inactive_key = make_client("retired", ["orders:read", "orders:write", "orders:all", "reference:write"])
    ApiClient.objects.filter(pk=inactive.pk).update(active=False)
    invalid = {"detail": "The API key is not valid."}
    cases = [
        (f"Bearer {key}x", invalid),
        (f"Bearer sp_{client.key_id}_{secret[:-1]}", invalid),
        (f"Bearer sp_000000000000_{secret}", invalid),
        (f"Bearer {secret}", invalid),
        ("Bearer sp__", invalid),
        (f"Bearer {inactive_key}", invalid),
        ("Bearer", {"detail": "The Authorization header must be `Bearer <key>`."}),
        (f"Bearer {key} extra", {"detail": "The Authorization header must be `Bearer <key>`."}),
        (f"Token {key}", {"detail": "Authentication credentials were not provided."}),
        ("Basic YWxpY2U6c2VjcmV0", {"detail": "Authentication credentials were not provided."}),
    ]
    before = counts()

    for authorization, detail in cases:
        response = call(RawCaller(authorization), method, path, body, world)

        assert (authorization, response.status_code) == (authorization, 401)
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.json() == detail
    assert counts() == before


def test_the_bearer_keyword_is_not_case_sensitive(alice, world):
    response = RawCaller(f"bearer {alice[1]}").get("/api/v1/orders/SO-1/")

    assert response.status_code == 200


def test_keys_are_stored_only_as_a_digest(alice):
    client, key = alice
    key_id, secret = ApiClient.split_key(key)
    row = ApiClient.objects.filter(pk=client.pk).values().get()

    assert row["key_id"] == key_id
    assert row["key_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert all(secret not in str(value) and key not in str(value) for value in row.values())


def test_a_deactivated_client_is_refused_from_its_next_request(alice_api, alice, world):
    assert alice_api.get("/api/v1/orders/").status_code == 200
    ApiClient.objects.filter(pk=alice[0].pk).update(active=False)

    response = alice_api.get("/api/v1/orders/")

    assert response.status_code == 401
    assert response.json() == {"detail": "The API key is not valid."}


def test_a_key_s_use_is_recorded_at_most_once_a_minute(alice_api, alice, world):
    client = alice[0]
    ApiClient.objects.filter(pk=client.pk).update(last_used_at=None)
    start = timezone.now()

    def writes_of_last_use():
        with CaptureQueriesContext(connection) as queries:
            assert alice_api.get("/api/v1/orders/SO-1/").status_code == 200
        return sum(q["sql"].startswith("UPDATE") and "last_used_at" in q["sql"] for q in queries.captured_queries)

    with time_machine.travel(start, tick=False):
        assert writes_of_last_use() == 1
        assert writes_of_last_use() == 0
    with time_machine.travel(start + timedelta(seconds=59), tick=False):
        assert writes_of_last_use() == 0
    assert ApiClient.objects.get(pk=client.pk).last_used_at == start
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        assert writes_of_last_use() == 1
    assert ApiClient.objects.get(pk=client.pk).last_used_at == start + timedelta(seconds=61)


def test_a_key_of_another_client_s_id_with_a_wrong_secret_is_refused(alice, bob, world):
    key_id, _ = ApiClient.split_key(alice[1])
    _, bob_secret = ApiClient.split_key(bob[1])

    response = RawCaller(f"Bearer {ApiClient.KEY_PREFIX}{key_id}_{bob_secret}").get("/api/v1/orders/SO-1/")

    assert response.status_code == 401
    assert response.json() == {"detail": "The API key is not valid."}


# --- Scopes -------------------------------------------------------------------------------------


@by_kind(ORDERS_WRITE)
def test_a_read_only_key_cannot_write_orders(reader_api, world, name, kind, method, path, body, ok):
    before = counts()

    response = call(reader_api, method, path, body, world)

    assert response.status_code == 403
    assert response.json() == {"detail": "This API key lacks the scope orders:write."}
    assert counts() == before


@by_kind(REF_WRITE)
@pytest.mark.parametrize("persona", ["alice_api", "reader_api"])
def test_a_key_without_reference_write_cannot_change_reference_data(
    request, world, persona, name, kind, method, path, body, ok
):
    caller = request.getfixturevalue(persona)
    list_path = "/".join(path.split("/")[:4]) + "/"
    listing = caller.get(list_path).json()
    before = counts()

    response = call(caller, method, path, body, world)

    assert response.status_code == 403
    assert response.json() == {"detail": "This API key lacks the scope reference:write."}
    assert counts() == before
    assert caller.get(list_path).json() == listing


@by_kind(ORDERS_READ, ORDERS_WRITE)
def test_a_reference_only_key_cannot_touch_orders(world, name, kind, method, path, body, ok):
    caller = ApiCaller(make_client("reference-admin", ["reference:write"])[1])
    before = counts()

    response = call(caller, method, path, body, world)

    assert response.status_code == 403
    assert response.json() == {"detail": f"This API key lacks the scope {kind}."}
    assert counts() == before


@by_kind(REF_READ)
@pytest.mark.parametrize("persona", ["alice_api", "reader_api"])
def test_any_valid_key_can_read_reference_data(request, world, persona, name, kind, method, path, body, ok):
    response = call(request.getfixturevalue(persona), method, path, body, world)

    assert response.status_code == 200


@by_kind(ORDERS_READ)
def test_a_read_only_key_can_read_orders(reader_api, world, name, kind, method, path, body, ok):
    response = call(reader_api, method, path, body, world)

    # The reader created no orders: it sees none, and Alice's order is not there for it.
    if "{order}" in path:
        assert response.status_code == 404
    else:
        assert response.status_code == 200
        assert response.json() == {"next": None, "previous": None, "results": []}


# --- Ownership ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "kind", "method", "path", "body", "ok"), OWNED, ids=[e[0] for e in OWNED])
def test_another_clients_order_answers_404_on_every_order_endpoint(
    alice_api, bob_api, world, name, kind, method, path, body, ok
):
    seen_by_alice = alice_api.get("/api/v1/orders/SO-1/").json()
    before = counts()

    response = call(bob_api, method, path, body, world)

    assert response.status_code == 404
    assert response.json() == {"detail": "No such order."}
    assert counts() == before
    assert alice_api.get("/api/v1/orders/SO-1/").json() == seen_by_alice


@pytest.mark.parametrize(("name", "kind", "method", "path", "body", "ok"), OWNED, ids=[e[0] for e in OWNED])
def test_another_clients_order_answers_404_even_with_a_matching_if_match(
    bob_api, world, name, kind, method, path, body, ok
):
    response = call(bob_api, method, path, body, world, headers={"If-Match": '"2"', "If-None-Match": '"2"'})

    assert response.status_code == 404


@pytest.mark.parametrize("action", ["dispatch", "receive"])
def test_another_clients_movement_answers_404(alice_api, bob_api, world, action):
    reference = world["pending"] if action == "dispatch" else world["dispatched"]
    before = counts()

    response = bob_api.post(f"/api/v1/stock-movements/{reference}/{action}/")

    assert response.status_code == 404
    assert response.json() == {"detail": "No such stock movement."}
    assert counts() == before
    statuses = {m["reference"]: m["status"] for m in alice_api.get("/api/v1/stock-movements/").json()["results"]}
    assert statuses == {world["pending"]: "pending", world["dispatched"]: "dispatched"}


def test_each_client_lists_only_its_own_orders_and_movements(alice_api, bob_api, ops_api, bob, world, make_order):
    make_order("BOB-1", client=bob[0], lines=[line(1, "MAN")])
    bobs_movement = StockMovement.objects.get(order__order_no="BOB-1").reference

    def listed(caller, path):
        return sorted(item.get("order_no") for item in caller.get(path).json()["results"])

    def movements(caller):
        return sorted(m["reference"] for m in caller.get("/api/v1/stock-movements/").json()["results"])

    assert listed(alice_api, "/api/v1/orders/") == ["SO-1"]
    assert listed(bob_api, "/api/v1/orders/") == ["BOB-1"]
    assert listed(ops_api, "/api/v1/orders/") == ["BOB-1", "SO-1"]
    assert movements(alice_api) == sorted([world["pending"], world["dispatched"]])
    assert movements(bob_api) == [bobs_movement]
    assert movements(ops_api) == sorted([world["pending"], world["dispatched"], bobs_movement])


@pytest.mark.parametrize(
    ("name", "kind", "method", "path", "body", "ok"), ORDER_ENDPOINTS, ids=[e[0] for e in ORDER_ENDPOINTS]
)
def test_the_owner_can_use_every_order_endpoint(alice_api, world, name, kind, method, path, body, ok):
    response = call(alice_api, method, path, body, world)

    assert response.status_code == ok, response.content


@every_endpoint
def test_a_client_with_orders_all_and_reference_write_can_use_every_endpoint(
    ops_api, world, name, kind, method, path, body, ok
):
    response = call(ops_api, method, path, body, world)

    assert response.status_code == ok, response.content
    if name == "orders-bulk":
        assert response.json()["results"][0]["result"] == "created"


def test_orders_all_sees_and_changes_every_clients_orders(ops_api, alice_api, world):
    changed = ops_api.patch("/api/v1/orders/SO-1/", {"driver_notes": "Changed by ops."}, headers={"If-Match": '"2"'})
    dispatched = ops_api.post(f"/api/v1/stock-movements/{world['pending']}/dispatch/")
    cancelled = ops_api.post("/api/v1/orders/SO-1/cancel/", {"note": "Ops cancelled."})

    assert changed.status_code == dispatched.status_code == cancelled.status_code == 200
    order = alice_api.get("/api/v1/orders/SO-1/").json()
    assert (order["driver_notes"], order["status"], order["source"]) == (
        "Changed by ops.",
        "cancelled",
        "api_client:alice-erp",
    )
    history = alice_api.get("/api/v1/orders/SO-1/status/").json()["history"]
    assert (history[-1]["actor"], history[-1]["note"]) == ("api_client:ops", "Ops cancelled.")


def test_an_order_created_by_ops_belongs_to_ops(ops_api, alice_api, depots):
    ops_api.post("/api/v1/orders/", order_body("OPS-1"))

    assert alice_api.get("/api/v1/orders/OPS-1/").status_code == 404
    assert ops_api.get("/api/v1/orders/OPS-1/").json()["source"] == "api_client:ops"


# --- Rate limits --------------------------------------------------------------------------------


@pytest.fixture
def private_cache(settings):
    """A cache of this test's own, so that no other test's requests count (Redis is shared by workers)."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "rate-limit-test"}
    }
    cache.clear()
    yield
    cache.clear()


def test_a_client_over_its_rate_limit_gets_429_with_retry_after(settings, private_cache, alice_api, bob_api, depots):
    settings.API_RATE_LIMIT = "3/min"

    allowed = [alice_api.get("/api/v1/orders/").status_code for _ in range(3)]
    refused = alice_api.post("/api/v1/orders/", order_body())
    refused_read = alice_api.get("/api/v1/stock-locations/")
    other_client = bob_api.get("/api/v1/orders/")

    assert allowed == [200, 200, 200]
    assert refused.status_code == refused_read.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json()["detail"].startswith("Request was throttled.")
    assert list(refused.json()) == ["detail"]
    assert Order.objects.count() == 0
    assert other_client.status_code == 200


def test_the_rate_limit_is_read_from_settings(settings, private_cache, alice_api, depots):
    settings.API_RATE_LIMIT = "5/min"

    statuses = [alice_api.get("/api/v1/orders/").status_code for _ in range(6)]

    assert statuses == [200] * 5 + [429]
