"""The outbox (docs/webhooks.md): which events each change records, what they carry, and when they are announced."""

import ast
from datetime import date
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

import orders
from orders import events, services
from orders.domain import Actor, OrderError, TransitionNotAllowed
from orders.models import DeliveryMethod, Order, OutboxEvent, StockLocation, StockMovement
from orders.representation import movement_dict, order_dict
from tests.conftest import line, reload

SYSTEM = Actor.system()
PLANNER = Actor.for_inbound("route-planner")
PLAN = {"planned_date": "2030-03-05", "route_ref": "R-1"}


def movement_of(order, from_code):
    return StockMovement.objects.exclude(status="cancelled").get(order=order, from_location__code=from_code)


def recorded_by(call):
    """Run `call` and return the outbox rows it wrote, in order."""
    last = OutboxEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    call()
    return list(OutboxEvent.objects.filter(id__gt=last).order_by("id"))


# Each scenario prepares an order with `make_order` and returns (order, the change to make).


def created_ready(make_order):
    return None, lambda: make_order("SO-NEW")


def created_with_movements(make_order):
    return None, lambda: make_order("SO-NEW", lines=[line(1, "MAN"), line(2, "LDS"), line(3, "MAN")])


def header_update(make_order):
    order = make_order()
    return order, lambda: services.update_order(order, actor=SYSTEM, fields={"driver_notes": "Ring twice"})


def line_change_changing_status(make_order):
    order = make_order()
    later = date(2099, 1, 1)
    return order, lambda: services.update_order(order, actor=SYSTEM, lines=[{"line_no": 1, "on_hand_date": later}])


def line_change_needing_a_movement(make_order):
    order = make_order()
    man = StockLocation.objects.get(code="MAN")
    return order, lambda: services.update_order(order, actor=SYSTEM, lines=[{"line_no": 1, "stock_location": man}])


def line_change_replacing_a_movement(make_order):
    order = make_order(lines=[line(1, "MAN")])
    return order, lambda: services.update_order(order, actor=SYSTEM, lines=[{"line_no": 1, "quantity": 4}])


def fleet_change_removing_a_movement(make_order):
    order = make_order(lines=[line(1, "MAN")])
    fleet = DeliveryMethod.objects.get(code="MAN-VANS")
    return order, lambda: services.update_order(order, actor=SYSTEM, lines=[{"line_no": 1, "delivery_method": fleet}])


def no_op_update(make_order):
    order = make_order(lines=[line(1, "MAN")])
    return order, lambda: services.update_order(
        order, actor=SYSTEM, fields={"customer_name": "Ann Smith"}, lines=[{"line_no": 1, "quantity": 1}]
    )


def planning(make_order):
    order = make_order()
    return order, lambda: services.plan_order(order, actor=PLANNER, plan=PLAN)


def re_planning(make_order):
    order = make_order()
    services.plan_order(order, actor=PLANNER, plan=PLAN)
    return order, lambda: services.plan_order(order, actor=PLANNER, plan={**PLAN, "route_ref": "R-2"})


def starting(make_order):
    order = make_order()
    services.plan_order(order, actor=PLANNER, plan=PLAN)
    return order, lambda: services.start_order(order, actor=PLANNER)


def completion(make_order):
    order, start = starting(make_order)
    start()
    return order, lambda: services.complete_order(order, actor=PLANNER, pod={"signed_by": "Ann"})


def failure(make_order):
    order, start = starting(make_order)
    start()
    return order, lambda: services.fail_order(order, actor=PLANNER, reason_code="NOT-HOME")


def cancellation_with_a_pending_movement(make_order):
    order = make_order(lines=[line(1, "MAN"), line(2, "LDS")])
    services.dispatch_movement(movement_of(order, "MAN").reference, actor=SYSTEM)
    return order, lambda: services.cancel_order(order, actor=SYSTEM)


def dispatch(make_order):
    order = make_order(lines=[line(1, "MAN")])
    return order, lambda: services.dispatch_movement(movement_of(order, "MAN").reference, actor=SYSTEM)


def receipt_of_one_of_two_movements(make_order):
    order = make_order(lines=[line(1, "MAN"), line(2, "LDS")])
    for code in ("MAN", "LDS"):
        services.dispatch_movement(movement_of(order, code).reference, actor=SYSTEM)
    return order, lambda: services.receive_movement(movement_of(order, "MAN").reference, actor=SYSTEM)


def receipt_of_the_last_movement(make_order):
    order = make_order(lines=[line(1, "MAN")])
    services.dispatch_movement(movement_of(order, "MAN").reference, actor=SYSTEM)
    return order, lambda: services.receive_movement(movement_of(order, "MAN").reference, actor=SYSTEM)


def release_on_the_on_hand_date(make_order):
    order = make_order(lines=[{**line(1), "on_hand_date": "2099-01-01"}])
    return order, lambda: services.release_due_orders(on=reload(order).earliest_delivery_date)


def multi_leg_completed_while_the_other_is_still_to_do(make_order):
    def leg(sequence):
        return {
            "sequence": sequence,
            "group_type": "delivery",
            "lines": [line(sequence)],
            "address": {"line1": "1 Leg Road", "postal_code": "B2 4QA", "country": "GB"},
        }

    order = make_order("SO-MULTI", order_type="multi", lines=[], groups=[leg(1), leg(2)])
    services.plan_order(order, actor=PLANNER, plan=PLAN)
    services.start_order(order, actor=PLANNER, sequence=1)
    return order, lambda: services.complete_order(order, actor=PLANNER, sequence=1)


CREATED, UPDATED, STATUS = "order.created", "order.updated", "order.status_changed"
MV_CREATED, MV_STATUS = "stock_movement.created", "stock_movement.status_changed"

# The order.* events come first, then the movement events (orders.events.record).
CHANGES = [
    pytest.param(created_ready, [CREATED], id="create"),
    pytest.param(created_with_movements, [CREATED, MV_CREATED, MV_CREATED], id="create-with-two-movements"),
    pytest.param(header_update, [UPDATED], id="header-update"),
    pytest.param(line_change_changing_status, [UPDATED, STATUS], id="line-change-changing-status"),
    pytest.param(line_change_needing_a_movement, [UPDATED, STATUS, MV_CREATED], id="line-change-needing-movement"),
    pytest.param(line_change_replacing_a_movement, [UPDATED, MV_CREATED, MV_STATUS], id="line-change-new-movement"),
    pytest.param(fleet_change_removing_a_movement, [UPDATED, STATUS, MV_STATUS], id="fleet-change-no-movement"),
    pytest.param(no_op_update, [], id="no-op-update"),
    pytest.param(planning, [STATUS], id="plan"),
    pytest.param(re_planning, [UPDATED], id="re-plan"),
    pytest.param(starting, [STATUS], id="start"),
    pytest.param(completion, [STATUS, "order.completed"], id="complete"),
    pytest.param(failure, [STATUS, "order.failed"], id="fail"),
    pytest.param(cancellation_with_a_pending_movement, [STATUS, "order.cancelled", MV_STATUS], id="cancel"),
    pytest.param(dispatch, [MV_STATUS], id="dispatch"),
    pytest.param(receipt_of_one_of_two_movements, [MV_STATUS], id="receive-not-last"),
    pytest.param(receipt_of_the_last_movement, [STATUS, MV_STATUS], id="receive-last"),
    pytest.param(release_on_the_on_hand_date, [STATUS], id="release-due-order"),
    pytest.param(multi_leg_completed_while_the_other_is_still_to_do, [UPDATED], id="multi-leg-completed"),
]


@pytest.mark.parametrize(("scenario", "expected"), CHANGES)
def test_each_change_records_exactly_its_events_each_carrying_the_order_after_the_change(
    make_order, scenario, expected
):
    order, change = scenario(make_order)

    rows = recorded_by(change)

    assert [row.type for row in rows] == expected
    order = order or Order.objects.get(order_no="SO-NEW")
    current = order_dict(Order.objects.get(pk=order.pk))
    assert current["version"] == reload(order).version
    for row in rows:
        assert row.order_id == order.pk
        if row.type.startswith("order."):
            assert row.movement_id is None
            data = current
        else:
            data = movement_dict(StockMovement.objects.get(pk=row.movement_id))
        assert row.payload == {"type": row.type, "timestamp": row.occurred_at.isoformat(), "data": data}


def test_the_events_of_one_change_share_one_timestamp(make_order):
    rows = recorded_by(lambda: make_order(lines=[line(1, "MAN"), line(2, "LDS")]))

    assert len({row.occurred_at for row in rows}) == 1
    assert len(rows) == 3


def test_a_cancellation_announces_each_cancelled_movement_once(make_order):
    order = make_order(lines=[line(1, "MAN"), line(2, "LDS"), line(3, "MAN", delivery_method="LDS-VANS")])

    rows = recorded_by(lambda: services.cancel_order(order, actor=SYSTEM))

    movement_rows = [row for row in rows if row.type == MV_STATUS]
    assert sorted(row.movement_id for row in movement_rows) == sorted(
        StockMovement.objects.filter(order=order).values_list("id", flat=True)
    )
    assert {row.payload["data"]["status"] for row in movement_rows} == {"cancelled"}


def test_each_event_of_an_orders_life_carries_the_version_it_produced(make_order):
    order = make_order(lines=[line(1, "MAN")])
    reference = movement_of(order, "MAN").reference
    services.dispatch_movement(reference, actor=SYSTEM)
    services.receive_movement(reference, actor=SYSTEM)
    services.plan_order(order, actor=PLANNER, plan=PLAN)
    services.start_order(order, actor=PLANNER)
    services.complete_order(order, actor=PLANNER)

    order_rows = OutboxEvent.objects.filter(order=order, movement=None).order_by("id")

    assert [(row.type, row.payload["data"]["version"], row.payload["data"]["status"]) for row in order_rows] == [
        ("order.created", 1, "awaiting_stock"),
        ("order.status_changed", 3, "ready"),
        ("order.status_changed", 4, "planned"),
        ("order.status_changed", 5, "in_progress"),
        ("order.status_changed", 6, "completed"),
        ("order.completed", 6, "completed"),
    ]


# --- Failed and rolled-back changes record nothing ----------------------------------------------


def refused_line_change(make_order):
    order = make_order()
    services.plan_order(order, actor=PLANNER, plan=PLAN)
    services.start_order(order, actor=PLANNER)
    return order, lambda: services.update_order(order, actor=SYSTEM, lines=[{"line_no": 1, "quantity": 2}])


def refused_transition(make_order):
    order = make_order()
    return order, lambda: services.complete_order(order, actor=PLANNER)


def refused_failure_reason(make_order):
    order = make_order()
    services.plan_order(order, actor=PLANNER, plan=PLAN)
    services.start_order(order, actor=PLANNER)
    return order, lambda: services.fail_order(order, actor=PLANNER, reason_code="OLD")


REFUSED = [
    pytest.param(refused_line_change, OrderError, id="line-change-on-order-in-progress"),
    pytest.param(refused_transition, TransitionNotAllowed, id="completion-of-ready-order"),
    pytest.param(refused_failure_reason, ValidationError, id="inactive-failure-reason"),
]


@pytest.mark.parametrize(("scenario", "error"), REFUSED)
def test_a_refused_change_records_no_events(make_order, scenario, error):
    order, attempt = scenario(make_order)
    before = list(OutboxEvent.objects.values_list("id", flat=True))
    version = reload(order).version

    with pytest.raises(error):
        attempt()

    assert list(OutboxEvent.objects.values_list("id", flat=True)) == before
    assert reload(order).version == version


def test_a_change_refused_because_its_movement_was_dispatched_records_no_events(make_order):
    order = make_order(lines=[line(1, "MAN")])
    services.dispatch_movement(movement_of(order, "MAN").reference, actor=SYSTEM)
    before = list(OutboxEvent.objects.values_list("id", flat=True))

    with pytest.raises(OrderError) as caught:
        services.update_order(order, actor=SYSTEM, lines=[{"line_no": 1, "quantity": 5}])

    assert caught.value.code == "movement_dispatched"
    assert list(OutboxEvent.objects.values_list("id", flat=True)) == before


def test_a_change_rolled_back_with_its_transaction_records_no_events(make_order):
    order = make_order()
    before = list(OutboxEvent.objects.values_list("id", flat=True))

    with pytest.raises(RuntimeError), transaction.atomic():
        services.update_order(order, actor=SYSTEM, fields={"driver_notes": "Ring twice"})
        services.plan_order(order, actor=PLANNER, plan=PLAN)
        assert OutboxEvent.objects.count() == len(before) + 2
        raise RuntimeError("the caller gave up")

    assert list(OutboxEvent.objects.values_list("id", flat=True)) == before
    after = reload(order)
    assert (after.status, after.version, after.driver_notes) == ("ready", 1, "")


def test_the_201_answer_of_a_create_is_its_order_created_data_and_what_a_read_gives(alice_api, depots, monkeypatch):
    from orders import representation

    renders = []
    render = representation.order_dict
    monkeypatch.setattr(representation, "order_dict", lambda order: renders.append(order) or render(order))
    body = {
        "order_no": "SO-ANSWER",
        "customer": {"name": "Ann Smith", "mobile": "07700900123"},
        "address": {"line1": "1 High Street", "town": "Birmingham", "postal_code": "B2 4QA", "country": "GB"},
        "service_level": "2MAN-ROC",
        "required_date": "2099-01-10",
        "lines": [line(1, "MAN"), line(2, "BHM")],
    }
    answer = alice_api.post("/api/v1/orders/", body, headers={"Idempotency-Key": "answer-1"})
    assert answer.status_code == 201
    assert renders == []  # rendered once, for the event (events.py holds its own order_dict)

    created = OutboxEvent.objects.get(order__order_no="SO-ANSWER", type="order.created")
    assert answer.json() == created.payload["data"]
    assert answer.json() == alice_api.get("/api/v1/orders/SO-ANSWER/").json()
    assert answer.json()["movements"] and answer["ETag"] == f'"{answer.json()["version"]}"'


def test_an_order_changed_after_its_create_event_is_rendered_afresh(make_order):
    from orders import representation

    order = make_order("SO-CHANGED", lines=[line(1, "MAN")])
    order.version += 1
    order.driver_notes = "changed in memory after the event"
    assert representation.created_dict(order)["driver_notes"] == "changed in memory after the event"


# --- The signal, after commit -------------------------------------------------------------------


@pytest.fixture
def announced():
    """Every `event_recorded` announcement, as the list of event ids it carried."""
    calls = []

    def receiver(sender, event_ids, **kwargs):
        calls.append((sender, list(event_ids)))

    events.event_recorded.connect(receiver, weak=False)
    yield calls
    events.event_recorded.disconnect(receiver)


def test_events_are_announced_once_after_commit_with_their_ids(
    make_order, announced, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(lines=[line(1, "MAN")])
        assert announced == []

    ids = list(OutboxEvent.objects.filter(order=order).order_by("id").values_list("id", flat=True))
    assert len(ids) == 2
    assert announced == [(OutboxEvent, ids)]


def test_each_committed_change_is_announced_on_its_own(make_order, announced, django_capture_on_commit_callbacks):
    order = make_order()
    known = set(OutboxEvent.objects.values_list("id", flat=True))

    with django_capture_on_commit_callbacks(execute=True):
        services.plan_order(order, actor=PLANNER, plan=PLAN)
        services.start_order(order, actor=PLANNER)

    plan_row, start_row = OutboxEvent.objects.exclude(id__in=known).order_by("id")
    assert announced == [(OutboxEvent, [plan_row.id]), (OutboxEvent, [start_row.id])]


def test_nothing_is_announced_when_the_transaction_rolls_back(
    make_order, announced, django_capture_on_commit_callbacks
):
    order = make_order()

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.update_order(order, actor=SYSTEM, fields={"driver_notes": "Ring twice"})
        raise RuntimeError("the caller gave up")

    assert callbacks == []
    assert announced == []


def test_nothing_is_announced_for_a_change_that_changes_nothing(
    make_order, announced, django_capture_on_commit_callbacks
):
    order = make_order()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.update_order(order, actor=SYSTEM, fields={"driver_notes": ""})

    assert callbacks == []
    assert announced == []


def test_nothing_is_announced_for_a_refused_change(make_order, announced, django_capture_on_commit_callbacks):
    order = make_order()

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(TransitionNotAllowed):
        services.start_order(order, actor=PLANNER)

    assert callbacks == []
    assert announced == []


# --- The ground floor reaches up to nothing -----------------------------------------------------

FORBIDDEN = ("celery", "requests", "httpx", "urllib3", "http.client", "webhooks")


def forbidden_imports(source, filename="<source>"):
    """(line, module) for every import of a forbidden module in `source`."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            modules = [str(node.args[0].value)]
        else:
            continue
        bad = [m for m in modules if any(m == name or m.startswith(f"{name}.") for name in FORBIDDEN)]
        if bad:
            found.append((node.lineno, bad[0]))
    return found


@pytest.mark.parametrize(
    "source",
    [
        "import celery",
        "from celery import shared_task",
        "import requests",
        "from httpx import Client",
        "import urllib3.util",
        "import http.client",
        "from http import client",
        "from webhooks.tasks import deliver",
        "def f():\n    from webhooks import services",
        "import importlib\nimportlib.import_module('celery')",
    ],
)
def test_the_import_check_spots_a_forbidden_import(source):
    assert len(forbidden_imports(source)) == 1


def test_the_orders_app_imports_no_celery_no_http_client_and_not_the_webhooks_app():
    root = Path(orders.__file__).parent
    files = sorted(root.rglob("*.py"))
    assert root / "services.py" in files and root / "api" / "views.py" in files

    found = {
        str(path.relative_to(root)): hits for path in files if (hits := forbidden_imports(path.read_text(), str(path)))
    }

    assert found == {}


DOMAIN_MODULES = [
    "models.py",
    "domain.py",
    "identifiers.py",
    "addresses.py",
    "trunking.py",
    "services.py",
    "events.py",
    "representation.py",
]


def api_imports(source, filename="<source>"):
    """(line, module) for every import of orders.api (absolute, or relative from the orders package)."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            absolute = node.level == 0 and (module == "orders.api" or module.startswith("orders.api."))
            relative = node.level == 1 and (module == "api" or module.startswith("api."))
            if absolute or relative or (node.level == 1 and not module and any(a.name == "api" for a in node.names)):
                found.append((node.lineno, module or "api"))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("orders.api")]
    return found


@pytest.mark.parametrize("source", ["from .api import views", "from .api.serializers import X", "from . import api"])
def test_the_api_import_check_spots_an_import_of_the_api(source):
    assert len(api_imports(source)) == 1


def test_the_domain_imports_nothing_from_its_api():
    root = Path(orders.__file__).parent

    found = {name: hits for name in DOMAIN_MODULES if (hits := api_imports((root / name).read_text(), name))}

    assert found == {}
