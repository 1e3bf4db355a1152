"""The trunking rule (docs/trunking.md): which stock movements an order's lines need, and what happens to them.

Depots from `depots`: BHM, MAN, LDS, each with a fleet (`<code>-VANS`); lanes MAN→BHM 2 days and
LDS→BHM 3 days; every other pair takes the default of 1 day. "Today" is frozen on a Monday.
"""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import IntegrityError, transaction

from orders import services, trunking
from orders.domain import Actor, OrderError
from orders.models import (
    DeliveryMethod,
    Lane,
    Order,
    OrderGroup,
    OrderLine,
    OutboxEvent,
    StatusChange,
    StockLocation,
    StockMovement,
)
from tests.conftest import day, line, reload

TODAY = date(2030, 3, 4)
SYSTEM = Actor.system()


@pytest.fixture(autouse=True)
def today():
    with time_machine.travel(datetime(2030, 3, 4, 10, 0, tzinfo=ZoneInfo("Europe/London"))):
        yield TODAY


def group(sequence, lines, group_type="delivery"):
    return {
        "sequence": sequence,
        "group_type": group_type,
        "address": {"line1": f"{sequence} Leg Road", "postal_code": "B2 4QA", "country": "GB"},
        "required_date": day(7).isoformat(),
        "lines": lines,
    }


def location(code):
    return StockLocation.objects.get(code=code)


def fleet(code):
    return DeliveryMethod.objects.get(code=code)


def movements_of(order):
    """Every movement of the order, oldest first, as plain values."""
    return [
        {
            "lane": f"{m.from_location.code}→{m.to_location.code}",
            "status": m.status,
            "ship_date": m.ship_date,
            "due_date": m.due_date,
            "lines": {ml.line_no: ml.quantity for ml in m.lines.all()},
        }
        for m in StockMovement.objects.filter(order=order).select_related("from_location", "to_location").order_by("id")
    ]


def pending(lane, ship_date, due_date, lines):
    return {"lane": lane, "status": "pending", "ship_date": ship_date, "due_date": due_date, "lines": lines}


def movement(order, lane, status=None):
    """The one movement of `order` on `lane` (e.g. "MAN→BHM"), optionally with a given status."""
    from_code, to_code = lane.split("→")
    qs = StockMovement.objects.filter(order=order, from_location__code=from_code, to_location__code=to_code)
    if status:
        qs = qs.filter(status=status)
    return qs.get()


def snapshot(order):
    """Everything a refused change must leave untouched."""
    order = Order.objects.get(pk=order.pk)
    return {
        "status": order.status,
        "version": order.version,
        "earliest_delivery_date": order.earliest_delivery_date,
        "movements": movements_of(order),
        "lines": list(
            OrderLine.objects.filter(order=order)
            .order_by("line_no")
            .values("line_no", "quantity", "stock_location__code", "delivery_method__code", "on_hand_date")
        ),
        "history": StatusChange.objects.filter(order=order).count(),
        "outbox": OutboxEvent.objects.count(),
    }


# --- The rule as a table ------------------------------------------------------------------------

# (stock location, fleet, on-hand offset, order type) → (movement or None, status, earliest delivery offset)
# where a movement is (lane, ship offset, due offset).
RULE_TABLE = [
    pytest.param("BHM", "BHM-VANS", 0, "delivery", None, "ready", 0, id="stock-at-fleet-depot-needs-no-movement"),
    pytest.param("MAN", "MAN-VANS", 0, "delivery", None, "ready", 0, id="stock-at-other-fleets-own-depot"),
    pytest.param("MAN", "BHM-VANS", 0, "delivery", ("MAN→BHM", 0, 2), "awaiting_stock", 2, id="man-to-bhm-lane-2-days"),
    pytest.param("LDS", "BHM-VANS", 0, "delivery", ("LDS→BHM", 0, 3), "awaiting_stock", 3, id="lds-to-bhm-lane-3-days"),
    pytest.param("BHM", "LDS-VANS", 0, "delivery", ("BHM→LDS", 0, 1), "awaiting_stock", 1, id="no-lane-defaults-1-day"),
    pytest.param(
        "BHM", "MAN-VANS", 0, "delivery", ("BHM→MAN", 0, 1), "awaiting_stock", 1, id="reverse-of-a-lane-is-1-day"
    ),
    pytest.param(
        "MAN", "BHM-VANS", 5, "delivery", ("MAN→BHM", 5, 7), "awaiting_stock", 7, id="future-on-hand-ships-that-day"
    ),
    pytest.param(
        "MAN", "BHM-VANS", -3, "delivery", ("MAN→BHM", 0, 2), "awaiting_stock", 2, id="past-on-hand-ships-today"
    ),
    pytest.param("BHM", "BHM-VANS", 4, "delivery", None, "awaiting_stock", 4, id="future-on-hand-without-movement"),
    pytest.param("BHM", "BHM-VANS", -2, "delivery", None, "ready", -2, id="past-on-hand-without-movement"),
    pytest.param("MAN", "BHM-VANS", 0, "collection", None, "ready", 0, id="collection-never-moves-stock"),
    pytest.param("LDS", "MAN-VANS", 0, "collection", None, "ready", 0, id="collection-without-lane-never-moves"),
]


@pytest.mark.parametrize(("stock", "fleet_code", "on_hand", "order_type", "expected", "status", "earliest"), RULE_TABLE)
def test_the_trunking_rule_for_one_line(make_order, stock, fleet_code, on_hand, order_type, expected, status, earliest):
    order = make_order(order_type=order_type, lines=[line(1, stock, fleet_code, quantity=2, on_hand_date=day(on_hand))])

    if expected is None:
        assert movements_of(order) == []
    else:
        lane, ship, due = expected
        assert movements_of(order) == [pending(lane, day(ship), day(due), {1: 2})]
    order = reload(order)
    assert order.status == status
    assert order.earliest_delivery_date == day(earliest)


# --- Creating orders ----------------------------------------------------------------------------


def test_an_order_whose_stock_is_at_its_fleets_depot_is_ready_with_no_movement(make_order):
    order = reload(make_order(lines=[line(1, "BHM", "BHM-VANS")]))

    assert movements_of(order) == []
    assert order.status == Order.Status.READY
    assert order.earliest_delivery_date == TODAY
    assert list(order.groups.values_list("status", flat=True)) == ["ready"]


def test_stock_at_another_depot_gets_one_movement_on_the_lane_due_after_its_transit_days(make_order):
    order = reload(make_order(lines=[line(1, "MAN", "BHM-VANS", quantity=3)]))

    assert movements_of(order) == [pending("MAN→BHM", TODAY, TODAY + timedelta(days=2), {1: 3})]
    moved = movement(order, "MAN→BHM")
    assert moved.reference == f"MV-{moved.pk:06d}"
    assert order.status == Order.Status.AWAITING_STOCK
    assert order.earliest_delivery_date == moved.due_date == date(2030, 3, 6)


def test_a_pair_of_depots_without_a_lane_takes_one_transit_day(make_order):
    order = reload(make_order(lines=[line(1, "BHM", "LDS-VANS")]))

    assert movements_of(order) == [pending("BHM→LDS", TODAY, day(1), {1: 1})]
    assert order.earliest_delivery_date == day(1)
    assert order.status == Order.Status.AWAITING_STOCK


def test_lines_on_two_lanes_get_two_movements_and_the_latest_due_date_counts(make_order):
    order = reload(make_order(lines=[line(1, "MAN", "BHM-VANS"), line(2, "LDS", "BHM-VANS", quantity=4)]))

    assert movements_of(order) == [
        pending("MAN→BHM", TODAY, day(2), {1: 1}),
        pending("LDS→BHM", TODAY, day(3), {2: 4}),
    ]
    assert order.earliest_delivery_date == day(3)


def test_lines_on_the_same_lane_share_one_movement_shipped_when_the_last_is_on_hand(make_order):
    order = reload(
        make_order(
            lines=[
                line(1, "MAN", "BHM-VANS", quantity=2),
                line(2, "BHM", "BHM-VANS"),
                line(3, "MAN", "BHM-VANS", quantity=5, on_hand_date=day(1)),
            ]
        )
    )

    assert movements_of(order) == [pending("MAN→BHM", day(1), day(3), {1: 2, 3: 5})]
    assert order.earliest_delivery_date == day(3)


def test_a_future_on_hand_date_holds_the_order_back_even_without_trunking(make_order):
    order = reload(make_order(lines=[line(1, "BHM", "BHM-VANS", on_hand_date=day(4))]))

    assert movements_of(order) == []
    assert order.status == Order.Status.AWAITING_STOCK
    assert order.earliest_delivery_date == day(4)


def test_a_future_on_hand_date_sets_the_movements_ship_date(make_order):
    order = reload(make_order(lines=[line(1, "LDS", "BHM-VANS", on_hand_date=day(10))]))

    assert movements_of(order) == [pending("LDS→BHM", day(10), day(13), {1: 1})]
    assert order.earliest_delivery_date == day(13)


def test_a_collection_order_never_creates_movements(make_order):
    order = reload(make_order(order_type="collection", lines=[line(1, "MAN", "BHM-VANS"), line(2, "LDS", "MAN-VANS")]))

    assert movements_of(order) == []
    assert order.status == Order.Status.READY
    assert OutboxEvent.objects.filter(type=OutboxEvent.Type.MOVEMENT_CREATED).count() == 0


# --- Changing lines -----------------------------------------------------------------------------


def test_changing_a_lines_fleet_cancels_the_pending_movement_and_makes_one_to_the_new_depot(make_order):
    order = make_order(lines=[line(1, "MAN", "BHM-VANS")])

    services.update_order(order, actor=SYSTEM, lines=[{"line_no": 1, "delivery_method": fleet("LDS-VANS")}])

    assert movements_of(order) == [
        {**pending("MAN→BHM", TODAY, day(2), {1: 1}), "status": "cancelled"},
        pending("MAN→LDS", TODAY, day(1), {1: 1}),
    ]
    assert reload(order).earliest_delivery_date == day(1)
    assert reload(order).status == Order.Status.AWAITING_STOCK


def test_changing_a_lines_fleet_to_the_stocks_own_depot_cancels_the_movement_and_readies_the_order(make_order):
    order = make_order(lines=[line(1, "MAN", "BHM-VANS")])

    services.update_order(order, actor=SYSTEM, lines=[{"line_no": 1, "delivery_method": fleet("MAN-VANS")}])

    assert [m["status"] for m in movements_of(order)] == ["cancelled"]
    order = reload(order)
    assert order.status == Order.Status.READY
    assert order.earliest_delivery_date == TODAY


def test_changing_a_lines_stock_location_replaces_its_movement(make_order):
    order = make_order(lines=[line(1, "MAN", "BHM-VANS", quantity=2)])

    services.update_order(order, actor=SYSTEM, lines=[{"line_no": 1, "stock_location": location("LDS")}])

    assert movements_of(order) == [
        {**pending("MAN→BHM", TODAY, day(2), {1: 2}), "status": "cancelled"},
        pending("LDS→BHM", TODAY, day(3), {1: 2}),
    ]
    assert reload(order).earliest_delivery_date == day(3)


def test_changing_a_lines_quantity_replaces_the_pending_movement_with_the_new_quantity(make_order):
    order = make_order(lines=[line(1, "MAN", "BHM-VANS", quantity=2), line(2, "MAN", "BHM-VANS", quantity=1)])
    old = movement(order, "MAN→BHM")

    services.update_order(order, actor=SYSTEM, lines=[{"line_no": 1, "quantity": 6}])

    assert movements_of(order) == [
        {**pending("MAN→BHM", TODAY, day(2), {1: 2, 2: 1}), "status": "cancelled"},
        pending("MAN→BHM", TODAY, day(2), {1: 6, 2: 1}),
    ]
    new = movement(order, "MAN→BHM", status="pending")
    assert new.reference != old.reference


def test_changing_a_lines_on_hand_date_re_dates_its_movement_either_way(make_order):
    order = make_order(lines=[line(1, "MAN", "BHM-VANS", on_hand_date=day(5))])

    services.update_order(order, actor=SYSTEM, lines=[{"line_no": 1, "on_hand_date": day(8)}])
    services.update_order(order, actor=SYSTEM, lines=[{"line_no": 1, "on_hand_date": day(1)}])

    assert movements_of(order) == [
        {**pending("MAN→BHM", day(5), day(7), {1: 1}), "status": "cancelled"},
        {**pending("MAN→BHM", day(8), day(10), {1: 1}), "status": "cancelled"},
        pending("MAN→BHM", day(1), day(3), {1: 1}),
    ]
    assert reload(order).earliest_delivery_date == day(3)


def test_a_change_a_day_later_keeps_the_movement_made_yesterday(make_order):
    order = make_order(lines=[line(1, "MAN", "BHM-VANS")])
    before = movements_of(order)

    with time_machine.travel(datetime(2030, 3, 5, 9, 0, tzinfo=ZoneInfo("Europe/London"))):
        services.update_order(order, actor=SYSTEM, lines=[{"line_no": 1, "description": "Blue sofa"}])

    assert movements_of(order) == before == [pending("MAN→BHM", TODAY, day(2), {1: 1})]


def test_a_movement_made_for_an_earlier_day_is_kept_by_the_next_line_change(depots):
    # The demo seeder creates back-dated orders with on=<order date>: their movements ship that day.
    order = services.create_order(
        actor=SYSTEM,
        fields={
            "order_no": "SO-OLD",
            "customer_name": "Ann Smith",
            "line1": "1 High St",
            "postal_code": "B2 4QA",
            "country": "GB",
        },
        lines=[
            {
                "line_no": 1,
                "sku": "SOFA",
                "quantity": 1,
                "stock_location": location("MAN"),
                "delivery_method": fleet("BHM-VANS"),
                "on_hand_date": day(-4),
            }
        ],
        on=day(-3),
    )
    assert movements_of(order) == [pending("MAN→BHM", day(-3), day(-1), {1: 1})]

    services.update_order(order, actor=SYSTEM, lines=[{"line_no": 1, "description": "Grey sofa"}])

    assert movements_of(order) == [pending("MAN→BHM", day(-3), day(-1), {1: 1})]
    assert StockMovement.objects.filter(order=order).count() == 1


def test_running_the_rule_twice_changes_nothing(make_order):
    order = make_order(lines=[line(1, "MAN", "BHM-VANS"), line(2, "LDS", "BHM-VANS"), line(3, "BHM", "BHM-VANS")])
    before = snapshot(order)

    order = Order.objects.select_for_update().get(pk=order.pk)
    first = trunking.apply(order)
    second = trunking.apply(order)

    assert (first.created, first.cancelled) == ([], [])
    assert (second.created, second.cancelled) == ([], [])
    assert order.earliest_delivery_date == day(3)
    assert snapshot(order) == before


def test_an_update_with_identical_values_changes_nothing(make_order):
    order = make_order(lines=[line(1, "MAN", "BHM-VANS", quantity=2), line(2, "LDS", "BHM-VANS")])
    before = snapshot(order)

    services.update_order(
        order,
        actor=SYSTEM,
        fields={"customer_name": "Ann Smith"},
        lines=[
            {"line_no": 1, "quantity": 2, "stock_location": location("MAN"), "delivery_method": fleet("BHM-VANS")},
            {"line_no": 2, "stock_location": location("LDS"), "on_hand_date": TODAY},
        ],
    )

    assert snapshot(order) == before
    assert reload(order).version == 1


def test_a_lane_whose_transit_days_changed_re_dates_the_pending_movement_at_the_next_change(make_order):
    order = make_order(lines=[line(1, "MAN", "BHM-VANS")])
    old = movement(order, "MAN→BHM")
    Lane.objects.filter(from_location__code="MAN", to_location__code="BHM").update(transit_days=5)

    services.update_order(order, actor=SYSTEM, lines=[{"line_no": 1, "description": "Blue sofa"}])

    assert movements_of(order) == [
        {**pending("MAN→BHM", TODAY, day(2), {1: 1}), "status": "cancelled"},
        pending("MAN→BHM", TODAY, day(5), {1: 1}),
    ]
    assert reload(order).earliest_delivery_date == day(5)
    old.refresh_from_db()
    assert (old.status, old.version) == ("cancelled", 2)


def test_a_change_to_an_order_trunked_between_depots_without_a_lane_keeps_its_movement(make_order):
    order = make_order(lines=[line(1, "BHM", "LDS-VANS"), line(2, "BHM", "MAN-VANS")])
    before = movements_of(order)

    services.update_order(order, actor=SYSTEM, lines=[{"line_no": 1, "description": "Blue sofa"}])

    assert (
        movements_of(order)
        == before
        == [
            pending("BHM→LDS", TODAY, day(1), {1: 1}),
            pending("BHM→MAN", TODAY, day(1), {2: 1}),
        ]
    )
    assert reload(order).earliest_delivery_date == day(1)


def test_a_movement_the_rule_cancels_gets_a_new_version_for_if_match(make_order):
    order = make_order(lines=[line(1, "MAN", "BHM-VANS")])
    old = movement(order, "MAN→BHM")
    assert old.version == 1

    services.update_order(order, actor=SYSTEM, lines=[{"line_no": 1, "quantity": 2}])

    old.refresh_from_db()
    assert (old.status, old.version) == ("cancelled", 2)
    assert movement(order, "MAN→BHM", status="pending").version == 1


def test_an_order_never_has_two_pending_movements_on_one_lane(make_order):
    # The rule keeps at most one pending movement per lane; the database holds it to that.
    order = make_order(lines=[line(1, "MAN", "BHM-VANS")])
    first = movement(order, "MAN→BHM")

    with pytest.raises(IntegrityError), transaction.atomic():
        StockMovement.objects.create(
            order=order,
            from_location=first.from_location,
            to_location=first.to_location,
            ship_date=TODAY,
            due_date=day(2),
        )

    assert StockMovement.objects.filter(order=order).count() == 1


# --- Dispatched and received movements are frozen -----------------------------------------------


@pytest.fixture
def dispatched_order(make_order):
    """An order whose line 1 is on a dispatched MAN→BHM movement; line 2 is BHM stock."""
    order = make_order(lines=[line(1, "MAN", "BHM-VANS", quantity=2), line(2, "BHM", "BHM-VANS")])
    services.dispatch_movement(movement(order, "MAN→BHM").reference, actor=SYSTEM)
    return reload(order)


@pytest.fixture
def received_order(dispatched_order):
    """The same order once its MAN→BHM movement was received."""
    services.receive_movement(movement(dispatched_order, "MAN→BHM").reference, actor=SYSTEM)
    return reload(dispatched_order)


FROZEN_CHANGES = [
    pytest.param(lambda: [{"line_no": 1, "quantity": 3}], False, id="quantity"),
    pytest.param(lambda: [{"line_no": 1, "stock_location": location("LDS")}], False, id="stock-location"),
    pytest.param(lambda: [{"line_no": 1, "delivery_method": fleet("MAN-VANS")}], False, id="fleet"),
    pytest.param(lambda: [{"line_no": 2}], True, id="removal"),
]


@pytest.mark.parametrize("state", ["dispatched", "received"])
@pytest.mark.parametrize(("lines", "replace"), FROZEN_CHANGES)
def test_a_change_to_a_line_on_a_dispatched_or_received_movement_is_refused_and_changes_nothing(
    request, state, lines, replace
):
    order = request.getfixturevalue(f"{state}_order")
    before = snapshot(order)

    with pytest.raises(OrderError) as caught:
        services.update_order(order, actor=SYSTEM, lines=lines(), replace_lines=replace)

    assert caught.value.code == "movement_dispatched"
    reference = movement(order, "MAN→BHM").reference
    what = "removed" if replace else "quantity, stock location and delivery method can no longer change"
    assert caught.value.message.startswith(
        f"Line 1 (SKU-1) is on stock movement {reference}, which was already {state}"
    )
    assert what in caught.value.message
    assert snapshot(order) == before


def test_a_new_line_on_the_lane_of_a_dispatched_movement_gets_a_second_movement(dispatched_order):
    services.update_order(
        dispatched_order,
        actor=SYSTEM,
        lines=[
            {
                "line_no": 3,
                "sku": "LAMP",
                "quantity": 4,
                "stock_location": location("MAN"),
                "delivery_method": fleet("BHM-VANS"),
            }
        ],
    )

    assert movements_of(dispatched_order) == [
        {**pending("MAN→BHM", TODAY, day(2), {1: 2}), "status": "dispatched"},
        pending("MAN→BHM", TODAY, day(2), {3: 4}),
    ]


def test_other_lines_of_the_order_still_change_while_a_movement_is_dispatched(dispatched_order):
    services.update_order(dispatched_order, actor=SYSTEM, lines=[{"line_no": 2, "quantity": 5}])

    assert OrderLine.objects.get(order=dispatched_order, line_no=2).quantity == 5
    assert movements_of(dispatched_order) == [{**pending("MAN→BHM", TODAY, day(2), {1: 2}), "status": "dispatched"}]
    # The dispatched movement still decides the date, not line 1's on-hand date (today).
    assert reload(dispatched_order).earliest_delivery_date == day(2)


@pytest.mark.parametrize("state", ["dispatched", "received"])
def test_after_a_change_the_earliest_date_still_counts_a_frozen_movements_due_date(request, state):
    order = request.getfixturevalue(f"{state}_order")

    services.update_order(order, actor=SYSTEM, lines=[{"line_no": 2, "on_hand_date": day(1)}])

    order = reload(order)
    assert order.earliest_delivery_date == day(2)
    assert [m["status"] for m in movements_of(order)] == [state]


def test_cancelling_an_order_cancels_its_pending_movements_and_leaves_dispatched_ones(make_order):
    order = make_order(lines=[line(1, "MAN", "BHM-VANS"), line(2, "LDS", "BHM-VANS")])
    services.dispatch_movement(movement(order, "MAN→BHM").reference, actor=SYSTEM)

    services.cancel_order(order, actor=SYSTEM)

    assert [(m["lane"], m["status"]) for m in movements_of(order)] == [
        ("MAN→BHM", "dispatched"),
        ("LDS→BHM", "cancelled"),
    ]
    assert reload(order).status == Order.Status.CANCELLED


# --- Receiving movements ------------------------------------------------------------------------


def test_receiving_the_last_movement_makes_the_order_ready_by_itself(make_order):
    order = make_order(lines=[line(1, "MAN", "BHM-VANS"), line(2, "LDS", "BHM-VANS")])
    man, lds = movement(order, "MAN→BHM"), movement(order, "LDS→BHM")
    for moved in (man, lds):
        services.dispatch_movement(moved.reference, actor=SYSTEM)
    office = Actor.for_inbound("wms")

    services.receive_movement(man.reference, actor=office)
    assert reload(order).status == Order.Status.AWAITING_STOCK

    services.receive_movement(lds.reference, actor=office)

    order = reload(order)
    assert order.status == Order.Status.READY
    last = StatusChange.objects.filter(order=order, subject="order").latest("at", "id")
    assert (last.previous_status, last.status, last.actor_kind, last.actor_label) == (
        "awaiting_stock",
        "ready",
        "system",
        "system",
    )
    assert last.note == f"All stock is at the delivering depot. ({lds.reference} received by inbound_source:wms)"


def test_a_movement_cannot_be_received_before_it_is_dispatched(make_order):
    order = make_order(lines=[line(1, "MAN", "BHM-VANS")])
    reference = movement(order, "MAN→BHM").reference
    before = snapshot(order)

    with pytest.raises(OrderError) as caught:
        services.receive_movement(reference, actor=SYSTEM)

    assert caught.value.code == "transition_not_allowed"
    assert caught.value.message == (f"{reference} has not been dispatched yet; it can only be received after dispatch.")
    assert snapshot(order) == before


def test_a_received_movement_cannot_be_received_or_dispatched_again(make_order):
    order = make_order(lines=[line(1, "MAN", "BHM-VANS")])
    reference = movement(order, "MAN→BHM").reference
    services.dispatch_movement(reference, actor=SYSTEM)
    services.receive_movement(reference, actor=SYSTEM)
    before = snapshot(order)

    for action in (services.receive_movement, services.dispatch_movement):
        with pytest.raises(OrderError) as caught:
            action(reference, actor=SYSTEM)
        assert caught.value.code == "transition_not_allowed"

    assert snapshot(order) == before


# --- The periodic release job -------------------------------------------------------------------


def test_release_due_orders_readies_an_order_on_its_on_hand_date_and_not_before(make_order):
    waiting = make_order("SO-ONHAND", lines=[line(1, "BHM", "BHM-VANS", on_hand_date=day(3))])
    trunked = make_order("SO-TRUNK", lines=[line(1, "MAN", "BHM-VANS")])

    assert services.release_due_orders(on=day(2)) == []
    assert reload(waiting).status == Order.Status.AWAITING_STOCK
    assert reload(waiting).version == 1

    assert services.release_due_orders(on=day(3)) == ["SO-ONHAND"]

    waiting, trunked = reload(waiting), reload(trunked)
    assert (waiting.status, waiting.version) == (Order.Status.READY, 2)
    assert (trunked.status, trunked.version) == (Order.Status.AWAITING_STOCK, 1)
    last = StatusChange.objects.filter(order=waiting, subject="order").latest("at", "id")
    assert (last.previous_status, last.status, last.actor_kind) == ("awaiting_stock", "ready", "system")
    assert last.note == "All stock is at the delivering depot. (on-hand date reached)"


def test_release_due_orders_leaves_an_order_still_waiting_for_its_movement(make_order):
    order = make_order(lines=[line(1, "MAN", "BHM-VANS", on_hand_date=day(1))])
    assert reload(order).earliest_delivery_date == day(3)

    assert services.release_due_orders(on=day(30)) == []

    assert (reload(order).status, reload(order).version) == (Order.Status.AWAITING_STOCK, 1)


def test_release_due_orders_uses_today_by_default(make_order):
    order = make_order(lines=[line(1, "BHM", "BHM-VANS", on_hand_date=day(1))])

    assert services.release_due_orders() == []
    with time_machine.travel(datetime(2030, 3, 5, 6, 0, tzinfo=ZoneInfo("Europe/London"))):
        assert services.release_due_orders() == [order.order_no]

    assert reload(order).status == Order.Status.READY


# --- Multi orders -------------------------------------------------------------------------------


@pytest.fixture
def multi_order(make_order):
    return make_order(
        "SO-MULTI",
        order_type="multi",
        lines=[],
        groups=[
            group(1, [line(1, "MAN", "BHM-VANS")]),
            group(2, [line(2, "MAN", "BHM-VANS", quantity=2), line(3, "LDS", "BHM-VANS")]),
            group(3, [line(4, "MAN", "BHM-VANS")], group_type="collection"),
        ],
    )


def group_statuses(order):
    return dict(OrderGroup.objects.filter(order=order).values_list("sequence", "status"))


def test_a_multi_order_gets_one_movement_per_lane_across_its_groups(multi_order):
    assert movements_of(multi_order) == [
        pending("MAN→BHM", TODAY, day(2), {1: 1, 2: 2}),
        pending("LDS→BHM", TODAY, day(3), {3: 1}),
    ]
    assert group_statuses(multi_order) == {1: "awaiting_stock", 2: "awaiting_stock", 3: "ready"}
    assert reload(multi_order).status == Order.Status.AWAITING_STOCK
    assert reload(multi_order).earliest_delivery_date == day(3)


def test_each_group_of_a_multi_order_follows_its_own_stock(multi_order):
    man, lds = movement(multi_order, "MAN→BHM"), movement(multi_order, "LDS→BHM")
    for moved in (man, lds):
        services.dispatch_movement(moved.reference, actor=SYSTEM)

    services.receive_movement(man.reference, actor=SYSTEM)

    assert group_statuses(multi_order) == {1: "ready", 2: "awaiting_stock", 3: "ready"}
    assert reload(multi_order).status == Order.Status.AWAITING_STOCK

    services.receive_movement(lds.reference, actor=SYSTEM)

    assert group_statuses(multi_order) == {1: "ready", 2: "ready", 3: "ready"}
    assert reload(multi_order).status == Order.Status.READY


# --- Cases found by mutation testing (docs/mutation.md) -----------------------------------------


def test_a_frozen_movement_listed_after_a_pending_one_still_refuses_a_change(make_order):
    order = make_order(lines=[line(1, "MAN", "BHM-VANS"), line(2, "LDS", "BHM-VANS")])
    services.dispatch_movement(movement(order, "LDS→BHM").reference, actor=SYSTEM)  # the later of the two
    before = snapshot(order)

    with pytest.raises(OrderError) as caught:
        services.update_order(reload(order), actor=SYSTEM, lines=[{"line_no": 2, "quantity": 5}])

    assert caught.value.code == "movement_dispatched"
    assert snapshot(order) == before


def test_a_pending_movement_listed_after_a_frozen_one_is_kept(make_order):
    order = make_order(lines=[line(1, "MAN", "BHM-VANS"), line(2, "LDS", "BHM-VANS")])
    services.dispatch_movement(movement(order, "MAN→BHM").reference, actor=SYSTEM)  # the earlier of the two

    services.update_order(reload(order), actor=SYSTEM, lines=[{"line_no": 2, "description": "Blue lamp"}])

    assert movements_of(order) == [
        {**pending("MAN→BHM", TODAY, day(2), {1: 1}), "status": "dispatched"},
        pending("LDS→BHM", TODAY, day(3), {2: 1}),
    ]


def test_a_line_added_on_a_second_lane_gets_a_movement_with_its_reference_sku_and_line(make_order):
    order = make_order(lines=[line(1, "MAN", "BHM-VANS")])

    services.update_order(
        order,
        actor=SYSTEM,
        lines=[
            {
                "line_no": 2,
                "sku": "LAMP",
                "quantity": 3,
                "stock_location": location("LDS"),
                "delivery_method": fleet("BHM-VANS"),
            }
        ],
    )

    assert movements_of(order) == [pending("MAN→BHM", TODAY, day(2), {1: 1}), pending("LDS→BHM", TODAY, day(3), {2: 3})]
    added = movement(order, "LDS→BHM")
    assert added.reference == f"MV-{added.pk:06d}"
    assert list(added.lines.values_list("order_line_id", "line_no", "sku", "quantity")) == [
        (OrderLine.objects.get(order=order, line_no=2).pk, 2, "LAMP", 3)
    ]


def test_a_movement_whose_lines_came_on_hand_earlier_is_re_made_on_the_day_of_the_change(make_order):
    order = make_order(lines=[line(1, "MAN", "BHM-VANS", on_hand_date=day(5))])

    # Six days on, the stock turns out to have been on hand since day 3: the movement made on day 0
    # would have shipped on day 3, not day 5, so it is replaced by one made (and shipped) today.
    with time_machine.travel(datetime(2030, 3, 10, 9, 0, tzinfo=ZoneInfo("Europe/London"))):
        services.update_order(reload(order), actor=SYSTEM, lines=[{"line_no": 1, "on_hand_date": day(3, TODAY)}])

    assert movements_of(order) == [
        {**pending("MAN→BHM", day(5), day(7), {1: 1}), "status": "cancelled"},
        pending("MAN→BHM", day(6), day(8), {1: 1}),
    ]


PREVIEWS = [
    pytest.param("BHM", "BHM-VANS", None, None, id="stock-at-the-fleets-depot"),
    pytest.param("MAN", "BHM-VANS", None, ("MAN", "BHM", 2, 0, 2), id="lane-of-2-days-ships-today"),
    pytest.param("LDS", "BHM-VANS", 4, ("LDS", "BHM", 3, 4, 7), id="future-on-hand-ships-that-day"),
    pytest.param("MAN", "BHM-VANS", -2, ("MAN", "BHM", 2, 0, 2), id="past-on-hand-ships-today"),
    pytest.param("BHM", "LDS-VANS", None, ("BHM", "LDS", 1, 0, 1), id="no-lane-takes-1-day"),
]


@pytest.mark.parametrize(("stock", "fleet_code", "on_hand", "expected"), PREVIEWS)
def test_the_preview_an_office_user_sees_while_choosing(depots, stock, fleet_code, on_hand, expected):
    on_hand_date = None if on_hand is None else day(on_hand)
    result = trunking.preview(location(stock), fleet(fleet_code), on_hand_date)
    if expected is None:
        assert result is None
        return
    from_code, to_code, days, ship, due = expected
    assert result == {
        "from_location": from_code,
        "to_location": to_code,
        "transit_days": days,
        "ship_date": day(ship),
        "due_date": day(due),
    }


def test_the_preview_on_a_given_day_and_without_a_choice(depots):
    assert trunking.preview(location("MAN"), fleet("BHM-VANS"), on=day(10))["ship_date"] == day(10)
    assert trunking.preview(None, fleet("BHM-VANS")) is None
    assert trunking.preview(location("MAN"), None) is None
    assert trunking.transit_days(location("LDS").pk, location("BHM").pk) == 3
    assert trunking.transit_days(location("BHM").pk, location("LDS").pk) == Lane.DEFAULT_TRANSIT_DAYS == 1


def new_lines(*specs):
    """Unsaved lines of a new delivery order, as `plan_new` gets them: (line_no, stock, fleet)."""
    leg = OrderGroup(group_type=OrderGroup.Type.DELIVERY)
    return [
        OrderLine(
            line_no=n,
            sku=f"SKU-{n}",
            quantity=1,
            stock_location=location(s),
            delivery_method=DeliveryMethod.objects.select_related("depot").get(code=f),
            group=leg,
            on_hand_date=TODAY,
        )
        for n, s, f in specs
    ]


def test_plan_new_uses_the_lanes_and_ids_the_caller_already_read(depots, django_assert_num_queries):
    prepared = trunking.Prepared(lanes={(location("MAN").pk, location("BHM").pk): 9}, movement_ids=[41])
    lines = new_lines((1, "MAN", "BHM-VANS"))

    with django_assert_num_queries(0):
        movements, needed, waiting = trunking.plan_new(Order(), lines, prepared=prepared)

    (planned,) = movements.values()
    assert (planned.id, planned.reference, planned.ship_date, planned.due_date) == (41, "MV-000041", TODAY, day(9))
    assert planned.created_at is not None and planned.created_at == planned.updated_at
    assert prepared.movement_ids == []
    assert waiting == lines


def test_plan_new_tops_up_the_id_pool_by_what_is_missing_and_keeps_the_lanes_it_has(depots):
    prepared = trunking.Prepared(lanes={}, movement_ids=[50])
    order = Order()

    movements, _, _ = trunking.plan_new(
        order, new_lines((1, "MAN", "BHM-VANS"), (2, "LDS", "BHM-VANS")), prepared=prepared
    )

    first, second = movements.values()
    assert first.id == 50 and second.id not in (None, 50)
    assert prepared.movement_ids == [] and prepared.lanes == {}
    # The caller's (empty) lanes stand: both movements take the default transit days.
    assert (first.due_date, second.due_date, order.earliest_delivery_date) == (day(1), day(1), day(1))


def test_plan_new_reads_the_lanes_it_lacks_without_taking_ids_it_has(depots):
    prepared = trunking.Prepared(movement_ids=[60])

    movements, _, _ = trunking.plan_new(Order(), new_lines((1, "MAN", "BHM-VANS")), prepared=prepared)

    assert [(m.id, m.due_date) for m in movements.values()] == [(60, day(2))]
    assert prepared.lanes == {(location("MAN").pk, location("BHM").pk): 2}
    assert prepared.movement_ids == []


def test_plan_new_reads_nothing_for_an_order_that_needs_no_movement(depots, django_assert_num_queries):
    prepared = trunking.Prepared()
    lines = new_lines((1, "BHM", "BHM-VANS"))
    order = Order()

    with django_assert_num_queries(0):
        movements, needed, waiting = trunking.plan_new(order, lines, prepared=prepared)

    assert (movements, needed, waiting, prepared.lanes) == ({}, {}, [], None)
    assert order.earliest_delivery_date == TODAY
