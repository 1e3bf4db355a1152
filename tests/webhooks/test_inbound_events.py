"""POST /webhooks/inbound/<source>/ applies status events from the field through the order services.

Each event type is sent as the fixture of a real payload, signed with the `standardwebhooks` package.
"""

from datetime import UTC, datetime, timedelta

import pytest

from orders import services
from orders.domain import Actor
from orders.models import Order, OrderLine, OutboxEvent, StatusChange, StockMovement
from tests.conftest import line, reload
from webhooks.models import InboundEvent

from .inbound_helpers import make_source, payload

SYSTEM = Actor.system()
# 1 High Street, Birmingham (the order's known position) and points near and far from it.
HOME = {"lat": "52.479700", "lng": "-1.898600"}
NEXT_DOOR = {"lat": 52.4799, "lng": -1.8989}  # 30 m away
COVENTRY = {"lat": 52.4068, "lng": -1.5197}  # about 27 km away


def ready_order(make_order, order_no="SO-1", **overrides):
    return make_order(order_no, **overrides)


def planned_order(make_order, planner, order_no="SO-1", **overrides):
    order = make_order(order_no, **overrides)
    assert planner.send("order_planned", order_no=order_no).status_code == 200
    return reload(order)


def in_progress_order(make_order, planner, order_no="SO-1", **overrides):
    order = planned_order(make_order, planner, order_no, **overrides)
    assert planner.send("order_in_progress", order_no=order_no).status_code == 200
    return reload(order)


def history(order):
    return list(
        StatusChange.objects.filter(order=order, subject="order")
        .order_by("id")
        .values_list("previous_status", "status", "actor_kind", "actor_label")
    )


def outbox_types(order):
    return list(OutboxEvent.objects.filter(order=order).order_by("id").values_list("type", flat=True))


def snapshot(order):
    """Everything an event could change, to show that a refused one changed nothing."""
    order = reload(order)
    return {
        "order": (order.status, order.version, order.attempt_count, order.pod, order.failure_reason_id),
        "groups": list(order.groups.order_by("sequence").values("status", "plan")),
        "lines": list(OrderLine.objects.filter(order=order).order_by("line_no").values("delivered_quantity")),
        "movements": list(StockMovement.objects.filter(order=order).order_by("id").values("status", "version")),
        "history": StatusChange.objects.filter(order=order).count(),
        "outbox": OutboxEvent.objects.filter(order=order).count(),
    }


# --- Each event type -----------------------------------------------------------------------------


def test_order_planned_puts_the_order_on_its_route(make_order, planner):
    order = ready_order(make_order)
    response = planner.send("order_planned", webhook_id="msg_plan_1")

    assert response.status_code == 200
    assert response.json() == {"result": "applied", "reason": "Order SO-1 planned on route BHM-300305-R01."}
    order = reload(order)
    assert order.status == "planned"
    assert order.version == 2
    assert list(order.groups.values_list("plan", flat=True)) == [
        {
            "planned_date": "2030-03-05",
            "route_ref": "BHM-300305-R01",
            "eta_from": "09:00",
            "eta_to": "11:00",
            "driver": "Dee Okafor",
            "vehicle": "BX71 KTP",
        }
    ]
    assert history(order)[-1] == ("ready", "planned", "inbound_source", "route-planner")
    assert outbox_types(order) == ["order.created", "order.status_changed"]
    event = InboundEvent.objects.get()
    assert (event.webhook_id, event.event_type, event.result, event.response_status, event.order_id) == (
        "msg_plan_1",
        "order.planned",
        "applied",
        200,
        order.pk,
    )
    assert event.reason == "Order SO-1 planned on route BHM-300305-R01."


def test_order_in_progress_starts_a_planned_order(make_order, planner):
    order = planned_order(make_order, planner)
    response = planner.send("order_in_progress")

    assert response.status_code == 200
    assert response.json() == {"result": "applied", "reason": "Order SO-1 in progress."}
    assert reload(order).status == "in_progress"
    assert history(order)[-1] == ("planned", "in_progress", "inbound_source", "route-planner")


def test_order_completed_keeps_the_proof_of_delivery(make_order, planner, alice, alice_api):
    order = in_progress_order(make_order, planner, client=alice[0], address={**HOME, "town": "Birmingham"})
    response = planner.send("order_completed", pod={**payload("order_completed")["data"]["pod"], **NEXT_DOOR})

    assert response.status_code == 200
    assert response.json() == {"result": "applied", "reason": "Order SO-1 completed."}
    order = reload(order)
    assert order.status == "completed"
    assert order.attempt_count == 1
    expected_pod = {
        "signed_by": "Ann Smith",
        "signature_url": "https://driver-app.example.com/pod/7f3a/signature.png",
        "photo_urls": ["https://driver-app.example.com/pod/7f3a/photo-1.jpg"],
        "notes": "Placed in the front room.",
        "lat": 52.4799,
        "lng": -1.8989,
        "completed_at": "2030-03-05T09:36:40+00:00",
        "distance_m": 30,
        "distance_warning": False,
    }
    assert order.pod == expected_pod
    assert list(OrderLine.objects.filter(order=order).values_list("delivered_quantity", flat=True)) == [1]
    assert outbox_types(order)[-2:] == ["order.status_changed", "order.completed"]
    # The office sees the proof, with its distance, through the API.
    status = alice_api.get("/api/v1/orders/SO-1/status/").json()
    assert status["pod"] == expected_pod


def test_a_completion_far_from_the_address_is_flagged_for_the_office(make_order, planner, alice, alice_api):
    in_progress_order(make_order, planner, client=alice[0], address={**HOME, "town": "Birmingham"})
    response = planner.send("order_completed", pod={"signed_by": "A. Smith", **COVENTRY})

    assert response.status_code == 200
    assert response.json() == {
        "result": "applied",
        "reason": "Order SO-1 completed. The completion was far from the address; flagged for the office.",
    }
    pod = alice_api.get("/api/v1/orders/SO-1/status/").json()["pod"]
    assert pod["distance_warning"] is True
    assert 26_000 < pod["distance_m"] < 28_000


def test_the_distance_threshold_comes_from_the_setting(make_order, planner, settings):
    settings.POD_DISTANCE_WARNING_M = 20
    order = in_progress_order(make_order, planner, address={**HOME, "town": "Birmingham"})
    planner.send("order_completed", pod={"signed_by": "Ann", **NEXT_DOOR})
    assert (reload(order).pod["distance_m"], reload(order).pod["distance_warning"]) == (30, True)


def test_a_completion_without_a_known_position_has_no_distance(make_order, planner):
    order = in_progress_order(make_order, planner)  # the address has no lat/lng
    planner.send("order_completed", pod={"signed_by": "Ann", **COVENTRY})
    assert (reload(order).pod["distance_m"], reload(order).pod["distance_warning"]) == (None, False)


def test_a_partial_delivery_records_the_quantity_of_each_line(make_order, planner):
    order = in_progress_order(make_order, planner, lines=[line(1), line(2, quantity=2)])
    response = planner.send("order_completed_partial")

    assert response.status_code == 200
    assert list(
        OrderLine.objects.filter(order=order).order_by("line_no").values_list("line_no", "delivered_quantity")
    ) == [
        (1, 1),
        (2, 1),
    ]
    assert reload(order).pod["notes"] == "One chair damaged in transit, refused."


def test_a_partial_delivery_naming_an_unknown_line_is_refused(make_order, planner):
    order = in_progress_order(make_order, planner)
    before = snapshot(order)
    response = planner.send("order_completed_partial")  # names lines 1 and 2; the order has only 1

    assert response.status_code == 400
    assert response.json() == {"errors": {"data.lines": ["Line 2 is not on this order or leg."]}}
    assert snapshot(order) == before


def test_more_delivered_than_ordered_is_refused(make_order, planner):
    order = in_progress_order(make_order, planner)
    before = snapshot(order)
    response = planner.send("order_completed", lines=[{"line_no": 1, "delivered_quantity": 5}])
    assert response.status_code == 400
    assert response.json() == {"errors": {"data.lines": ["Line 1: more delivered than ordered."]}}
    assert snapshot(order) == before


def test_order_failed_records_the_reason_and_the_attempt(make_order, planner):
    order = in_progress_order(make_order, planner)
    response = planner.send("order_failed")

    assert response.status_code == 200
    assert response.json() == {"result": "applied", "reason": "Order SO-1 failed: NOT-HOME."}
    order = reload(order)
    assert (order.status, order.attempt_count, order.failure_reason.code) == ("failed", 1, "NOT-HOME")
    note = StatusChange.objects.filter(order=order, subject="order").latest("id").note
    assert note == "NOT-HOME: Customer not at home — Carded at 09:50, no answer by phone."
    assert outbox_types(order)[-2:] == ["order.status_changed", "order.failed"]


def test_a_failed_order_can_be_planned_again_by_the_field(make_order, planner):
    order = in_progress_order(make_order, planner)
    planner.send("order_failed")
    response = planner.send("order_planned", planned_date="2030-03-07", route_ref="BHM-300307-R03")
    assert response.json()["result"] == "applied"
    order = reload(order)
    assert (order.status, order.failure_reason_id, order.groups.get().plan["route_ref"]) == (
        "planned",
        None,
        "BHM-300307-R03",
    )


def test_an_unknown_or_retired_failure_reason_is_refused(make_order, planner):
    order = in_progress_order(make_order, planner)
    before = snapshot(order)
    for code in ("NO-SUCH", "OLD"):
        response = planner.send("order_failed", reason_code=code)
        assert response.status_code == 400
        assert response.json() == {"errors": {"data.reason_code": [f"{code!r} is not an active failure reason."]}}
    assert snapshot(order) == before


def test_stock_movements_are_dispatched_then_received_and_the_order_becomes_ready(make_order, planner):
    order = make_order("SO-1", lines=[line(1, stock_location="MAN", delivery_method="BHM-VANS")])
    movement = StockMovement.objects.get(order=order)
    assert reload(order).status == "awaiting_stock"

    response = planner.send("stock_movement_dispatched", reference=movement.reference)
    assert response.json() == {"result": "applied", "reason": f"Stock movement {movement.reference} dispatched."}
    response = planner.send("stock_movement_received", reference=movement.reference)
    assert response.json() == {"result": "applied", "reason": f"Stock movement {movement.reference} received."}

    movement.refresh_from_db()
    assert movement.status == "received"
    assert reload(order).status == "ready"
    actors = set(
        StatusChange.objects.filter(movement=movement, previous_status__in=["pending", "dispatched"]).values_list(
            "actor_kind", "actor_label"
        )
    )
    assert actors == {("inbound_source", "route-planner")}
    assert InboundEvent.objects.filter(order=order, result="applied").count() == 2


def test_receiving_a_movement_not_yet_dispatched_is_ignored(make_order, planner):
    order = make_order("SO-1", lines=[line(1, stock_location="MAN", delivery_method="BHM-VANS")])
    movement = StockMovement.objects.get(order=order)
    before = snapshot(order)
    response = planner.send("stock_movement_received", reference=movement.reference)
    assert response.status_code == 200
    assert response.json() == {
        "result": "ignored",
        "reason": f"{movement.reference} has not been dispatched yet; it can only be received after dispatch.",
    }
    assert snapshot(order) == before


def multi_order(make_order, order_no="SO-M"):
    def leg(sequence, lines):
        return {
            "sequence": sequence,
            "group_type": "delivery",
            "lines": lines,
            "address": {"line1": f"{sequence} Leg Road", "postal_code": "B2 4QA", "country": "GB"},
        }

    return make_order(order_no, order_type="multi", lines=[], groups=[leg(1, [line(1)]), leg(2, [line(2)])])


def test_one_leg_of_a_multi_order_is_planned_and_completed_by_sequence(make_order, planner):
    order = multi_order(make_order)
    response = planner.send("order_planned_leg")
    assert response.json()["result"] == "applied"
    groups = list(reload(order).groups.order_by("sequence").values_list("sequence", "status"))
    assert groups == [(1, "ready"), (2, "planned")]
    assert reload(order).status == "ready"

    planner.send("order_in_progress", order_no="SO-M", sequence=2)
    response = planner.send("order_completed", order_no="SO-M", sequence=2, pod={"signed_by": "Neighbour"})
    assert response.json()["result"] == "applied"
    order = reload(order)
    assert list(order.groups.order_by("sequence").values_list("status", flat=True)) == ["ready", "completed"]
    assert order.pod["legs"][0]["sequence"] == 2
    assert order.pod["legs"][0]["signed_by"] == "Neighbour"


def test_a_leg_that_does_not_exist_is_404(make_order, planner):
    order = multi_order(make_order)
    before = snapshot(order)
    response = planner.send("order_planned_leg", sequence=7)
    assert response.status_code == 404
    assert response.json() == {"detail": "Order SO-M has no group 7."}
    assert snapshot(order) == before


# --- Answers: duplicate, ignored, 404, 400, 413 ---------------------------------------------------


def test_the_same_webhook_id_is_applied_once_and_then_answered_duplicate(make_order, planner):
    order = planned_order(make_order, planner)
    first = planner.send("order_in_progress", webhook_id="msg_start")
    before = snapshot(order)
    again = planner.send("order_in_progress", webhook_id="msg_start")

    assert first.json()["result"] == "applied"
    assert again.status_code == 200
    assert again.json()["result"] == "duplicate"
    assert again.json()["reason"].startswith("webhook-id msg_start was received at ")
    assert again.json()["reason"].endswith(" and applied then.")
    assert snapshot(order) == before
    event = InboundEvent.objects.get(webhook_id="msg_start")
    assert (event.result, event.duplicates) == ("applied", 1)


def test_webhook_ids_are_per_source(make_order, planner):
    order = make_order("SO-1")
    other_source, other_secret = make_source("driver-app")
    from .inbound_helpers import Sender

    driver_app = Sender(other_source, other_secret)
    assert planner.send("order_planned", webhook_id="msg_1").json()["result"] == "applied"
    assert driver_app.send("order_in_progress", webhook_id="msg_1").json()["result"] == "applied"
    assert reload(order).status == "in_progress"


def test_an_event_not_allowed_from_the_current_status_is_ignored_and_stored(make_order, planner):
    order = ready_order(make_order)
    before = snapshot(order)
    response = planner.send("order_completed", webhook_id="msg_early")

    assert response.status_code == 200
    assert response.json() == {
        "result": "ignored",
        "reason": "The order is ready to plan; it cannot become completed from there.",
    }
    assert snapshot(order) == before
    event = InboundEvent.objects.get(webhook_id="msg_early")
    assert (event.result, event.response_status, event.order_id) == ("ignored", 200, order.pk)


@pytest.mark.parametrize(
    ("fixture", "data", "detail"),
    [
        ("order_in_progress", {"order_no": "SO-404"}, "There is no order SO-404."),
        ("order_completed", {"order_no": "SO-404"}, "There is no order SO-404."),
        ("order_failed", {"order_no": "SO-404"}, "There is no order SO-404."),
        ("order_planned", {"order_no": "SO-404"}, "There is no order SO-404."),
        ("stock_movement_dispatched", {"reference": "MV-999999"}, "There is no stock movement MV-999999."),
        ("stock_movement_received", {"reference": "MV-999999"}, "There is no stock movement MV-999999."),
    ],
)
def test_an_unknown_order_or_movement_is_404_and_stored(depots, planner, fixture, data, detail):
    response = planner.send(fixture, webhook_id="msg_404", **data)
    assert response.status_code == 404
    assert response.json() == {"detail": detail}
    event = InboundEvent.objects.get(webhook_id="msg_404")
    assert (event.result, event.response_status, event.order_id) == ("rejected", 404, None)
    assert Order.objects.count() == 0


def test_an_event_rejected_for_an_unknown_order_is_tried_again_under_the_same_id(make_order, planner):
    body = payload("order_planned")
    # Stamped after the order will exist: an event from before the order was made would be stale.
    body["timestamp"] = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert planner.post(body, webhook_id="msg_early_plan").status_code == 404
    order = make_order("SO-1")  # the ERP's order arrives after the route planner's event
    response = planner.post(body, webhook_id="msg_early_plan")
    assert response.json()["result"] == "applied"
    assert reload(order).status == "planned"
    event = InboundEvent.objects.get(webhook_id="msg_early_plan")
    assert (event.result, event.response_status, event.order_id) == ("applied", 200, order.pk)
    assert event.reason == "Order SO-1 planned on route BHM-300305-R01."


def test_an_event_rejected_then_ignored_under_the_same_id_is_recorded_with_its_order(make_order, planner):
    # The rejected row is taken again and completed by an UPDATE: the order it names is linked there too.
    body = payload("order_completed")
    assert planner.post(body, webhook_id="msg_early_done").status_code == 404
    order = make_order("SO-1")  # exists now, but is ready: a completion is not allowed from there
    before = reload(order).version
    response = planner.post(body, webhook_id="msg_early_done")
    assert response.json()["result"] == "ignored"
    assert reload(order).version == before
    event = InboundEvent.objects.get(webhook_id="msg_early_done")
    assert (event.result, event.response_status, event.order_id) == ("ignored", 200, order.pk)


BAD_BODIES = [
    ("{not json", {"non_field_errors": ["The body is not valid JSON."]}),
    ("[1, 2]", {"non_field_errors": ["The body must be a JSON object."]}),
    ('"text"', {"non_field_errors": ["The body must be a JSON object."]}),
    ("\xff\xfe", {"non_field_errors": ["The body is not valid JSON."]}),
    ("[" * 100_000 + "]" * 100_000, {"non_field_errors": ["The body is not valid JSON."]}),
    ('{"type": "order.completed", "timestamp": "2030-03-05T09:00:00Z"}', {"data": ["This field is required."]}),
    ('{"type": "order.completed", "data": {}}', {"timestamp": ["This field is required."]}),
    (
        '{"type": "order.completed", "timestamp": "yesterday", "data": {}}',
        {
            "timestamp": [
                "Datetime has wrong format. Use one of these formats instead: "
                "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
            ]
        },
    ),
    (
        '{"type": "order.planned", "timestamp": "2030-03-05T09:00:00Z", "data": []}',
        {"data": ['Expected a dictionary of items but got type "list".']},
    ),
]


@pytest.mark.parametrize(("raw", "errors"), BAD_BODIES)
def test_a_malformed_body_is_400_stored_and_changes_nothing(make_order, planner, raw, errors):
    order = make_order("SO-1")
    before = snapshot(order)
    response = planner.post(raw, webhook_id="msg_bad")
    assert response.status_code == 400
    assert response.json() == {"errors": errors}
    assert snapshot(order) == before
    assert InboundEvent.objects.get(webhook_id="msg_bad").result == "rejected"


def test_an_unknown_event_type_is_400(make_order, planner):
    order = make_order("SO-1")
    before = snapshot(order)
    body = {**payload("order_in_progress"), "type": "order.teleported"}
    response = planner.post(body, webhook_id="msg_type")
    assert response.status_code == 400
    assert response.json() == {
        "errors": {
            "type": [
                "Unknown event type 'order.teleported'. Known: order.planned, order.in_progress, order.completed, "
                "order.failed, stock_movement.dispatched, stock_movement.received."
            ]
        }
    }
    assert snapshot(order) == before
    assert InboundEvent.objects.get(webhook_id="msg_type").event_type == "order.teleported"


WRONG_TYPES = [
    ("order_in_progress", {"order_no": 1}, {"data.order_no": ["Not a valid string."]}),
    ("order_in_progress", {"order_no": None}, {"data.order_no": ["This field may not be null."]}),
    ("order_in_progress", {"sequence": "1"}, {"data.sequence": ["A valid integer is required."]}),
    ("order_in_progress", {"sequence": True}, {"data.sequence": ["A valid integer is required."]}),
    ("order_in_progress", {"sequence": 0}, {"data.sequence": ["Ensure this value is greater than or equal to 1."]}),
    (
        "order_planned",
        {"planned_date": "05/03/2030"},
        {"data.planned_date": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]},
    ),
    (
        "order_planned",
        {"eta_from": "12:00", "eta_to": "10:00"},
        {"data.eta_to": ["eta_to must not be before eta_from."]},
    ),
    ("order_planned", {"route_ref": ["R1"]}, {"data.route_ref": ["Not a valid string."]}),
    (
        "order_planned",
        {"route_ref": "R" * 51},
        {"data.route_ref": ["Ensure this field has no more than 50 characters."]},
    ),
    (
        "order_completed",
        {"pod": "signed"},
        {"data.pod.non_field_errors": ["Invalid data. Expected a dictionary, but got str."]},
    ),
    ("order_completed", {"pod": {"lat": 52.1}}, {"data.pod.lat": ["lat and lng come together, or not at all."]}),
    ("order_completed", {"pod": {"lat": "52", "lng": 1}}, {"data.pod.lat": ["A valid number is required."]}),
    (
        "order_completed",
        {"pod": {"lat": 91, "lng": 1}},
        {"data.pod.lat": ["Ensure this value is less than or equal to 90."]},
    ),
    (
        "order_completed",
        {"pod": {"signature_url": "javascript:alert(1)"}},
        {"data.pod.signature_url": ["Only http and https URLs are accepted."]},
    ),
    (
        "order_completed",
        {"pod": {"photo_urls": ["ftp://x.example/p.jpg"]}},
        {"data.pod.photo_urls.0": ["Only http and https URLs are accepted."]},
    ),
    (
        "order_completed",
        {"lines": [{"line_no": 1, "delivered_quantity": -1}]},
        {"data.lines.0.delivered_quantity": ["Ensure this value is greater than or equal to 0."]},
    ),
    (
        "order_completed",
        {"lines": [{"line_no": 1, "delivered_quantity": 1}, {"line_no": 1, "delivered_quantity": 0}]},
        {"data.lines": ["Each line_no may appear once."]},
    ),
    ("order_failed", {"reason_code": 7}, {"data.reason_code": ["Not a valid string."]}),
    ("order_failed", {"reason_code": None}, {"data.reason_code": ["This field may not be null."]}),
    (
        "stock_movement_received",
        {"reference": "M" * 21},
        {"data.reference": ["Ensure this field has no more than 20 characters."]},
    ),
]


@pytest.mark.parametrize(("fixture", "data", "errors"), WRONG_TYPES)
def test_wrong_types_are_400_and_change_nothing(make_order, planner, fixture, data, errors):
    order = in_progress_order(make_order, planner) if fixture == "order_completed" else make_order("SO-1")
    before = snapshot(order)
    response = planner.send(fixture, **data)
    assert response.status_code == 400
    assert response.json() == {"errors": errors}
    assert snapshot(order) == before


def test_a_body_over_the_limit_is_413_and_not_stored(make_order, planner):
    order = make_order("SO-1")
    before = snapshot(order)
    body = payload("order_planned")
    body["data"]["driver"] = "x" * (300 * 1024)
    response = planner.post(body)
    assert response.status_code == 413
    assert response.json() == {"detail": "The body is larger than 256 KB."}
    assert snapshot(order) == before
    assert InboundEvent.objects.count() == 0


def test_only_post_is_allowed(planner):
    assert planner.client.get(planner.url).status_code == 405


# --- Late events never move a status backwards -----------------------------------------------------


def test_a_late_in_progress_after_completion_is_ignored(make_order, planner):
    order = in_progress_order(make_order, planner)
    planner.send("order_completed")
    before = snapshot(order)
    response = planner.send("order_in_progress")
    assert response.json() == {
        "result": "ignored",
        "reason": "The order is completed; it cannot become in progress from there.",
    }
    assert snapshot(order) == before


def test_an_event_older_than_the_last_status_change_is_ignored(make_order, planner):
    order = planned_order(make_order, planner)
    # Planned just now; a start stamped an hour ago (queued on a phone without signal) is stale.
    body = payload("order_in_progress")
    body["timestamp"] = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    before = snapshot(order)
    response = planner.post(body)
    assert response.status_code == 200
    assert response.json()["result"] == "ignored"
    assert response.json()["reason"].startswith("The event happened at ")
    assert response.json()["reason"].endswith("it is too old to apply.")
    assert snapshot(order) == before


def test_a_late_failure_after_completion_is_ignored(make_order, planner):
    order = in_progress_order(make_order, planner)
    planner.send("order_completed")
    before = snapshot(order)
    assert planner.send("order_failed").json()["result"] == "ignored"
    assert snapshot(order) == before
    assert reload(order).status == "completed"


def test_a_late_plan_after_the_driver_started_is_ignored(make_order, planner):
    order = in_progress_order(make_order, planner)
    before = snapshot(order)
    assert planner.send("order_planned", route_ref="OLD-ROUTE").json()["result"] == "ignored"
    assert snapshot(order) == before


def test_a_cancelled_order_ignores_the_field(make_order, planner):
    order = make_order("SO-1")
    services.cancel_order(order, actor=SYSTEM)
    before = snapshot(order)
    for fixture in ("order_planned", "order_in_progress", "order_completed", "order_failed"):
        assert planner.send(fixture).json()["result"] == "ignored"
    assert snapshot(order) == before
