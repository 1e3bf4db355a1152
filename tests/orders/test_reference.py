"""Reference data for a request (orders/reference.py): one prepared statement on PostgreSQL, the ORM
on SQLite (bin/run's database), the same answers either way; and an order created through the API
on a real SQLite database."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection, connections

from orders import reference, trunking
from orders.models import DeliveryMethod, ServiceLevel, StockLocation

ROOT = Path(__file__).resolve().parents[2]

BODIES = [
    {
        "service_level": "2MAN-ROC",
        "lines": [
            {"stock_location": "MAN", "delivery_method": "BHM-VANS"},  # moves MAN → BHM
            {"stock_location": "LDS", "delivery_method": "LDS-VANS"},  # already at its fleet's depot
            {"stock_location": "NOWHERE", "delivery_method": "GONE-VANS"},  # unknown and inactive codes
            {"stock_location": "bad code!", "delivery_method": 7},  # not codes at all
        ],
    },
    {"order_type": "multi", "groups": [{"group_type": "delivery", "lines": [{"delivery_method": "MAN-VANS"}]}]},
    "not an order",
]


def tables_of(loaded):
    """{model: {code: (pk, active, depot code)}} of what a load found."""
    return {
        model.__name__: {
            code: (obj.pk, obj.active, getattr(getattr(obj, "depot", None), "code", None))
            for code, obj in table._by_code.items()
        }
        for model, table in loaded.tables.items()
    }


@pytest.fixture
def refs(depots):
    DeliveryMethod.objects.create(code="GONE-VANS", name="Retired vans", depot=depots["BHM"], active=False)
    ServiceLevel.objects.create(code="OLD-LEVEL", name="Retired", default_unload_minutes=10, active=False)
    return depots


def test_the_orm_path_finds_what_the_prepared_statement_finds(refs, monkeypatch):
    fast = reference.load(BODIES)
    monkeypatch.setattr(type(connections["default"]), "vendor", "sqlite")
    # SQLite takes movement ids from its own counter (SQLite's SQL); here, numbers in their place.
    monkeypatch.setattr(
        trunking, "_lanes_and_ids_portable", lambda pairs, count: (trunking.load_lanes(pairs), list(range(count)))
    )
    portable = reference.load(BODIES)

    assert tables_of(portable) == tables_of(fast)
    assert tables_of(fast) == {
        "ServiceLevel": {"2MAN-ROC": (ServiceLevel.objects.get(code="2MAN-ROC").pk, True, None)},
        "StockLocation": {code: (refs[code].pk, True, None) for code in ("MAN", "LDS")},
        "DeliveryMethod": {
            code: (DeliveryMethod.objects.get(code=code).pk, active, depot)
            for code, active, depot in [
                ("BHM-VANS", True, "BHM"),
                ("LDS-VANS", True, "LDS"),
                ("GONE-VANS", False, "BHM"),
                ("MAN-VANS", True, "MAN"),
            ]
        },
    }
    # Both bring the lanes the orders' lines need and one movement id per (order, lane) to move.
    assert fast.prepared.lanes == {(refs["MAN"].pk, refs["BHM"].pk): 2, (refs["LDS"].pk, refs["BHM"].pk): 3}
    assert len(fast.prepared.movement_ids) == 1
    needed = {lane: days for lane, days in fast.prepared.lanes.items() if lane in portable.prepared.lanes}
    assert portable.prepared.lanes == needed and needed
    assert len(portable.prepared.movement_ids) == 1


def test_the_statement_is_planned_once_per_connection_and_answers_each_call_afresh(refs, django_assert_num_queries):
    with django_assert_num_queries(1):
        first = reference.load(BODIES)
    StockLocation.objects.filter(code="LDS").update(active=False)
    with django_assert_num_queries(1):
        second = reference.load(BODIES)

    assert tables_of(first)["StockLocation"]["LDS"][1] is True
    assert tables_of(second)["StockLocation"]["LDS"][1] is False
    assert second.prepared.movement_ids != first.prepared.movement_ids
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%%row_to_json%%'")
        assert cursor.fetchone()[0] == 1


SQLITE_CREATE = """
import json
from django.core.management import call_command
from django.test import Client
from orders.models import ApiClient, DeliveryMethod, Lane, Order, ServiceLevel, StockLocation, StockMovement

call_command("migrate", verbosity=0)
bhm = StockLocation.objects.create(code="BHM", name="Birmingham", line1="1 Way", postal_code="B1 1AA", country="GB")
man = StockLocation.objects.create(code="MAN", name="Manchester", line1="2 Way", postal_code="M1 1AA", country="GB")
DeliveryMethod.objects.create(code="BHM-VANS", name="Birmingham vans", depot=bhm)
Lane.objects.create(from_location=man, to_location=bhm, transit_days=2)
ServiceLevel.objects.create(code="2MAN-ROC", name="Two-man", default_unload_minutes=20)
client = ApiClient(name="dev", scopes=["orders:read", "orders:write"])
key = client.set_new_key()
client.save()
body = {
    "order_no": "SO-SQLITE-1",
    "customer": {"name": "Ann Smith", "mobile": "07700900123"},
    "address": {"line1": "1 High Street", "town": "Birmingham", "postal_code": "B2 4QA", "country": "GB"},
    "service_level": "2MAN-ROC",
    "required_date": "2099-01-10",
    "lines": [{"line_no": 1, "sku": "SOFA", "quantity": 1, "stock_location": "MAN", "delivery_method": "BHM-VANS"}],
}
api = Client(headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "sqlite-1"})
first = api.post("/api/v1/orders/", json.dumps(body), content_type="application/json")
again = api.post("/api/v1/orders/", json.dumps(body), content_type="application/json")
unknown = api.post(
    "/api/v1/orders/", json.dumps({**body, "order_no": "SO-SQLITE-2", "service_level": "NOPE"}),
    content_type="application/json", headers={"Idempotency-Key": "sqlite-2"},
)
print(json.dumps({
    "first": first.status_code, "again": again.status_code, "replayed": again.headers.get("Idempotent-Replayed"),
    "movements": [m["from_location"] + ">" + m["to_location"] for m in first.json()["movements"]],
    "unknown": unknown.status_code, "unknown_errors": sorted(unknown.json().get("errors", {})),
    "orders": Order.objects.count(), "stored_movements": StockMovement.objects.count(),
}))
"""


def test_an_order_is_created_through_the_api_on_sqlite(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'dev.sqlite3'}",
        "CACHE_URL": "locmem://",
        "CELERY_BROKER_URL": "memory://",
        "DJANGO_SETTINGS_MODULE": "stream_portal.settings",
        "SECRET_KEY": "x",
    }
    script = "import django; django.setup()\n" + SQLITE_CREATE
    run = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=300
    )

    assert run.returncode == 0, run.stderr[-3000:]
    import json

    assert json.loads(run.stdout.splitlines()[-1]) == {
        "first": 201,
        "again": 201,
        "replayed": "true",
        "movements": ["MAN>BHM"],
        "unknown": 400,
        "unknown_errors": ["service_level"],
        "orders": 1,
        "stored_movements": 1,
    }
