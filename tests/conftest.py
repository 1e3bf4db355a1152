"""Shared fixtures: reference data and personas (healthchecks' alice/bob/charlie style).

- `alice_api`, `bob_api`: two API clients with orders:read + orders:write; each sees only its own orders.
- `ops_api`: an integrator with orders:all and reference:write.
- `reader_api`: orders:read only.
- `anon_api`: no key at all.
"""

import json
import os
import re
from datetime import date, timedelta

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from orders.models import ApiClient, DeliveryMethod, FailureReason, Lane, ServiceLevel, StockLocation

# Each pytest-xdist worker gets its own Redis database (15, 14, ...): rate-limit tests clear the cache
# and count per client id, and ids repeat across the workers' separate test databases.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker.startswith("gw") and "RedisCache" in django_settings.CACHES["default"]["BACKEND"]:
    django_settings.CACHES["default"]["LOCATION"] = re.sub(
        r"/(\d+)$",
        lambda m: f"/{int(m.group(1)) - int(_worker[2:])}",
        django_settings.CACHES["default"]["LOCATION"],
    )


if os.environ.get("STREAM_PORTAL_MUTATE"):

    @pytest.fixture(scope="session", autouse=True)
    def _no_rows_left_from_another_run(django_db_setup, django_db_blocker):
        """Under bin/mutate, every mutant's tests start from empty tables. mutmut runs each mutant's
        tests in a process forked from one that ran the whole selection first, on the same test
        database (--reuse-db); rows committed there by a test cut short (the tests of a transaction's
        own COMMIT are transactional) were left behind, and every mutant's first test then failed on
        them ("duplicate key ... orders_apiclient_name_key") and was counted as killed."""
        from django.core.management import call_command

        with django_db_blocker.unblock():
            call_command("flush", interactive=False, verbosity=0)


# Every order body the tests validate through orders/api/validation.py is also put through
# OrderSerializer itself, and any difference (data, types, messages, field paths) fails the test.
django_settings.ORDER_VALIDATION_CROSSCHECK = True


class ApiCaller:
    """A Django test client speaking JSON with one API key."""

    def __init__(self, key=None):
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = Client(headers=headers)
        self.key = key

    def _send(self, method, path, body=None, headers=None, raw=None):
        data = raw if raw is not None else (json.dumps(body) if body is not None else "")
        func = getattr(self.client, method)
        return func(path, data=data, content_type="application/json", headers=headers or {})

    def get(self, path, params=None, headers=None):
        return self.client.get(path, data=params or {}, headers=headers or {})

    def post(self, path, body=None, **kw):
        return self._send("post", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self._send("patch", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self._send("put", path, body, **kw)

    def delete(self, path, **kw):
        return self._send("delete", path, **kw)


def make_client(name, scopes):
    client = ApiClient(name=name, scopes=list(scopes))
    key = client.set_new_key()
    client.save()
    return client, key


@pytest.fixture
def depots(db):
    """Three depots, a fleet at each, lanes MAN→BHM (2 days) and LDS→BHM (3 days); none BHM→LDS."""
    bhm = StockLocation.objects.create(
        code="BHM", name="Birmingham", line1="1 Depot Way", postal_code="B1 1AA", country="GB"
    )
    man = StockLocation.objects.create(
        code="MAN", name="Manchester", line1="2 Depot Way", postal_code="M1 1AA", country="GB"
    )
    lds = StockLocation.objects.create(
        code="LDS", name="Leeds", line1="3 Depot Way", postal_code="LS1 1AA", country="GB"
    )
    DeliveryMethod.objects.create(code="BHM-VANS", name="Birmingham vans", depot=bhm)
    DeliveryMethod.objects.create(code="MAN-VANS", name="Manchester vans", depot=man)
    DeliveryMethod.objects.create(code="LDS-VANS", name="Leeds vans", depot=lds)
    Lane.objects.create(from_location=man, to_location=bhm, transit_days=2)
    Lane.objects.create(from_location=lds, to_location=bhm, transit_days=3)
    ServiceLevel.objects.create(code="2MAN-ROC", name="Two-man room of choice", default_unload_minutes=20)
    FailureReason.objects.create(code="NOT-HOME", description="Customer not at home")
    FailureReason.objects.create(code="OLD", description="Retired reason", active=False)
    return {"BHM": bhm, "MAN": man, "LDS": lds}


@pytest.fixture
def alice(db):
    return make_client("alice-erp", ["orders:read", "orders:write"])


@pytest.fixture
def bob(db):
    return make_client("bob-webshop", ["orders:read", "orders:write"])


@pytest.fixture
def alice_api(alice):
    return ApiCaller(alice[1])


@pytest.fixture
def bob_api(bob):
    return ApiCaller(bob[1])


@pytest.fixture
def ops_api(db):
    return ApiCaller(make_client("ops", ["orders:read", "orders:write", "orders:all", "reference:write"])[1])


@pytest.fixture
def reader_api(db):
    return ApiCaller(make_client("reader", ["orders:read"])[1])


@pytest.fixture
def anon_api():
    return ApiCaller()


def day(offset=0, start=None):
    """The date `offset` days after `start` (default: today in the office's time zone)."""
    return (start or timezone.localdate()) + timedelta(days=offset)


def line(
    line_no=1, stock_location="BHM", delivery_method="BHM-VANS", quantity=1, *, sku=None, on_hand_date=None, **extra
):
    """An order line as the API takes it: stock at `stock_location`, delivered by fleet `delivery_method`.

    The one line builder of the suite; `extra` adds or overrides any other field.
    """
    spec = {
        "line_no": line_no,
        "sku": sku if sku is not None else f"SKU-{line_no}",
        "quantity": quantity,
        "stock_location": stock_location,
        "delivery_method": delivery_method,
        **extra,
    }
    if on_hand_date is not None:
        spec["on_hand_date"] = on_hand_date.isoformat() if isinstance(on_hand_date, date) else on_hand_date
    return spec


def reload(order):
    from orders.models import Order

    return Order.objects.get(pk=order.pk)


def order_body(order_no="SO-1", **overrides):
    """A valid delivery order: one line from BHM stock on a BHM fleet (no trunking)."""
    body = {
        "order_no": order_no,
        "customer": {"name": "Ann Smith", "mobile": "07700900123", "email": "ann@example.com"},
        "address": {"line1": "1 High Street", "town": "Birmingham", "postal_code": "b2 4qa", "country": "GB"},
        "required_date": date.today().isoformat(),
        "lines": [
            {"line_no": 1, "sku": "SOFA-3", "quantity": 1, "stock_location": "BHM", "delivery_method": "BHM-VANS"}
        ],
    }
    body.update(overrides)
    return body


def order_input(body):
    """An API-shaped order body as services.create_order takes it: model field names, reference data as
    instances, dates as dates. Built directly, not through the API's serializer, so that tests of the
    domain do not depend on the API (and can hand the domain what the API would refuse)."""
    from orders.models import AddressFields, DeliveryMethod, ServiceLevel, StockLocation

    def address(data):
        return {f: data[f] for f in AddressFields.ADDRESS_FIELDS if f in (data or {})}

    def line_input(spec):
        out = {**spec}
        out["stock_location"] = StockLocation.objects.get(code=spec["stock_location"])
        out["delivery_method"] = DeliveryMethod.objects.get(code=spec["delivery_method"])
        if isinstance(spec.get("on_hand_date"), str):
            out["on_hand_date"] = date.fromisoformat(spec["on_hand_date"])
        return out

    def window(data):
        return {
            f: date.fromisoformat(data[f]) if f == "required_date" and isinstance(data[f], str) else data[f]
            for f in ("required_date", "required_time_from", "required_time_to")
            if f in data
        }

    fields = {
        "order_no": body["order_no"],
        "order_type": body.get("order_type", "delivery"),
        **{f"customer_{k}": v for k, v in body.get("customer", {}).items()},
        **address(body.get("address")),
        **window(body),
        **{
            k: body[k]
            for k in ("customer_reference", "order_notes", "driver_notes", "location_instructions")
            if k in body
        },
    }
    if body.get("service_level"):
        fields["service_level"] = ServiceLevel.objects.get(code=body["service_level"])
    if body.get("address", {}).get("postal_code"):
        fields["postal_code"] = body["address"]["postal_code"].upper()
    groups = None
    if body.get("groups"):
        groups = [
            {
                "sequence": g["sequence"],
                "group_type": g["group_type"],
                **address(g.get("address")),
                **window(g),
                "lines": [line_input(spec) for spec in g.get("lines", [])],
            }
            for g in body["groups"]
        ]
    lines = [line_input(spec) for spec in body.get("lines") or []]
    return {"fields": fields, "lines": lines, "groups": groups}


@pytest.fixture
def make_order(depots):
    """Create an order through the service layer, as a given API client (or the system)."""
    from orders import services
    from orders.domain import Actor

    def make(order_no="SO-1", client=None, **overrides):
        actor = Actor.for_client(client) if client else Actor.system()
        return services.create_order(actor=actor, **order_input(order_body(order_no, **overrides)))

    return make
