"""The status moves (plan, start, complete, fail) as the field sends them: each event carries the
order exactly as `order_dict` reads it back, on PostgreSQL's one-statement path and on the path every
other database takes (SQLite for bin/run), which must behave the same (docs/performance.md)."""

import pytest

from orders import representation, services
from orders.domain import Actor, OrderError
from orders.models import Order, OrderGroup, OutboxEvent, StatusChange, StockMovement
from orders.representation import order_dict
from tests.conftest import line, make_client, reload

from .test_events import CHANGES, recorded_by

PLANNER = Actor.for_inbound("route-planner")
PLAN = {"planned_date": "2030-03-05", "route_ref": "R-1"}


@pytest.fixture(params=["postgresql", "fallback"])
def path(request, monkeypatch):
    """Each test twice: PostgreSQL's statements, then the portable ones (as on SQLite)."""
    if request.param == "fallback":
        monkeypatch.setattr(services, "_postgres", lambda: False)
        monkeypatch.setattr(representation, "_postgres", lambda: False)
    return request.param


MOVES = ("plan", "re-plan", "start", "complete", "fail", "multi-leg-completed")
STATUS_MOVES = [change for change in CHANGES if change.id in MOVES]


@pytest.mark.parametrize(("scenario", "expected"), STATUS_MOVES)
def test_a_status_move_records_its_events_with_the_order_as_read_back(path, make_order, scenario, expected):
    order, change = scenario(make_order)
    before = StatusChange.objects.filter(order=order).count()

    rows = recorded_by(change)

    assert [row.type for row in rows] == expected
    current = order_dict(Order.objects.get(pk=order.pk))
    for row in rows:
        assert row.payload == {"type": row.type, "timestamp": row.occurred_at.isoformat(), "data": current}
    assert StatusChange.objects.filter(order=order).count() > before or expected == ["order.updated"]


def test_an_order_with_a_movement_a_client_and_a_service_level_renders_the_same(path, make_order, db):
    client, _ = make_client("erp", ["orders:write"])
    order = make_order("SO-MV", client=client, lines=[line(1, "MAN"), line(2, "BHM", quantity=3, weight_kg="12.5")])
    movement = StockMovement.objects.get(order=order)
    services.dispatch_movement(movement.reference, actor=Actor.system())
    services.receive_movement(movement.reference, actor=Actor.system())

    rows = recorded_by(lambda: services.plan_order(order, actor=PLANNER, plan=PLAN))

    assert [row.type for row in rows] == ["order.status_changed"]
    data = rows[0].payload["data"]
    assert data == order_dict(Order.objects.get(pk=order.pk))
    assert data["source"] == "api_client:erp" and data["movements"][0]["lines"]
    assert data["groups"][0]["plan"] == PLAN and data["groups"][0]["status"] == "planned"


def test_a_refused_status_move_writes_nothing(path, make_order):
    order = make_order()
    version = reload(order).version
    events = OutboxEvent.objects.count()

    with pytest.raises(OrderError):
        services.complete_order(order, actor=PLANNER, expected_version=version)  # ready → completed: refused
    with pytest.raises(OrderError):
        services.plan_order(order, actor=PLANNER, plan=PLAN, expected_version=version + 1)  # a stale If-Match

    assert reload(order).version == version and OutboxEvent.objects.count() == events
    assert OrderGroup.objects.get(order=order).status == "ready"


def test_the_same_plan_again_changes_nothing(path, make_order):
    order = make_order()
    services.plan_order(order, actor=PLANNER, plan=PLAN)
    version = reload(order).version

    rows = recorded_by(lambda: services.plan_order(order, actor=PLANNER, plan=PLAN))

    assert rows == [] and reload(order).version == version
