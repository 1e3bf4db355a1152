"""Hostile strings in every string field of every write endpoint: 201/200 or 400, never a 5xx, and a 400
changes nothing (docs/security.md)."""

import copy
import json
from itertools import count

import pytest

from orders import services
from orders.domain import Actor
from orders.models import (
    DeliveryMethod,
    FailureReason,
    Lane,
    Order,
    OrderGroup,
    OrderLine,
    OutboxEvent,
    ServiceLevel,
    StatusChange,
    StockLocation,
    StockMovement,
)
from tests.conftest import order_body, order_input

HOSTILE = {
    "lone-surrogate": "\ud800",
    "nul": "a\x00b",
    "bidi-override": "\u202eevil\u202c",
    "zero-width": "zero\u200bwidth\ufeff",
    "line-separators": "line\u2028para\u2029",
    "control": "\x1b[31mred\x07",
    "very-long": "x" * 10_000,
    "emoji": "🚚📦👩🏽‍🔧",
    "sql": "'; DROP TABLE orders_order; --",
    "template": "{{ settings.SECRET_KEY }}{% debug %}",
    "html": "<script>alert(1)</script>",
    "path": "../../etc/passwd",
    "empty": "",
    "blank": "   ",
}

MODELS = (
    Order,
    OrderGroup,
    OrderLine,
    StockMovement,
    StatusChange,
    OutboxEvent,
    StockLocation,
    DeliveryMethod,
    ServiceLevel,
    FailureReason,
    Lane,
)

_serial = count(1)


def state():
    """Everything a refused write must leave as it was."""
    return {
        "rows": {model.__name__: model.objects.count() for model in MODELS},
        "versions": list(Order.objects.order_by("pk").values_list("order_no", "version")),
        "movement_versions": list(StockMovement.objects.order_by("pk").values_list("version", flat=True)),
    }


def put_at(body, path, value):
    body = copy.deepcopy(body)
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


def multi_body(order_no):
    leg = {"sequence": 1, "group_type": "delivery", "address": {"lat": 52.4, "lng": -1.9}, "lines": []}
    body = order_body(order_no, order_type="multi", lines=[])
    first = order_body()["lines"][0]
    body["groups"] = [
        {**leg, "lines": [first]},
        {**leg, "sequence": 2, "group_type": "collection", "lines": [{**first, "line_no": 2}]},
    ]
    return body


ORDER_PATHS = [
    ("order_no",),
    ("customer", "name"),
    ("customer", "mobile"),
    ("customer", "email"),
    ("customer", "phone"),
    ("address", "line1"),
    ("address", "line2"),
    ("address", "line3"),
    ("address", "town"),
    ("address", "county"),
    ("address", "postal_code"),
    ("address", "country"),
    ("customer_reference",),
    ("customer_address",),
    ("service_level",),
    ("order_notes",),
    ("location_instructions",),
    ("driver_notes",),
    ("required_date",),
    ("required_time_from",),
    ("order_type",),
    ("lines", 0, "sku"),
    ("lines", 0, "description"),
    ("lines", 0, "stock_location"),
    ("lines", 0, "delivery_method"),
    ("lines", 0, "notes"),
    ("lines", 0, "on_hand_date"),
]
MULTI_PATHS = [
    ("groups", 0, "group_type"),
    ("groups", 0, "address", "line1"),
    ("groups", 1, "lines", 0, "sku"),
]


def writes():
    """(name, builder(value) → (method, path, body)) for every string field of every write endpoint."""
    cases = []
    for path in ORDER_PATHS:
        cases.append(
            (
                "create:" + ".".join(map(str, path)),
                lambda v, p=path: ("post", "/api/v1/orders/", put_at(order_body(f"H-{next(_serial)}"), p, v)),
            )
        )
        cases.append(
            (
                "bulk:" + ".".join(map(str, path)),
                lambda v, p=path: ("post", "/api/v1/orders/bulk/", [put_at(order_body(f"H-{next(_serial)}"), p, v)]),
            )
        )
    for path in MULTI_PATHS:
        cases.append(
            (
                "create-multi:" + ".".join(map(str, path)),
                lambda v, p=path: ("post", "/api/v1/orders/", put_at(multi_body(f"H-{next(_serial)}"), p, v)),
            )
        )
    patchable = [p for p in ORDER_PATHS if p[0] not in ("order_no", "order_type", "lines")]
    for path in patchable:
        cases.append(
            (
                "patch:" + ".".join(map(str, path)),
                lambda v, p=path: ("patch", "/api/v1/orders/SO-1/", put_at(_patch_base(p), p, v)),
            )
        )
    for field in ("sku", "description", "stock_location", "delivery_method", "notes"):
        cases.append(
            (
                f"patch-line:{field}",
                lambda v, f=field: ("patch", "/api/v1/orders/SO-1/", {"lines": [{"line_no": 1, f: v}]}),
            )
        )
        cases.append(
            (
                f"put-lines:{field}",
                lambda v, f=field: (
                    "put",
                    "/api/v1/orders/SO-1/lines/",
                    {"lines": [{**order_body()["lines"][0], f: v}]},
                ),
            )
        )
    for field in ("group_type", "required_date"):
        cases.append((f"patch-group:{field}", lambda v, f=field: ("patch", "/api/v1/orders/SO-1/groups/1/", {f: v})))
    cases.append(
        ("patch-group:address.town", lambda v: ("patch", "/api/v1/orders/SO-1/groups/1/", {"address": {"town": v}}))
    )
    # Cancelling and dispatching happen once: each string gets a fresh order or movement.
    cases.append(("cancel:note", lambda v: ("post", f"/api/v1/orders/{_fresh_order().order_no}/cancel/", {"note": v})))
    cases.append(
        ("dispatch:note", lambda v: ("post", f"/api/v1/stock-movements/{_fresh_movement()}/dispatch/", {"note": v}))
    )
    reference = {
        "stock-locations": {"code": None, "name": "Depot", "address": {"line1": "1 Road", "town": "Town"}},
        "delivery-methods": {"code": None, "name": "Vans", "depot": "BHM"},
        "service-levels": {"code": None, "name": "Level", "description": "About"},
        "failure-reasons": {"code": None, "description": "Why"},
    }
    for endpoint, base in reference.items():
        for field in [k for k in base if k != "address"] + (["address.town"] if "address" in base else []):
            cases.append(
                (
                    f"{endpoint}:{field}",
                    lambda v, e=endpoint, b=base, f=field: ("post", f"/api/v1/{e}/", _reference_body(b, f, v)),
                )
            )
        cases.append(
            (
                f"{endpoint}:patch-name",
                lambda v, e=endpoint, b=base: (
                    "patch",
                    f"/api/v1/{e}/BHM/" if e == "stock-locations" else f"/api/v1/{e}/{_existing_code(e)}/",
                    {"name" if "name" in b else "description": v},
                ),
            )
        )
    for field in ("from_location", "to_location"):
        cases.append(
            (
                f"lanes:{field}",
                lambda v, f=field: (
                    "post",
                    "/api/v1/lanes/",
                    {"from_location": "BHM", "to_location": "LDS", "transit_days": 2, f: v},
                ),
            )
        )
    return cases


def _fresh_order(**overrides):
    return services.create_order(actor=Actor.system(), **order_input(order_body(f"F-{next(_serial)}", **overrides)))


def _fresh_movement():
    order = _fresh_order(lines=[{**order_body()["lines"][0], "stock_location": "MAN"}])
    return StockMovement.objects.get(order=order).reference


def _patch_base(path):
    if path[0] in ("customer", "address"):
        return {path[0]: {}}
    return {}


def _reference_body(base, field, value):
    body = copy.deepcopy(base)
    body["code"] = f"H{next(_serial)}"
    if field == "address.town":
        body["address"]["town"] = value
    else:
        body[field] = value
    return body


def _existing_code(endpoint):
    return {"delivery-methods": "BHM-VANS", "service-levels": "2MAN-ROC", "failure-reasons": "NOT-HOME"}[endpoint]


WRITES = writes()


@pytest.fixture
def world(ops_api, make_order, depots):
    ops = ops_api
    make_order("SO-1")
    trunked = make_order("SO-2", lines=[{**order_body()["lines"][0], "stock_location": "MAN"}])
    return ops, StockMovement.objects.get(order=trunked).reference


@pytest.mark.parametrize(("name", "build"), WRITES, ids=[name for name, _ in WRITES])
def test_hostile_strings_are_stored_or_refused_with_400_never_a_server_error(world, name, build):
    api, reference = world
    for kind, text in HOSTILE.items():
        method, path, body = build(text)
        path = path.replace("MV-REF", reference)
        before = state()

        response = getattr(api, method)(path, raw=json.dumps(body))

        assert response.status_code in (200, 201, 400), (kind, response.status_code, response.content[:300])
        payload = response.json()
        if response.status_code == 400:
            assert list(payload) == ["errors"], kind
            assert all(isinstance(messages, list) and messages for messages in payload["errors"].values()), kind
            assert state() == before, kind
        elif name.startswith("bulk:") and payload["results"][0]["result"] == "error":
            assert state()["rows"] == before["rows"], kind
