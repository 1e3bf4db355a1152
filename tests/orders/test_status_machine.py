"""The order status machine (docs/status-machine.md): the graph itself, and the services that walk it on real orders."""

from datetime import timedelta
from itertools import product

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from orders import services
from orders.domain import (
    EDITABLE_STATUSES,
    MOVEMENT_TRANSITIONS,
    TRANSITIONS,
    Actor,
    OrderError,
    StaleEvent,
    TransitionNotAllowed,
    can_transition,
    derive_order_status,
)
from orders.models import (
    DeliveryMethod,
    Order,
    OrderGroup,
    OrderLine,
    OutboxEvent,
    StatusChange,
    StockLocation,
    StockMovement,
)
from tests.conftest import line, reload

SYSTEM = Actor.system()
PLANNER = Actor.for_inbound("route-planner")
STATUSES = [s.value for s in Order.Status]

# docs/status-machine.md, written out by hand: the graph the code must implement.
ALLOWED = {
    ("awaiting_stock", "ready"),
    ("awaiting_stock", "cancelled"),
    ("ready", "awaiting_stock"),
    ("ready", "planned"),
    ("ready", "cancelled"),
    ("planned", "ready"),
    ("planned", "awaiting_stock"),
    ("planned", "planned"),
    ("planned", "in_progress"),
    ("planned", "cancelled"),
    ("in_progress", "completed"),
    ("in_progress", "failed"),
    ("failed", "awaiting_stock"),
    ("failed", "ready"),
    ("failed", "planned"),
    ("failed", "cancelled"),
}


def transition_id(pair):
    current, target = pair
    return f"{current}->{target}:{'allowed' if pair in ALLOWED else 'refused'}"


# --- The graph ----------------------------------------------------------------------------------


def test_the_graph_names_every_status_and_nothing_else():
    assert set(TRANSITIONS) == set(STATUSES)
    assert all(targets <= set(STATUSES) for targets in TRANSITIONS.values())
    assert TRANSITIONS[Order.Status.COMPLETED] == set()
    assert TRANSITIONS[Order.Status.CANCELLED] == set()


@pytest.mark.parametrize("pair", list(product(STATUSES, STATUSES)), ids=transition_id)
def test_each_transition_is_allowed_exactly_when_the_spec_allows_it(pair):
    current, target = pair

    assert can_transition(current, target) is (pair in ALLOWED)


MOVEMENT_STATUSES = [s.value for s in StockMovement.Status]
# The movement graph written out by hand: pending → dispatched → received, or pending → cancelled.
MOVEMENT_ALLOWED = {("pending", "dispatched"), ("pending", "cancelled"), ("dispatched", "received")}


@pytest.mark.parametrize(
    "pair",
    list(product(MOVEMENT_STATUSES, MOVEMENT_STATUSES)),
    ids=lambda p: f"{p[0]}->{p[1]}:{'allowed' if p in MOVEMENT_ALLOWED else 'refused'}",
)
def test_each_movement_transition_is_allowed_exactly_when_the_graph_allows_it(pair):
    current, target = pair

    assert set(MOVEMENT_TRANSITIONS) == set(MOVEMENT_STATUSES)
    assert (target in MOVEMENT_TRANSITIONS[current]) is (pair in MOVEMENT_ALLOWED)


def test_lines_are_editable_exactly_while_awaiting_stock_ready_planned_or_failed():
    assert {"awaiting_stock", "ready", "planned", "failed"} == EDITABLE_STATUSES


DERIVED = [
    pytest.param(["ready"], "ready", id="single-ready"),
    pytest.param(["awaiting_stock"], "awaiting_stock", id="single-awaiting"),
    pytest.param(["ready", "ready"], "ready", id="all-ready"),
    pytest.param(["ready", "awaiting_stock"], "awaiting_stock", id="one-leg-awaiting-stock"),
    pytest.param(["ready", "planned"], "ready", id="one-leg-planned-one-ready"),
    pytest.param(["planned", "planned"], "planned", id="all-planned"),
    pytest.param(["planned", "cancelled"], "planned", id="cancelled-legs-are-ignored"),
    pytest.param(["planned", "in_progress"], "in_progress", id="one-leg-under-way"),
    pytest.param(["completed", "planned"], "in_progress", id="one-leg-done-one-to-do"),
    pytest.param(["completed", "awaiting_stock"], "in_progress", id="one-leg-done-one-awaiting-stock"),
    pytest.param(["completed", "completed"], "completed", id="all-completed"),
    pytest.param(["completed", "cancelled"], "completed", id="completed-and-cancelled"),
    pytest.param(["failed", "planned"], "failed", id="one-leg-failed"),
    pytest.param(["failed", "completed"], "failed", id="one-failed-one-completed"),
    pytest.param(["failed", "in_progress"], "in_progress", id="under-way-beats-failed"),
    pytest.param(["cancelled", "cancelled"], "cancelled", id="all-cancelled"),
]


@pytest.mark.parametrize(("groups", "expected"), DERIVED)
def test_an_orders_status_is_derived_from_its_groups(groups, expected):
    assert derive_order_status(groups) == expected


# --- Orders in each status ----------------------------------------------------------------------


def plan(route="R-1"):
    return {"planned_date": "2030-03-05", "route_ref": route, "driver": "Dee"}


@pytest.fixture
def order_in(make_order):
    """Make an order and walk it, through the services, to the status asked for."""

    def make(status, order_no="SO-1"):
        if status == "awaiting_stock":
            return make_order(order_no, lines=[line(1, "MAN")])
        order = make_order(order_no, lines=[line(1, quantity=3), line(2, quantity=2)])
        if status == "cancelled":
            services.cancel_order(order, actor=SYSTEM)
        if status in ("planned", "in_progress", "completed", "failed"):
            services.plan_order(order, actor=PLANNER, plan=plan())
        if status in ("in_progress", "completed", "failed"):
            services.start_order(order, actor=PLANNER)
        if status == "completed":
            services.complete_order(order, actor=PLANNER, pod={"signed_by": "Ann"})
        if status == "failed":
            services.fail_order(order, actor=PLANNER, reason_code="NOT-HOME")
        order = Order.objects.get(pk=order.pk)
        assert order.status == status
        return order

    return make


def snapshot(order):
    """Everything a refused change must leave untouched."""
    order = reload(order)
    return {
        "order": {
            f: getattr(order, f)
            for f in (
                "status",
                "status_changed_at",
                "version",
                "attempt_count",
                "failure_reason_id",
                "pod",
                "earliest_delivery_date",
                "updated_at",
            )
        },
        "groups": list(OrderGroup.objects.filter(order=order).order_by("sequence").values("status", "plan")),
        "lines": list(
            OrderLine.objects.filter(order=order)
            .order_by("line_no")
            .values("line_no", "quantity", "stock_location_id", "delivery_method_id", "delivered_quantity")
        ),
        "movements": list(StockMovement.objects.filter(order=order).order_by("id").values("status")),
        "history": StatusChange.objects.filter(order=order).count(),
        "outbox": OutboxEvent.objects.count(),
    }


def last_order_history(order):
    row = StatusChange.objects.filter(order=order, subject="order").latest("at", "id")
    return (row.previous_status, row.status, row.actor_kind, row.actor_label, row.note)


# --- Walking the graph through the services -----------------------------------------------------

MOVES = {
    "planned": lambda order: services.plan_order(order, actor=PLANNER, plan=plan("R-2")),
    "in_progress": lambda order: services.start_order(order, actor=PLANNER),
    "completed": lambda order: services.complete_order(order, actor=PLANNER, pod={"signed_by": "Ann"}),
    "failed": lambda order: services.fail_order(order, actor=PLANNER, reason_code="NOT-HOME"),
    "cancelled": lambda order: services.cancel_order(order, actor=PLANNER),
}
SERVICE_PAIRS = list(product(STATUSES, MOVES))


@pytest.mark.parametrize("pair", [p for p in SERVICE_PAIRS if p in ALLOWED], ids=transition_id)
def test_a_service_moves_the_order_along_an_allowed_transition(order_in, pair):
    current, target = pair
    order = order_in(current)

    MOVES[target](order)

    after = reload(order)
    assert after.status == target
    assert after.version == order.version + 1
    if current != target:
        assert last_order_history(order)[:4] == (current, target, "inbound_source", "route-planner")
    else:
        assert OrderGroup.objects.get(order=order).plan == plan("R-2")


@pytest.mark.parametrize("pair", [p for p in SERVICE_PAIRS if p not in ALLOWED], ids=transition_id)
def test_a_service_refuses_a_transition_outside_the_graph_and_changes_nothing(order_in, pair):
    current, target = pair
    order = order_in(current)
    before = snapshot(order)

    with pytest.raises(TransitionNotAllowed) as caught:
        MOVES[target](order)

    assert caught.value.code == "transition_not_allowed"
    current_label, target_label = Order.Status(current).label.lower(), Order.Status(target).label.lower()
    assert caught.value.message == f"The order is {current_label}; it cannot become {target_label} from there."
    assert snapshot(order) == before


def test_completing_a_ready_order_is_refused_and_changes_nothing(order_in):
    order = order_in("ready")
    before = snapshot(order)

    with pytest.raises(TransitionNotAllowed, match="The order is ready to plan; it cannot become completed"):
        services.complete_order(order, actor=PLANNER, pod={"signed_by": "Ann"}, delivered_lines={1: 1})

    assert snapshot(order) == before
    assert list(OrderLine.objects.filter(order=order).values_list("delivered_quantity", flat=True)) == [None, None]


def test_a_failed_order_can_be_planned_again_and_keeps_its_attempt_count(order_in):
    order = order_in("failed")

    services.plan_order(order, actor=PLANNER, plan=plan("R-9"))

    order = reload(order)
    assert (order.status, order.attempt_count) == ("planned", 1)
    assert OrderGroup.objects.get(order=order).plan == plan("R-9")


# Transitions that happen because stock arrives or lines change, not by a status command.


def test_receiving_the_stock_takes_an_order_from_awaiting_stock_to_ready(order_in):
    order = order_in("awaiting_stock")
    reference = StockMovement.objects.get(order=order).reference
    services.dispatch_movement(reference, actor=SYSTEM)

    services.receive_movement(reference, actor=SYSTEM)

    assert reload(order).status == "ready"
    assert last_order_history(order)[:3] == ("awaiting_stock", "ready", "system")


def test_a_new_line_needing_stock_takes_a_ready_order_back_to_awaiting_stock(order_in, depots):
    order = order_in("ready")
    new_line = {
        **line(3),
        "stock_location": depots["MAN"],
        "delivery_method": DeliveryMethod.objects.get(code="BHM-VANS"),
    }

    services.update_order(order, actor=SYSTEM, lines=[new_line])

    assert reload(order).status == "awaiting_stock"
    assert last_order_history(order) == (
        "ready",
        "awaiting_stock",
        "system",
        "system",
        "Waiting for stock to reach the depot.",
    )


OFF_PLAN = [
    pytest.param("planned", {"line_no": 1, "quantity": 5}, "ready", id="planned-quantity-change-back-to-ready"),
    pytest.param("planned", {"line_no": 1, "stock_location": "MAN"}, "awaiting_stock", id="planned-needs-stock"),
    pytest.param("failed", {"line_no": 2, "quantity": 1}, "ready", id="failed-quantity-change-back-to-ready"),
    pytest.param("failed", {"line_no": 2, "stock_location": "LDS"}, "awaiting_stock", id="failed-needs-stock"),
]


@pytest.mark.parametrize(("status", "change", "expected"), OFF_PLAN)
def test_a_line_change_takes_the_order_off_its_plan_with_a_note_saying_why(order_in, alice, status, change, expected):
    order = order_in(status)
    if "stock_location" in change:
        change = {**change, "stock_location": StockLocation.objects.get(code=change["stock_location"])}

    services.update_order(order, actor=Actor.for_client(alice[0]), lines=[change])

    after = reload(order)
    assert (after.status, after.version) == (expected, order.version + 1)
    assert OrderGroup.objects.get(order=order).plan is None
    assert last_order_history(order) == (
        status,
        expected,
        "api_client",
        "alice-erp",
        f"Taken off its plan: the {status} order was changed by api_client:alice-erp.",
    )


def test_an_address_change_takes_a_planned_order_off_its_plan(order_in):
    order = order_in("planned")

    services.update_order(order, actor=SYSTEM, fields={"postal_code": "B3 1AA"})

    assert reload(order).status == "ready"
    assert OrderGroup.objects.get(order=order).postal_code == "B3 1AA"
    assert last_order_history(order)[4] == "Taken off its plan: the planned order was changed by system."


def test_a_driver_notes_change_keeps_a_planned_order_on_its_plan(order_in):
    order = order_in("planned")

    services.update_order(order, actor=SYSTEM, fields={"driver_notes": "Ring twice"})

    after = reload(order)
    assert (after.status, after.driver_notes, after.version) == ("planned", "Ring twice", order.version + 1)
    assert OrderGroup.objects.get(order=order).plan == plan()


@pytest.mark.parametrize("status", ["in_progress", "completed", "cancelled"])
def test_line_changes_are_refused_once_an_order_is_under_way_or_finished(order_in, status):
    order = order_in(status)
    before = snapshot(order)

    with pytest.raises(OrderError) as caught:
        services.update_order(order, actor=SYSTEM, lines=[{"line_no": 1, "quantity": 9}])

    assert caught.value.code == "not_editable"
    label = Order.Status(status).label.lower()
    assert caught.value.message == (f"The order is {label}; its lines, address and time window can no longer change.")
    assert snapshot(order) == before


# --- Late events --------------------------------------------------------------------------------


def test_an_event_older_than_the_last_status_change_is_stale_and_changes_nothing(order_in):
    order = order_in("planned")
    planned_at = OrderGroup.objects.get(order=order).status_changed_at
    before = snapshot(order)

    with pytest.raises(StaleEvent) as caught:
        services.start_order(order, actor=PLANNER, occurred_at=planned_at - timedelta(seconds=1))

    assert caught.value.code == "stale"
    assert "too old to apply" in caught.value.message
    assert snapshot(order) == before


def test_a_late_in_progress_event_never_moves_a_completed_order_backwards(order_in):
    order = order_in("completed")
    completed_at = OrderGroup.objects.get(order=order).status_changed_at
    before = snapshot(order)

    with pytest.raises(StaleEvent):
        services.start_order(order, actor=PLANNER, occurred_at=completed_at - timedelta(minutes=5))

    assert snapshot(order) == before


def test_an_event_that_happened_after_the_last_status_change_applies(order_in):
    order = order_in("planned")

    services.start_order(order, actor=PLANNER, occurred_at=timezone.now())

    assert reload(order).status == "in_progress"


# --- Failure reasons ----------------------------------------------------------------------------


@pytest.mark.parametrize("reason_code", ["NO-SUCH-REASON", "OLD"], ids=["unknown-reason", "inactive-reason"])
def test_failing_needs_an_active_failure_reason(order_in, reason_code):
    order = order_in("in_progress")
    before = snapshot(order)

    with pytest.raises(ValidationError) as caught:
        services.fail_order(order, actor=PLANNER, reason_code=reason_code)

    assert caught.value.message_dict == {"reason_code": [f"{reason_code!r} is not an active failure reason."]}
    assert snapshot(order) == before


def test_failing_records_the_reason_and_counts_the_attempt(order_in):
    order = order_in("in_progress")

    services.fail_order(order, actor=PLANNER, reason_code="NOT-HOME", notes="Nobody in")

    after = reload(order)
    assert (after.status, after.failure_reason.code, after.attempt_count) == ("failed", "NOT-HOME", 1)
    assert last_order_history(order)[4] == "NOT-HOME: Customer not at home — Nobody in"


# --- Version and attempts -----------------------------------------------------------------------


def test_the_version_rises_by_one_on_every_change_and_not_on_a_no_op(order_in):
    order = order_in("ready")
    versions = [reload(order).version]

    def step(call):
        call()
        versions.append(reload(order).version)

    step(lambda: services.update_order(order, actor=SYSTEM, fields={"driver_notes": "Side door"}))
    step(lambda: services.update_order(order, actor=SYSTEM, fields={"driver_notes": "Side door"}))
    step(lambda: services.update_order(order, actor=SYSTEM, lines=[{"line_no": 1, "quantity": 3}]))
    step(lambda: services.plan_order(order, actor=PLANNER, plan=plan("R-1")))
    step(lambda: services.plan_order(order, actor=PLANNER, plan=plan("R-2")))
    step(lambda: services.start_order(order, actor=PLANNER))
    step(lambda: services.fail_order(order, actor=PLANNER, reason_code="NOT-HOME"))
    step(lambda: services.plan_order(order, actor=PLANNER, plan=plan("R-3")))
    step(lambda: services.start_order(order, actor=PLANNER))
    step(lambda: services.complete_order(order, actor=PLANNER, pod={"signed_by": "Ann"}))

    assert versions == [1, 2, 2, 2, 3, 4, 5, 6, 7, 8, 9]


def test_planning_a_planned_order_again_with_the_same_plan_changes_nothing(order_in):
    order = order_in("planned")
    before = snapshot(order)

    services.plan_order(order, actor=PLANNER, plan=plan())

    assert snapshot(order) == before


def test_a_refused_change_leaves_the_version_alone(order_in):
    order = order_in("planned")

    with pytest.raises(TransitionNotAllowed):
        services.complete_order(order, actor=PLANNER)

    assert reload(order).version == order.version


def test_the_attempt_count_rises_on_each_completion_or_failure(order_in):
    order = order_in("in_progress")
    assert order.attempt_count == 0

    services.fail_order(order, actor=PLANNER, reason_code="NOT-HOME")
    assert reload(order).attempt_count == 1
    services.plan_order(order, actor=PLANNER, plan=plan("R-2"))
    services.start_order(order, actor=PLANNER)
    assert reload(order).attempt_count == 1

    services.complete_order(order, actor=PLANNER, pod={"signed_by": "Ann"})

    assert reload(order).attempt_count == 2


def test_a_completion_with_delivered_lines_records_a_partial_delivery(order_in):
    order = order_in("in_progress")

    services.complete_order(
        order, actor=PLANNER, pod={"signed_by": "Ann", "notes": "One chair damaged"}, delivered_lines={1: 2}
    )

    after = reload(order)
    assert (after.status, after.pod) == ("completed", {"signed_by": "Ann", "notes": "One chair damaged"})
    assert dict(OrderLine.objects.filter(order=order).values_list("line_no", "delivered_quantity")) == {1: 2, 2: 2}


@pytest.mark.parametrize(
    ("delivered", "message"),
    [
        pytest.param({1: 4}, "Line 1: more delivered than ordered.", id="more-than-ordered"),
        pytest.param({7: 1}, "Line 7 is not on this order or leg.", id="unknown-line"),
    ],
)
def test_a_completion_with_impossible_delivered_lines_is_refused_and_changes_nothing(order_in, delivered, message):
    order = order_in("in_progress")
    before = snapshot(order)

    with pytest.raises(ValidationError) as caught:
        services.complete_order(order, actor=PLANNER, delivered_lines=delivered)

    assert caught.value.message_dict == {"lines": [message]}
    assert snapshot(order) == before


# --- Multi orders -------------------------------------------------------------------------------


@pytest.fixture
def multi_order(make_order):
    def leg(sequence, lines):
        return {
            "sequence": sequence,
            "group_type": "delivery",
            "lines": lines,
            "address": {"line1": f"{sequence} Leg Road", "postal_code": "B2 4QA", "country": "GB"},
        }

    order = make_order(
        "SO-MULTI", order_type="multi", lines=[], groups=[leg(1, [line(1)]), leg(2, [line(2, quantity=2)])]
    )
    services.plan_order(order, actor=PLANNER, plan=plan())
    return reload(order)


def group_statuses(order):
    return dict(OrderGroup.objects.filter(order=order).values_list("sequence", "status"))


def test_completing_a_whole_multi_order_in_one_call_is_one_attempt_with_each_legs_proof(multi_order):
    services.start_order(multi_order, actor=PLANNER)
    services.complete_order(multi_order, actor=PLANNER, pod={"signed_by": "Ann"}, delivered_lines={2: 1})

    after = reload(multi_order)
    assert (after.status, after.attempt_count) == ("completed", 1)
    assert after.pod == {"legs": [{"signed_by": "Ann", "sequence": 1}, {"signed_by": "Ann", "sequence": 2}]}
    assert dict(after.lines.values_list("line_no", "delivered_quantity")) == {1: 1, 2: 1}


def test_a_multi_order_is_in_progress_while_one_leg_is_done_and_completed_when_both_are(multi_order):
    assert (multi_order.status, group_statuses(multi_order)) == ("planned", {1: "planned", 2: "planned"})

    services.start_order(multi_order, actor=PLANNER, sequence=1)
    assert (reload(multi_order).status, group_statuses(multi_order)) == (
        "in_progress",
        {1: "in_progress", 2: "planned"},
    )

    services.complete_order(multi_order, actor=PLANNER, sequence=1, pod={"signed_by": "Ann"})
    assert (reload(multi_order).status, group_statuses(multi_order)) == ("in_progress", {1: "completed", 2: "planned"})

    services.start_order(multi_order, actor=PLANNER, sequence=2)
    services.complete_order(multi_order, actor=PLANNER, sequence=2, pod={"signed_by": "Bo"})

    after = reload(multi_order)
    assert (after.status, group_statuses(multi_order)) == ("completed", {1: "completed", 2: "completed"})
    # Each leg keeps its own proof of delivery.
    assert after.pod == {"legs": [{"signed_by": "Ann", "sequence": 1}, {"signed_by": "Bo", "sequence": 2}]}
    assert after.attempt_count == 2
    group_history = StatusChange.objects.filter(order=multi_order, subject="group").order_by("at", "id")
    assert [(row.group.sequence, row.previous_status, row.status) for row in group_history] == [
        (1, "ready", "planned"),
        (2, "ready", "planned"),
        (1, "planned", "in_progress"),
        (1, "in_progress", "completed"),
        (2, "planned", "in_progress"),
        (2, "in_progress", "completed"),
    ]


def test_a_leg_of_a_multi_order_refuses_a_transition_outside_the_graph(multi_order):
    before = snapshot(multi_order)

    with pytest.raises(TransitionNotAllowed) as caught:
        services.complete_order(multi_order, actor=PLANNER, sequence=2)

    assert caught.value.message == "The leg is planned; it cannot become completed from there."
    assert snapshot(multi_order) == before


def test_a_completion_of_a_whole_multi_order_takes_delivered_lines_of_every_leg(multi_order):
    services.start_order(multi_order, actor=PLANNER)

    services.complete_order(multi_order, actor=PLANNER, delivered_lines={2: 1})

    assert reload(multi_order).status == "completed"
    assert dict(OrderLine.objects.filter(order=multi_order).values_list("line_no", "delivered_quantity")) == {
        1: 1,
        2: 1,
    }


def test_cancelling_a_multi_order_cancels_every_leg(multi_order):
    services.cancel_order(multi_order, actor=SYSTEM, note="Customer moved house")

    assert (reload(multi_order).status, group_statuses(multi_order)) == ("cancelled", {1: "cancelled", 2: "cancelled"})
    assert last_order_history(multi_order) == ("planned", "cancelled", "system", "system", "Customer moved house")


def test_a_multi_order_with_one_leg_delivered_can_no_longer_be_cancelled(multi_order):
    services.start_order(multi_order, actor=PLANNER, sequence=1)
    services.complete_order(multi_order, actor=PLANNER, sequence=1)
    before = snapshot(multi_order)

    with pytest.raises(TransitionNotAllowed):
        services.cancel_order(multi_order, actor=SYSTEM)

    assert snapshot(multi_order) == before
