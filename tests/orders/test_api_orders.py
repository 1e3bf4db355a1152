"""POST/GET/PATCH /api/v1/orders/ and the order's sub-resources (docs/api.md): whole answers compared."""

import json
import re
from datetime import datetime, timedelta
from functools import partial

import pytest
from django.conf import settings
from django.utils import timezone

from orders import services
from orders.api import idempotency
from orders.domain import Actor
from orders.models import (
    DeliveryMethod,
    IdempotencyKey,
    Order,
    OrderGroup,
    OrderLine,
    OutboxEvent,
    ServiceLevel,
    StatusChange,
    StockMovement,
    StockMovementLine,
)
from tests.conftest import day, order_body
from tests.conftest import line as any_line

# This module's lines default to the sofa of `order_body`.
line = partial(any_line, sku="SOFA-3")

URL = "/api/v1/orders/"
TRACKING_URL_RE = re.compile(rf"^{re.escape(settings.PUBLIC_BASE_URL)}/track/[A-Za-z0-9_-]{{32,}}/$")
INSTANT_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
REFERENCE_RE = re.compile(r"^MV-\d{6,}$")


def counts():
    """Rows of everything an order write can create."""
    models = (Order, OrderGroup, OrderLine, StockMovement, StockMovementLine, StatusChange, OutboxEvent)
    return {model.__name__: model.objects.count() for model in models}


def today():
    return timezone.localdate()


def assert_instant(value):
    assert INSTANT_RE.match(value), value
    assert datetime.fromisoformat(value).tzinfo is not None


def without_volatile(order):
    """The order with created_at/updated_at/tracking_url (checked by format) and movement references taken out."""
    order = json.loads(json.dumps(order))
    assert_instant(order.pop("created_at"))
    assert_instant(order.pop("updated_at"))
    assert TRACKING_URL_RE.match(order.pop("tracking_url"))
    for movement in order["movements"]:
        assert REFERENCE_RE.match(movement.pop("reference"))
        assert_instant(movement.pop("created_at"))
        assert_instant(movement.pop("updated_at"))
    return order


def address(line1="1 High Street", postal_code="B2 4QA", town="Birmingham", **extra):
    return {
        "line1": line1,
        "line2": "",
        "line3": "",
        "town": town,
        "county": "",
        "postal_code": postal_code,
        "country": "GB",
        "lat": None,
        "lng": None,
        **extra,
    }


def line_out(line_no=1, sku="SOFA-3", quantity=1, stock_location="BHM", delivery_method="BHM-VANS", **extra):
    """A line as the API answers it."""
    return {
        "line_no": line_no,
        "sequence": 1,
        "sku": sku,
        "description": "",
        "quantity": quantity,
        "weight_kg": None,
        "cube_m3": None,
        "stock_location": stock_location,
        "on_hand_date": today().isoformat(),
        "delivery_method": delivery_method,
        "assembly_minutes": 0,
        "notes": "",
        "delivered_quantity": None,
        **extra,
    }


@pytest.fixture
def alice_client(alice):
    return alice[0]


@pytest.fixture
def bob_client(bob):
    return bob[0]


# --- Create -------------------------------------------------------------------------------------


def test_creating_an_order_answers_201_with_the_whole_order(alice_api, depots):
    body = order_body(
        "SO-1",
        order_date=day(-2).isoformat(),
        customer={"name": "Ann Smith", "mobile": "07700900123", "email": "ann@example.com", "phone": "0121 496 0000"},
        customer_reference="PO-778",
        customer_address={"line1": "2 Billing Road", "postal_code": "b1 2cd", "country": "gb"},
        service_level="2MAN-ROC",
        required_date=day(3).isoformat(),
        required_time_from="08:00",
        required_time_to="12:30",
        order_notes="Paid in full.",
        location_instructions="Side gate.",
        driver_notes="Call 30 min ahead.",
        lines=[
            line(
                1,
                description="Three-seat sofa",
                weight_kg=42.5,
                cube_m3=1.25,
                on_hand_date=day(-1).isoformat(),
                assembly_minutes=15,
                notes="Wrapped.",
            )
        ],
    )

    response = alice_api.post(URL, body)

    assert response.status_code == 201
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Location"] == "/api/v1/orders/SO-1/"
    assert "Idempotent-Replayed" not in response.headers
    order = response.json()
    assert "SO-1" not in order["tracking_url"]
    the_line = line_out(
        description="Three-seat sofa",
        weight_kg=42.5,
        cube_m3=1.25,
        on_hand_date=day(-1).isoformat(),
        assembly_minutes=15,
        notes="Wrapped.",
    )
    assert without_volatile(order) == {
        "order_no": "SO-1",
        "order_date": day(-2).isoformat(),
        "order_type": "delivery",
        "customer": {
            "name": "Ann Smith",
            "mobile": "07700900123",
            "email": "ann@example.com",
            "phone": "0121 496 0000",
        },
        "address": address(),
        "customer_reference": "PO-778",
        "customer_address": address("2 Billing Road", "B1 2CD", town=""),
        "service_level": "2MAN-ROC",
        "unload_minutes": 20,
        "required_date": day(3).isoformat(),
        "required_time_from": "08:00:00",
        "required_time_to": "12:30:00",
        "order_notes": "Paid in full.",
        "location_instructions": "Side gate.",
        "driver_notes": "Call 30 min ahead.",
        "status": "ready",
        "version": 1,
        "earliest_delivery_date": day(-1).isoformat(),
        "attempt_count": 0,
        "source": "api_client:alice-erp",
        "lines": [the_line],
        "groups": [
            {
                "sequence": 1,
                "group_type": "delivery",
                "address": address(),
                "required_date": day(3).isoformat(),
                "required_time_from": "08:00:00",
                "required_time_to": "12:30:00",
                "status": "ready",
                "plan": None,
                "lines": [the_line],
            }
        ],
        "movements": [],
    }
    assert order == alice_api.get("/api/v1/orders/SO-1/").json()


def test_creating_an_order_records_one_order_created_event_with_the_answer_as_data(alice_api, depots):
    response = alice_api.post(URL, order_body())

    events = list(OutboxEvent.objects.filter(type="order.created"))
    assert len(events) == 1
    assert events[0].payload["data"] == response.json()


def test_creating_a_trunked_order_returns_the_movements_it_needs(alice_api, depots):
    body = order_body(
        lines=[
            line(1, "MAN", quantity=1, sku="SOFA-3", on_hand_date=day(3).isoformat()),
            line(2, "MAN", quantity=2, sku="CHAIR"),
            line(3, "LDS", quantity=1, sku="TABLE"),
            line(4, "BHM", quantity=1, sku="LAMP"),
        ]
    )

    response = alice_api.post(URL, body)

    assert response.status_code == 201
    order = without_volatile(response.json())
    assert order["status"] == "awaiting_stock"
    assert order["earliest_delivery_date"] == day(5).isoformat()
    assert order["movements"] == [
        {
            "order_no": "SO-1",
            "from_location": "MAN",
            "to_location": "BHM",
            "status": "pending",
            "ship_date": day(3).isoformat(),
            "due_date": day(5).isoformat(),
            "version": 1,
            "lines": [{"line_no": 1, "sku": "SOFA-3", "quantity": 1}, {"line_no": 2, "sku": "CHAIR", "quantity": 2}],
        },
        {
            "order_no": "SO-1",
            "from_location": "LDS",
            "to_location": "BHM",
            "status": "pending",
            "ship_date": day(0).isoformat(),
            "due_date": day(3).isoformat(),
            "version": 1,
            "lines": [{"line_no": 3, "sku": "TABLE", "quantity": 1}],
        },
    ]
    references = [m["reference"] for m in response.json()["movements"]]
    assert sorted(StockMovement.objects.values_list("reference", flat=True)) == sorted(references)


def test_creating_a_multi_order_returns_each_group_with_its_own_lines(alice_api, depots):
    body = {
        "order_no": "MO-1",
        "order_type": "multi",
        "customer": {"name": "Bo Jones"},
        "groups": [
            {
                "sequence": 2,
                "group_type": "delivery",
                "address": {"lat": "52.480000", "lng": "-1.890000"},
                "required_date": day(4).isoformat(),
                "required_time_from": "13:00",
                "required_time_to": "17:00",
                "lines": [line(2, "MAN", quantity=1, sku="NEW-SOFA")],
            },
            {
                "sequence": 1,
                "group_type": "collection",
                "address": {"line1": "5 Old Road", "postal_code": "b5 5aa", "country": "GB"},
                "required_date": day(3).isoformat(),
                "lines": [line(1, sku="OLD-SOFA")],
            },
        ],
    }

    response = alice_api.post(URL, body)

    assert response.status_code == 201
    order = without_volatile(response.json())
    collected = line_out(1, "OLD-SOFA")
    delivered = line_out(2, "NEW-SOFA", stock_location="MAN", sequence=2)
    no_address = {k: "" for k in ("line1", "line2", "line3", "town", "county", "postal_code", "country")}
    assert order["order_type"] == "multi"
    assert order["address"] == address("5 Old Road", "B5 5AA", town="")
    assert (order["required_date"], order["required_time_from"]) == (day(3).isoformat(), None)
    assert order["status"] == "awaiting_stock"
    assert order["lines"] == [collected, delivered]
    assert order["groups"] == [
        {
            "sequence": 1,
            "group_type": "collection",
            "address": address("5 Old Road", "B5 5AA", town=""),
            "required_date": day(3).isoformat(),
            "required_time_from": None,
            "required_time_to": None,
            "status": "ready",
            "plan": None,
            "lines": [collected],
        },
        {
            "sequence": 2,
            "group_type": "delivery",
            "address": {**no_address, "lat": 52.48, "lng": -1.89},
            "required_date": day(4).isoformat(),
            "required_time_from": "13:00:00",
            "required_time_to": "17:00:00",
            "status": "awaiting_stock",
            "plan": None,
            "lines": [delivered],
        },
    ]
    assert [(m["from_location"], m["to_location"], m["lines"]) for m in order["movements"]] == [
        ("MAN", "BHM", [{"line_no": 2, "sku": "NEW-SOFA", "quantity": 1}])
    ]


@pytest.mark.parametrize(
    ("given", "stored"),
    [("b2 4qa", "B2 4QA"), ("B24QA", "B2 4QA"), ("  sw1a1aa ", "SW1A 1AA"), ("ec1a 1bb", "EC1A 1BB")],
)
def test_postal_codes_are_normalised(alice_api, depots, given, stored):
    body = order_body(address={"line1": "1 High Street", "postal_code": given, "country": "gb"})

    order = alice_api.post(URL, body).json()

    assert (order["address"]["postal_code"], order["address"]["country"]) == (stored, "GB")
    assert order["groups"][0]["address"]["postal_code"] == stored


BAD_INPUT = [
    # (id, overrides of order_body or {"raw": text}, expected errors)
    ("a JSON array", {"raw": "[]"}, {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
    ("a JSON string", {"raw": '"SO-1"'}, {"non_field_errors": ["Invalid data. Expected a dictionary, but got str."]}),
    ("a JSON number", {"raw": "12"}, {"non_field_errors": ["Invalid data. Expected a dictionary, but got int."]}),
    (
        "JSON nested deeper than the parser's stack",
        {"raw": "[" * 100_000 + "]" * 100_000},
        {"non_field_errors": ["JSON parse error - the body is nested too deeply."]},
    ),
    (
        "NaN",
        {"raw": '{"order_no": NaN}'},
        {"non_field_errors": ["JSON parse error - Out of range float values are not JSON compliant: 'NaN'"]},
    ),
    (
        "wrong types",
        {"customer": "Ann", "lines": {"line_no": 1}, "required_date": 20261201, "order_type": 3},
        {
            "customer.non_field_errors": ["Invalid data. Expected a dictionary, but got str."],
            "lines.non_field_errors": ['Expected a list of items but got type "dict".'],
            "required_date": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."],
            "order_type": ['"3" is not a valid choice.'],
        },
    ),
    (
        "wrong types inside a line",
        {"lines": [line(quantity="two", weight_kg="heavy", on_hand_date=True, stock_location=7), "SOFA"]},
        {
            "lines.0.quantity": ["A valid integer is required."],
            "lines.0.weight_kg": ["A valid number is required."],
            "lines.0.on_hand_date": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."],
            "lines.0.stock_location": ["Not a valid stock location code."],
            "lines.1.non_field_errors": ["Invalid data. Expected a dictionary, but got str."],
        },
    ),
    (
        "a position that is not a number",
        {"address": {"lat": "north", "lng": 200}},
        {
            "address.lat": ["A valid number is required."],
            "address.lng": ["Ensure this value is less than or equal to 180."],
        },
    ),
    (
        "an unknown stock location",
        {"lines": [line(stock_location="XXX")]},
        {"lines.0.stock_location": ["Unknown or inactive stock location code 'XXX'."]},
    ),
    (
        "a code with a NUL character",
        {"lines": [line(stock_location="BHM\x00")], "service_level": "\x00"},
        {"non_field_errors": ["JSON parse error - NUL (\\u0000) is not allowed in text."]},
    ),
    (
        "an unknown delivery method",
        {"lines": [line(delivery_method="NOPE")]},
        {"lines.0.delivery_method": ["Unknown or inactive delivery method code 'NOPE'."]},
    ),
    (
        "an unknown service level",
        {"service_level": "GOLD"},
        {"service_level": ["Unknown or inactive service level code 'GOLD'."]},
    ),
    (
        "an unknown order type",
        {"order_type": "express"},
        {"order_type": ['"express" is not a valid choice.']},
    ),
    (
        "quantity 0",
        {"lines": [line(quantity=0)]},
        {"lines.0.quantity": ["Ensure this value is greater than or equal to 1."]},
    ),
    (
        "a negative quantity",
        {"lines": [line(quantity=-3)]},
        {"lines.0.quantity": ["Ensure this value is greater than or equal to 1."]},
    ),
    (
        "a huge quantity",
        {"lines": [line(quantity=10**30)]},
        {"lines.0.quantity": ["Ensure this value is less than or equal to 100000."]},
    ),
    (
        "a date that does not exist",
        {"required_date": "2026-13-45"},
        {"required_date": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]},
    ),
    (
        "an on-hand date that does not exist",
        {"lines": [line(on_hand_date="2026-02-30")]},
        {"lines.0.on_hand_date": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]},
    ),
    (
        "an on-hand date at the end of the calendar",
        {"lines": [line(stock_location="MAN", on_hand_date="9999-12-31")]},
        {"lines.0.on_hand_date": ["Use a date before the year 9999."]},
    ),
    (
        "a time that does not exist",
        {"required_time_from": "25:61"},
        {"required_time_from": ["Time has wrong format. Use one of these formats instead: hh:mm[:ss[.uuuuuu]]."]},
    ),
    (
        "a time window that ends before it starts",
        {"required_time_from": "14:00", "required_time_to": "10:00"},
        {"required_time_to": ["The window must end after it starts."]},
    ),
    (
        "a line number used twice",
        {"lines": [line(1), line(1, sku="CHAIR")]},
        {"lines": ["line_no 1 appears more than once."]},
    ),
    ("no lines", {"lines": []}, {"lines": ["An order needs at least one line."]}),
    (
        "no customer name",
        {"customer": {"mobile": "07700900123"}},
        {"customer.name": ["This field is required."]},
    ),
    (
        "a blank customer name",
        {"customer": {"name": ""}},
        {"customer.name": ["This field may not be blank."]},
    ),
    ("no address", {"address": None}, {"address": ["This field may not be null."]}),
    (
        "an address with neither postal code nor position",
        {"address": {"line1": "1 High Street", "town": "Birmingham", "country": "GB"}},
        {"address.non_field_errors": ["An address needs line1, postal_code and country, or lat and lng."]},
    ),
    (
        "a country that is not ISO 3166",
        {"address": {"line1": "1 High Street", "postal_code": "B2 4QA", "country": "UK"}},
        {"address.country": ["'UK' is not an ISO 3166 country code."]},
    ),
    (
        "a postcode that cannot be British",
        {"address": {"line1": "1 High Street", "postal_code": "12345", "country": "GB"}},
        {"address.postal_code": ["'12345' is not a valid postal code for GB."]},
    ),
    (
        "an order number of 51 characters",
        {"order_no": "X" * 51},
        {"order_no": ["Ensure this field has no more than 50 characters."]},
    ),
    (
        "an order number with a slash",
        {"order_no": "SO/1"},
        {"order_no": ["'/' is not allowed; use letters, digits and punctuation other than / \\ ? # %."]},
    ),
    (
        "groups on a delivery order",
        {"groups": [{"sequence": 1, "group_type": "delivery", "address": {"lat": 52, "lng": -1}, "lines": [line()]}]},
        {"groups": ["Only multi orders take groups; a delivery or collection order takes lines."]},
    ),
    (
        "a multi order with one group",
        {
            "order_type": "multi",
            "lines": [],
            "groups": [{"sequence": 1, "group_type": "delivery", "address": {"lat": 52, "lng": -1}, "lines": [line()]}],
        },
        {"groups": ["A multi order needs two or more groups."]},
    ),
    (
        "a multi order with lines outside its groups",
        {"order_type": "multi"},
        {"lines": ["A multi order's lines go inside its groups."]},
    ),
]


def test_a_customer_address_with_a_position_is_kept_in_the_address_shape(alice_api, depots):
    body = order_body(customer_address={"line1": "2 Billing Road", "lat": "52.486243", "lng": -1.890401})

    response = alice_api.post(URL, body)

    assert response.status_code == 201
    assert response.json()["customer_address"] == address(
        "2 Billing Road", "", town="", country="", lat=52.486243, lng=-1.890401
    )
    assert alice_api.get(f"{URL}SO-1/").json()["customer_address"] == response.json()["customer_address"]


@pytest.mark.parametrize(("overrides", "errors"), [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT])
def test_bad_input_is_refused_with_400_and_creates_nothing(alice_api, depots, overrides, errors):
    before = counts()
    if "raw" in overrides:
        response = alice_api.post(URL, raw=overrides["raw"])
    else:
        response = alice_api.post(URL, order_body(**overrides))

    assert response.status_code == 400
    assert response.json() == {"errors": errors}
    assert counts() == before


def test_broken_json_is_refused_with_400_and_creates_nothing(alice_api, depots):
    before = counts()

    response = alice_api.post(URL, raw=json.dumps(order_body())[:-7])

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert list(errors) == ["non_field_errors"]
    assert errors["non_field_errors"][0].startswith("JSON parse error")
    assert counts() == before


def test_an_inactive_code_is_refused_on_a_new_order(alice_api, depots):
    DeliveryMethod.objects.filter(code="LDS-VANS").update(active=False)
    ServiceLevel.objects.filter(code="2MAN-ROC").update(active=False)
    before = counts()

    response = alice_api.post(URL, order_body(service_level="2MAN-ROC", lines=[line(delivery_method="LDS-VANS")]))

    assert response.status_code == 400
    assert response.json() == {
        "errors": {
            "service_level": ["Unknown or inactive service level code '2MAN-ROC'."],
            "lines.0.delivery_method": ["Unknown or inactive delivery method code 'LDS-VANS'."],
        }
    }
    assert counts() == before


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("text/plain", "order_no=SO-1"),
        ("application/x-www-form-urlencoded", "order_no=SO-1"),
        ("application/xml", "<a/>"),
    ],
)
def test_a_body_that_is_not_json_is_refused_with_415(alice_api, depots, content_type, data):
    before = counts()

    response = alice_api.client.post(URL, data=data, content_type=content_type)

    assert response.status_code == 415
    assert response.json() == {"detail": f'Unsupported media type "{content_type}" in request.'}
    assert counts() == before


def test_a_body_over_the_size_limit_is_refused_with_413(alice_api, depots):
    body = order_body(order_notes="x" * settings.API_MAX_BODY_BYTES)
    before = counts()

    response = alice_api.post(URL, body)

    assert response.status_code == 413
    limit_mb = settings.API_MAX_BODY_BYTES // (1024 * 1024)
    assert response.json() == {"detail": f"The request body is larger than the {limit_mb} MB limit."}
    assert counts() == before


def test_an_order_number_that_exists_answers_409_without_an_idempotency_key(alice_api, bob_api, depots):
    alice_api.post(URL, order_body("SO-1"))
    before = counts()

    again = alice_api.post(URL, order_body("SO-1", driver_notes="second try"))
    from_bob = bob_api.post(URL, order_body("SO-1"))

    assert again.status_code == from_bob.status_code == 409
    assert again.json() == from_bob.json() == {"detail": "An order with order_no SO-1 already exists."}
    assert counts() == before
    assert Order.objects.get().driver_notes == ""


# --- Idempotency-Key ----------------------------------------------------------------------------


def test_the_same_idempotency_key_and_body_replay_the_first_answer(alice_api, depots):
    key = {"Idempotency-Key": "create-SO-1"}
    first = alice_api.post(URL, order_body(), headers=key)
    after_first = counts()

    second = alice_api.post(URL, order_body(), headers=key)

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["ETag"] == first.headers["ETag"] == '"1"'
    assert second.headers["Location"] == first.headers["Location"] == "/api/v1/orders/SO-1/"
    assert counts() == after_first
    assert Order.objects.count() == 1


def test_a_refused_request_is_replayed_as_refused(alice_api, depots):
    key = {"Idempotency-Key": "bad-1"}
    body = order_body(lines=[line(quantity=0)])
    first = alice_api.post(URL, body, headers=key)

    second = alice_api.post(URL, body, headers=key)

    assert first.status_code == second.status_code == 400
    assert (
        second.json()
        == first.json()
        == {"errors": {"lines.0.quantity": ["Ensure this value is greater than or equal to 1."]}}
    )
    assert second.headers["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 0


def test_the_same_idempotency_key_with_another_body_answers_422(alice_api, depots):
    key = {"Idempotency-Key": "create-SO-1"}
    alice_api.post(URL, order_body("SO-1"), headers=key)
    before = counts()

    response = alice_api.post(URL, order_body("SO-2"), headers=key)

    assert response.status_code == 422
    assert response.json() == {"detail": "This Idempotency-Key was already used with a different request body."}
    assert counts() == before
    assert not Order.objects.filter(order_no="SO-2").exists()


def test_idempotency_keys_are_per_client(alice_api, bob_api, depots):
    alice_api.post(URL, order_body("SO-A"), headers={"Idempotency-Key": "key-1"})
    alice_api.post(URL, order_body("SO-C"), headers={"Idempotency-Key": "key-2"})

    another_body = bob_api.post(URL, order_body("SO-B"), headers={"Idempotency-Key": "key-1"})
    same_body = bob_api.post(URL, order_body("SO-C"), headers={"Idempotency-Key": "key-2"})

    assert another_body.status_code == 201
    assert another_body.json()["source"] == "api_client:bob-webshop"
    assert "Idempotent-Replayed" not in another_body.headers
    # Bob's request with a key and body Alice used is his own, not a replay of her answer.
    assert same_body.status_code == 409
    assert same_body.json() == {"detail": "An order with order_no SO-C already exists."}
    assert "Idempotent-Replayed" not in same_body.headers
    assert sorted(Order.objects.values_list("order_no", "source_client__name")) == [
        ("SO-A", "alice-erp"),
        ("SO-B", "bob-webshop"),
        ("SO-C", "alice-erp"),
    ]


def test_an_idempotency_key_whose_first_request_is_in_flight_answers_409(alice_api, alice_client, depots):
    body = order_body()
    IdempotencyKey.objects.create(client=alice_client, key="busy", request_hash=idempotency.body_hash(body))
    before = counts()

    response = alice_api.post(URL, body, headers={"Idempotency-Key": "busy"})

    assert response.status_code == 409
    assert response.json() == {
        "detail": "A request with this Idempotency-Key is still being processed; retry in a moment."
    }
    assert counts() == before
    assert IdempotencyKey.objects.get().state == IdempotencyKey.State.IN_FLIGHT


def test_an_idempotency_key_older_than_24_hours_can_be_used_again(alice_api, depots):
    key = {"Idempotency-Key": "daily-run"}
    alice_api.post(URL, order_body("SO-1"), headers=key)
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=24, minutes=1))

    response = alice_api.post(URL, order_body("SO-2"), headers=key)

    assert response.status_code == 201
    assert response.json()["order_no"] == "SO-2"
    assert "Idempotent-Replayed" not in response.headers
    assert sorted(Order.objects.values_list("order_no", flat=True)) == ["SO-1", "SO-2"]
    record = IdempotencyKey.objects.get()
    assert (record.request_hash, record.response_status) == (idempotency.body_hash(order_body("SO-2")), 201)


def test_an_idempotency_key_younger_than_24_hours_is_still_kept(alice_api, depots):
    key = {"Idempotency-Key": "daily-run"}
    alice_api.post(URL, order_body("SO-1"), headers=key)
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=23, minutes=59))

    response = alice_api.post(URL, order_body("SO-2"), headers=key)

    assert response.status_code == 422


@pytest.mark.parametrize("key", ["has space", "", "x" * 256, "ünïcode"])
def test_a_malformed_idempotency_key_is_refused_with_400(alice_api, depots, key):
    response = alice_api.post(URL, order_body(), headers={"Idempotency-Key": key})

    assert response.status_code == 400
    assert response.json() == {"errors": {"Idempotency-Key": ["Use 1–255 printable ASCII characters, no spaces."]}}
    assert Order.objects.count() == IdempotencyKey.objects.count() == 0


# --- List ---------------------------------------------------------------------------------------


def test_the_order_list_is_a_cursor_page_of_whole_orders(alice_api, alice_client, make_order):
    make_order("SO-1", client=alice_client)

    response = alice_api.get(URL)

    assert response.status_code == 200
    assert response.json() == {
        "next": None,
        "previous": None,
        "results": [alice_api.get("/api/v1/orders/SO-1/").json()],
    }


def test_the_order_list_pages_through_every_order_with_its_cursor(alice_api, alice_client, make_order):
    for n in range(7):
        make_order(f"SO-{n}", client=alice_client)

    pages = []
    url, params = URL, {"page_size": 3}
    while url:
        page = alice_api.get(url, params).json()
        pages.append([o["order_no"] for o in page["results"]])
        url, params = page["next"], None

    assert pages == [["SO-6", "SO-5", "SO-4"], ["SO-3", "SO-2", "SO-1"], ["SO-0"]]
    second = alice_api.get(URL, {"page_size": 3}).json()["next"]
    back = alice_api.get(alice_api.get(second).json()["previous"]).json()
    assert [o["order_no"] for o in back["results"]] == ["SO-6", "SO-5", "SO-4"]
    assert back["previous"] is None


@pytest.fixture
def listed(alice_client, bob_client, make_order):
    """Alice's five orders of every kind (and one of Bob's), with known updated_at instants."""
    make_order("A-READY", client=alice_client, required_date="2026-03-01")
    make_order("B-TRUNKED", client=alice_client, required_date="2026-03-02", lines=[line(stock_location="MAN")])
    make_order(
        "C-COLLECT",
        client=alice_client,
        order_type="collection",
        required_date="2026-03-03",
        lines=[line(stock_location="LDS", delivery_method="LDS-VANS")],
    )
    make_order(
        "D-MULTI",
        client=alice_client,
        order_type="multi",
        lines=[],
        required_date=None,
        groups=[
            {"sequence": 1, "group_type": "collection", "address": {"lat": 52, "lng": -1}, "lines": [line(1)]},
            {
                "sequence": 2,
                "group_type": "delivery",
                "address": {"lat": 52, "lng": -2},
                "required_date": "2026-03-05",
                "lines": [line(2, stock_location="LDS")],
            },
        ],
    )
    services.cancel_order(
        make_order("E-CANCELLED", client=alice_client, required_date="2026-03-04"), actor=Actor.system()
    )
    make_order("BOB-1", client=bob_client, required_date="2026-03-02")
    instants = {
        "A-READY": "2026-02-01T09:00:00+00:00",
        "B-TRUNKED": "2026-02-05T09:00:00+00:00",
        "C-COLLECT": "2026-02-03T09:00:00+00:00",
        "D-MULTI": "2026-02-02T09:00:00+00:00",
        "E-CANCELLED": "2026-02-04T09:00:00+00:00",
        "BOB-1": "2026-02-06T09:00:00+00:00",
    }
    for order_no, instant in instants.items():
        Order.objects.filter(order_no=order_no).update(updated_at=datetime.fromisoformat(instant))


NEWEST_FIRST = ["E-CANCELLED", "D-MULTI", "C-COLLECT", "B-TRUNKED", "A-READY"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, NEWEST_FIRST),
        ({"status": "ready"}, ["C-COLLECT", "A-READY"]),
        ({"status": "awaiting_stock,cancelled"}, ["E-CANCELLED", "D-MULTI", "B-TRUNKED"]),
        ({"status": "planned"}, []),
        ({"updated_since": "2026-02-03T09:00:00Z"}, ["E-CANCELLED", "C-COLLECT", "B-TRUNKED"]),
        ({"updated_since": "2026-02-03T10:00:00+01:00"}, ["E-CANCELLED", "C-COLLECT", "B-TRUNKED"]),
        ({"updated_since": "2026-02-03T09:00:01Z"}, ["E-CANCELLED", "B-TRUNKED"]),
        ({"required_date": "2026-03-02"}, ["B-TRUNKED"]),
        ({"required_date_from": "2026-03-03"}, ["E-CANCELLED", "C-COLLECT"]),
        ({"required_date_to": "2026-03-02"}, ["B-TRUNKED", "A-READY"]),
        ({"required_date_from": "2026-03-02", "required_date_to": "2026-03-03"}, ["C-COLLECT", "B-TRUNKED"]),
        ({"order_type": "collection"}, ["C-COLLECT"]),
        ({"order_type": "multi"}, ["D-MULTI"]),
        ({"order_type": "delivery"}, ["E-CANCELLED", "B-TRUNKED", "A-READY"]),
        ({"delivery_method": "LDS-VANS"}, ["C-COLLECT"]),
        ({"delivery_method": "BHM-VANS"}, ["E-CANCELLED", "D-MULTI", "B-TRUNKED", "A-READY"]),
        ({"delivery_method": "MAN-VANS"}, []),
        ({"stock_location": "LDS"}, ["D-MULTI", "C-COLLECT"]),
        ({"stock_location": "MAN"}, ["B-TRUNKED"]),
        ({"stock_location": "BHM", "status": "ready"}, ["A-READY"]),
        ({"ordering": "created_at"}, list(reversed(NEWEST_FIRST))),
        ({"ordering": "updated_at"}, ["A-READY", "D-MULTI", "C-COLLECT", "E-CANCELLED", "B-TRUNKED"]),
        ({"ordering": "-updated_at"}, ["B-TRUNKED", "E-CANCELLED", "C-COLLECT", "D-MULTI", "A-READY"]),
    ],
)
def test_each_list_filter_returns_exactly_the_matching_orders(alice_api, listed, params, expected):
    response = alice_api.get(URL, params)

    assert response.status_code == 200
    assert [o["order_no"] for o in response.json()["results"]] == expected


def test_the_order_list_pages_in_updated_at_order_for_syncing(alice_api, listed):
    first = alice_api.get(URL, {"ordering": "updated_at", "updated_since": "2026-02-02T00:00:00Z", "page_size": 2})
    second = alice_api.get(first.json()["next"])

    assert [o["order_no"] for o in first.json()["results"]] == ["D-MULTI", "C-COLLECT"]
    assert [o["order_no"] for o in second.json()["results"]] == ["E-CANCELLED", "B-TRUNKED"]
    assert second.json()["next"] is None


@pytest.mark.parametrize(
    ("params", "errors"),
    [
        ({"status": "lost"}, {"status": ["Choose from: " + ", ".join(Order.Status.values) + "."]}),
        ({"status": "ready,lost"}, {"status": ["Choose from: " + ", ".join(Order.Status.values) + "."]}),
        ({"status": ","}, {"status": ["Choose from: " + ", ".join(Order.Status.values) + "."]}),
        (
            {"updated_since": "yesterday"},
            {
                "updated_since": [
                    "Datetime has wrong format. Use one of these formats instead: "
                    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
                ]
            },
        ),
        (
            {"required_date": "2026-13-45"},
            {"required_date": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]},
        ),
        (
            {"required_date_from": "01/03/2026"},
            {"required_date_from": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]},
        ),
        (
            {"required_date_to": "2026-02-30"},
            {"required_date_to": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]},
        ),
        ({"order_type": "express"}, {"order_type": ['"express" is not a valid choice.']}),
        ({"delivery_method": "NOPE"}, {"delivery_method": ["Unknown delivery method code 'NOPE'."]}),
        ({"stock_location": "XXX"}, {"stock_location": ["Unknown stock location code 'XXX'."]}),
        (
            {"delivery_method": "\x00"},
            {"delivery_method": ["Not a valid delivery method code."]},
        ),
        (
            {"stock_location": "X" * 21},
            {"stock_location": ["Not a valid stock location code."]},
        ),
        ({"ordering": "order_no"}, {"ordering": ['"order_no" is not a valid choice.']}),
    ],
)
def test_bad_list_filter_values_are_refused_with_400(alice_api, depots, params, errors):
    response = alice_api.get(URL, params)

    assert response.status_code == 400
    assert response.json() == {"errors": errors}


@pytest.mark.parametrize(
    "cursor",
    ["not-a-cursor", "cD1hYmM=", "bz0tMSZwPXg="],
    ids=["not-base64", "position-abc", "negative-offset"],
)
@pytest.mark.parametrize("path", ["/api/v1/orders/", "/api/v1/stock-movements/", "/api/v1/lanes/"])
def test_a_cursor_that_was_not_issued_answers_400_on_every_list(ops_api, depots, path, cursor):
    response = ops_api.get(path, {"cursor": cursor})

    assert response.status_code == 400
    assert response.json() == {
        "errors": {"cursor": ["The cursor is not valid: use `next` or `previous` of the last page as given."]}
    }


def _make_varied_orders(make_order, client, start, count):
    """Orders with lines, movements and groups: plain, trunked on two lanes, and multi."""
    for n in range(start, start + count):
        kind = n % 3
        if kind == 0:
            make_order(f"Q-{n}", client=client)
        elif kind == 1:
            make_order(f"Q-{n}", client=client, lines=[line(1, stock_location="MAN"), line(2, stock_location="LDS")])
        else:
            make_order(
                f"Q-{n}",
                client=client,
                order_type="multi",
                lines=[],
                groups=[
                    {"sequence": 1, "group_type": "collection", "address": {"lat": 52, "lng": -1}, "lines": [line(1)]},
                    {
                        "sequence": 2,
                        "group_type": "delivery",
                        "address": {"lat": 52, "lng": -2},
                        "lines": [line(2, stock_location="MAN"), line(3)],
                    },
                ],
            )


# Authentication (1), the page of orders (1), their groups with their lines (1) and their movements with
# their lines (1): representation.order_dicts.
LIST_QUERIES = 4
# One order (retrieve) is still read through the prefetch cache: its header, lines, groups, movements and
# their lines.
DETAIL_QUERIES = 6


def test_the_order_list_takes_the_same_number_of_queries_for_10_and_30_orders(
    alice_api, alice_client, make_order, django_assert_num_queries
):
    _make_varied_orders(make_order, alice_client, 0, 10)
    alice_api.get(URL)  # records the key's first use, a write that happens once

    with django_assert_num_queries(LIST_QUERIES):
        ten = alice_api.get(URL)
    _make_varied_orders(make_order, alice_client, 10, 20)
    with django_assert_num_queries(LIST_QUERIES):
        thirty = alice_api.get(URL)

    assert len(ten.json()["results"]) == 10
    assert len(thirty.json()["results"]) == 30
    assert sum(len(o["movements"]) for o in thirty.json()["results"]) == 30


def test_the_filtered_order_list_adds_one_query_per_code_checked(
    alice_api, alice_client, make_order, django_assert_num_queries
):
    _make_varied_orders(make_order, alice_client, 0, 6)
    alice_api.get(URL)

    with django_assert_num_queries(LIST_QUERIES + 2):
        response = alice_api.get(
            URL, {"stock_location": "MAN", "delivery_method": "BHM-VANS", "status": "awaiting_stock"}
        )

    assert [o["order_no"] for o in response.json()["results"]] == ["Q-5", "Q-4", "Q-2", "Q-1"]


def test_getting_one_order_takes_a_fixed_number_of_queries(
    alice_api, alice_client, make_order, django_assert_num_queries
):
    _make_varied_orders(make_order, alice_client, 0, 3)
    alice_api.get(URL)

    # An order without movements skips the query for the movements' lines.
    for order_no, queries in (("Q-0", DETAIL_QUERIES - 1), ("Q-1", DETAIL_QUERIES), ("Q-2", DETAIL_QUERIES)):
        with django_assert_num_queries(queries):
            assert alice_api.get(f"{URL}{order_no}/").status_code == 200


# --- Detail -------------------------------------------------------------------------------------


def test_getting_an_order_answers_it_with_its_version_as_etag(alice_api, depots):
    created = alice_api.post(URL, order_body()).json()

    response = alice_api.get(f"{URL}SO-1/")

    assert response.status_code == 200
    assert response.headers["ETag"] == '"1"'
    assert response.json() == created


def test_if_none_match_with_the_current_etag_answers_304(alice_api, depots):
    alice_api.post(URL, order_body())

    current = alice_api.get(f"{URL}SO-1/", headers={"If-None-Match": '"1"'})
    alice_api.patch(f"{URL}SO-1/", {"driver_notes": "Ring twice."})
    stale = alice_api.get(f"{URL}SO-1/", headers={"If-None-Match": '"1"'})

    assert current.status_code == 304
    assert current.content == b""
    assert current.headers["ETag"] == '"1"'
    assert stale.status_code == 200
    assert stale.headers["ETag"] == '"2"'
    assert stale.json()["driver_notes"] == "Ring twice."


@pytest.mark.parametrize("order_no", ["NOPE", "X" * 51, "%00", "a%5Cb"])
def test_an_unknown_order_answers_404(alice_api, depots, order_no):
    response = alice_api.get(f"{URL}{order_no}/")

    assert response.status_code == 404
    assert response.json() == {"detail": "No such order."}


# --- PATCH --------------------------------------------------------------------------------------


def test_patching_header_fields_changes_those_fields_only(alice_api, depots):
    created = alice_api.post(URL, order_body()).json()
    before = counts()

    response = alice_api.patch(
        f"{URL}SO-1/",
        {
            "customer": {"phone": "0121 496 0001"},
            "customer_reference": "PO-9",
            "driver_notes": "Ring twice.",
            "order_notes": "VIP",
            "service_level": "2MAN-ROC",
            "unload_minutes": 35,
        },
    )

    assert response.status_code == 200
    assert response.headers["ETag"] == '"2"'
    expected = {
        **created,
        "customer": {**created["customer"], "phone": "0121 496 0001"},
        "customer_reference": "PO-9",
        "driver_notes": "Ring twice.",
        "order_notes": "VIP",
        "service_level": "2MAN-ROC",
        "unload_minutes": 35,
        "version": 2,
    }
    assert without_volatile(response.json()) == without_volatile(expected)
    assert response.json()["created_at"] == created["created_at"]
    assert response.json()["updated_at"] > created["updated_at"]
    assert counts() == {**before, "OutboxEvent": before["OutboxEvent"] + 1}
    assert OutboxEvent.objects.last().type == "order.updated"


def test_patching_nothing_new_keeps_the_version(alice_api, depots):
    created = alice_api.post(URL, order_body(driver_notes="Ring twice.")).json()
    before = counts()

    response = alice_api.patch(f"{URL}SO-1/", {"driver_notes": "Ring twice."})

    assert response.status_code == 200
    assert response.json() == created
    assert counts() == before


def test_patching_read_only_fields_changes_nothing(alice_api, depots):
    created = alice_api.post(URL, order_body()).json()

    response = alice_api.patch(
        f"{URL}SO-1/", {"order_no": "SO-2", "order_type": "multi", "status": "completed", "version": 9}
    )

    assert response.status_code == 200
    assert response.json() == created


def test_patching_lines_adds_new_ones_changes_given_ones_and_keeps_missing_ones(alice_api, depots):
    alice_api.post(URL, order_body(lines=[line(1), line(2, quantity=2, sku="CHAIR")]))

    response = alice_api.patch(
        f"{URL}SO-1/",
        {"lines": [{"line_no": 2, "quantity": 4, "notes": "Stackable"}, line(3, "MAN", quantity=1, sku="LAMP")]},
    )

    assert response.status_code == 200
    order = response.json()
    assert order["lines"] == [
        line_out(1),
        line_out(2, "CHAIR", 4, notes="Stackable"),
        line_out(3, "LAMP", 1, stock_location="MAN"),
    ]
    assert order["groups"][0]["lines"] == order["lines"]
    assert (order["status"], order["version"], order["earliest_delivery_date"]) == (
        "awaiting_stock",
        2,
        day(2).isoformat(),
    )
    assert [(m["from_location"], m["status"], m["lines"]) for m in order["movements"]] == [
        ("MAN", "pending", [{"line_no": 3, "sku": "LAMP", "quantity": 1}])
    ]


def test_patching_lines_with_replace_lines_removes_the_lines_not_given(alice_api, depots):
    alice_api.post(URL, order_body(lines=[line(1, stock_location="MAN"), line(2, quantity=2, sku="CHAIR")]))

    response = alice_api.patch(f"{URL}SO-1/", {"lines": [{"line_no": 2}], "replace_lines": True})

    assert response.status_code == 200
    order = response.json()
    assert order["lines"] == [line_out(2, "CHAIR", 2)]
    assert (order["status"], order["version"]) == ("ready", 2)
    assert [m["status"] for m in order["movements"]] == ["cancelled"]


def test_replace_lines_without_lines_changes_nothing(alice_api, depots):
    created = alice_api.post(URL, order_body(lines=[line(1), line(2, quantity=2, sku="CHAIR")])).json()

    response = alice_api.patch(f"{URL}SO-1/", {"replace_lines": True})

    assert response.status_code == 200
    assert response.json() == created


@pytest.mark.parametrize(
    ("lines", "errors"),
    [
        (
            [{"line_no": 5, "quantity": 1}],
            {
                "lines.0.sku": ["This field is required for a new line."],
                "lines.0.stock_location": ["This field is required for a new line."],
                "lines.0.delivery_method": ["This field is required for a new line."],
            },
        ),
        ([{"line_no": 1, "quantity": 0}], {"lines.0.quantity": ["Ensure this value is greater than or equal to 1."]}),
        ([{"quantity": 2}], {"lines.0.line_no": ["This field is required."]}),
        ([{"line_no": 1}, {"line_no": 1}], {"lines": ["line_no 1 appears more than once."]}),
        (
            [{"line_no": 1, "stock_location": "XXX"}],
            {"lines.0.stock_location": ["Unknown or inactive stock location code 'XXX'."]},
        ),
    ],
)
def test_patching_bad_lines_is_refused_with_400_and_changes_nothing(alice_api, depots, lines, errors):
    created = alice_api.post(URL, order_body()).json()
    before = counts()

    response = alice_api.patch(f"{URL}SO-1/", {"lines": lines})

    assert response.status_code == 400
    assert response.json() == {"errors": errors}
    assert counts() == before
    assert alice_api.get(f"{URL}SO-1/").json() == created


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"customer": {"name": ""}}, {"customer.name": ["This field may not be blank."]}),
        (
            {"required_date": "2026-13-45"},
            {"required_date": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]},
        ),
        (
            {"required_time_from": "18:00", "required_time_to": "09:00"},
            {"required_time_to": ["The window must end after it starts."]},
        ),
        (
            {"address": {"postal_code": "12345"}},
            {"address.postal_code": ["'12345' is not a valid postal code for GB."]},
        ),
        ({"address": {"country": "ZZ"}}, {"address.country": ["'ZZ' is not an ISO 3166 country code."]}),
        (
            {"address": {"line1": ""}},
            {"address.non_field_errors": ["An address needs line1, postal_code and country, or lat and lng."]},
        ),
        ({"service_level": "GOLD"}, {"service_level": ["Unknown or inactive service level code 'GOLD'."]}),
        ({"unload_minutes": -1}, {"unload_minutes": ["Ensure this value is greater than or equal to 0."]}),
    ],
)
def test_patching_bad_header_fields_is_refused_with_400_and_changes_nothing(alice_api, depots, body, errors):
    created = alice_api.post(URL, order_body()).json()
    before = counts()

    response = alice_api.patch(f"{URL}SO-1/", body)

    assert response.status_code == 400
    assert response.json() == {"errors": errors}
    assert counts() == before
    assert alice_api.get(f"{URL}SO-1/").json() == created


def test_patching_part_of_the_address_keeps_the_rest(alice_api, depots):
    alice_api.post(URL, order_body())

    response = alice_api.patch(f"{URL}SO-1/", {"address": {"line2": "Flat 2", "postal_code": "b3 1aa"}})

    assert response.status_code == 200
    order = response.json()
    changed = address(line2="Flat 2", postal_code="B3 1AA")
    assert order["address"] == changed
    assert order["groups"][0]["address"] == changed
    assert order["version"] == 2


def test_patching_the_address_to_a_position_only_is_accepted(alice_api, depots):
    alice_api.post(URL, order_body())

    response = alice_api.patch(
        f"{URL}SO-1/", {"address": {"line1": "", "postal_code": "", "lat": "52.5", "lng": "-1.9"}}
    )

    assert response.status_code == 200
    assert response.json()["address"] == address("", "", lat=52.5, lng=-1.9)


def test_putting_lines_replaces_every_line(alice_api, depots):
    alice_api.post(URL, order_body(lines=[line(1), line(2, "MAN", quantity=2, sku="CHAIR")]))

    response = alice_api.put(
        f"{URL}SO-1/lines/", {"lines": [line(7, quantity=1, sku="BED"), line(8, "LDS", quantity=1, sku="MATTRESS")]}
    )

    assert response.status_code == 200
    assert response.headers["ETag"] == '"2"'
    order = response.json()
    assert order["lines"] == [line_out(7, "BED"), line_out(8, "MATTRESS", stock_location="LDS")]
    assert [(m["from_location"], m["status"], [x["line_no"] for x in m["lines"]]) for m in order["movements"]] == [
        ("MAN", "cancelled", [2]),
        ("LDS", "pending", [8]),
    ]


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"lines": []}, {"lines": ["An order needs at least one line."]}),
        ({}, {"lines": ["This field is required."]}),
        (
            {"lines": [{"line_no": 1, "quantity": 2}]},
            {
                "lines.0.sku": ["This field is required."],
                "lines.0.stock_location": ["This field is required."],
                "lines.0.delivery_method": ["This field is required."],
            },
        ),
    ],
)
def test_putting_bad_lines_is_refused_with_400(alice_api, depots, body, errors):
    created = alice_api.post(URL, order_body()).json()

    response = alice_api.put(f"{URL}SO-1/lines/", body)

    assert response.status_code == 400
    assert response.json() == {"errors": errors}
    assert alice_api.get(f"{URL}SO-1/").json() == created


def test_patching_the_group_of_a_delivery_order_changes_the_order_address_and_window_too(alice_api, depots):
    alice_api.post(URL, order_body())

    response = alice_api.patch(
        f"{URL}SO-1/groups/1/",
        {
            "address": {"line1": "9 New Road", "postal_code": "b9 9zz"},
            "required_date": day(6).isoformat(),
            "required_time_from": "09:00",
            "required_time_to": "12:00",
        },
    )

    assert response.status_code == 200
    order = response.json()
    moved = address("9 New Road", "B9 9ZZ")
    assert (order["address"], order["required_date"], order["required_time_from"], order["required_time_to"]) == (
        moved,
        day(6).isoformat(),
        "09:00:00",
        "12:00:00",
    )
    group = order["groups"][0]
    assert (group["address"], group["required_date"], group["required_time_from"], group["required_time_to"]) == (
        moved,
        day(6).isoformat(),
        "09:00:00",
        "12:00:00",
    )
    assert order["version"] == 2


def test_patching_the_group_type_of_a_delivery_order_is_refused(alice_api, depots):
    alice_api.post(URL, order_body())

    response = alice_api.patch(f"{URL}SO-1/groups/1/", {"group_type": "collection"})

    assert response.status_code == 400
    assert response.json() == {"errors": {"group_type": ["Only a multi order's groups can change type."]}}


@pytest.mark.parametrize("path", ["SO-1/", "SO-1/groups/1/"])
@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"required_time_to": "08:00"}, {"required_time_to": ["The window must end after it starts."]}),
        ({"required_time_from": "15:00"}, {"required_time_to": ["The window must end after it starts."]}),
    ],
)
def test_patching_one_end_of_the_window_past_the_other_is_refused_with_400(alice_api, depots, path, body, errors):
    created = alice_api.post(URL, order_body(required_time_from="12:00", required_time_to="14:00")).json()

    response = alice_api.patch(f"{URL}{path}", body)

    assert response.status_code == 400
    assert response.json() == {"errors": errors}
    assert alice_api.get(f"{URL}SO-1/").json() == created


def test_patching_one_end_of_a_multi_orders_later_group_window_is_checked_too(alice_api, alice_client, make_order):
    make_order(
        "MO-1",
        client=alice_client,
        order_type="multi",
        lines=[],
        groups=[
            {"sequence": 1, "group_type": "collection", "address": {"lat": 52, "lng": -1}, "lines": [line(1)]},
            {
                "sequence": 2,
                "group_type": "delivery",
                "address": {"lat": 53, "lng": -2},
                "required_time_from": "12:00",
                "lines": [line(2)],
            },
        ],
    )
    created = alice_api.get(f"{URL}MO-1/").json()

    refused = alice_api.patch(f"{URL}MO-1/groups/2/", {"required_time_to": "08:00"})
    accepted = alice_api.patch(f"{URL}MO-1/groups/2/", {"required_time_to": "16:00"})

    assert refused.status_code == 400
    assert refused.json() == {"errors": {"required_time_to": ["The window must end after it starts."]}}
    assert accepted.status_code == 200
    group = accepted.json()["groups"][1]
    assert (group["required_time_from"], group["required_time_to"]) == ("12:00:00", "16:00:00")
    assert accepted.json()["required_time_to"] == created["required_time_to"]


def test_patching_the_second_group_of_a_multi_order_leaves_the_order_address_alone(alice_api, alice_client, make_order):
    make_order(
        "MO-1",
        client=alice_client,
        order_type="multi",
        lines=[],
        groups=[
            {"sequence": 1, "group_type": "collection", "address": {"lat": 52, "lng": -1}, "lines": [line(1)]},
            {"sequence": 2, "group_type": "delivery", "address": {"lat": 53, "lng": -2}, "lines": [line(2)]},
        ],
    )
    before = alice_api.get(f"{URL}MO-1/").json()

    response = alice_api.patch(f"{URL}MO-1/groups/2/", {"group_type": "collection", "address": {"lat": "53.5"}})

    assert response.status_code == 200
    order = response.json()
    assert order["address"] == before["address"]
    assert order["groups"][0] == before["groups"][0]
    assert (order["groups"][1]["group_type"], order["groups"][1]["address"]["lat"]) == ("collection", 53.5)


@pytest.mark.parametrize("sequence", ["2", "0", "99999999999999999999"])
def test_patching_an_unknown_group_answers_404(alice_api, depots, sequence):
    alice_api.post(URL, order_body())

    response = alice_api.patch(f"{URL}SO-1/groups/{sequence}/", {"required_date": day(2).isoformat()})

    assert response.status_code == 404
    assert response.json() == {"detail": "The order has no such group."}


# --- Status -------------------------------------------------------------------------------------


def test_the_status_answer_has_the_status_history_and_movements(alice_api, depots):
    created = alice_api.post(URL, order_body(lines=[line(stock_location="MAN")])).json()
    reference = created["movements"][0]["reference"]
    alice_api.post(f"/api/v1/stock-movements/{reference}/dispatch/")
    alice_api.post(f"/api/v1/stock-movements/{reference}/receive/")

    response = alice_api.get(f"{URL}SO-1/status/")

    assert response.status_code == 200
    assert response.headers["ETag"] == '"3"'
    answer = response.json()
    assert list(answer) == ["order_no", "status", "tracking_url", "history", "movements", "pod"]
    for item in answer["history"]:
        assert list(item) == ["status", "previous_status", "at", "actor", "note"]
        assert_instant(item.pop("at"))
    movement = alice_api.get("/api/v1/stock-movements/").json()["results"][0]
    assert answer == {
        "order_no": "SO-1",
        "status": "ready",
        "tracking_url": created["tracking_url"],
        "history": [
            {
                "status": "awaiting_stock",
                "previous_status": None,
                "actor": "api_client:alice-erp",
                "note": "Order created.",
            },
            {
                "status": "ready",
                "previous_status": "awaiting_stock",
                "actor": "system",
                "note": f"All stock is at the delivering depot. ({reference} received by api_client:alice-erp)",
            },
        ],
        "movements": [movement],
        "pod": None,
    }
    assert movement["status"] == "received"


def test_the_status_answer_of_a_completed_order_has_its_proof_of_delivery(alice_api, alice_client, make_order):
    order = make_order("SO-1", client=alice_client)
    services.plan_order(order, actor=Actor.system(), plan={"planned_date": day(1).isoformat()})
    services.start_order(order, actor=Actor.system())
    pod = {"signed_by": "A. Smith", "photo_urls": ["https://example.com/p.jpg"], "lat": 52.48, "lng": -1.89}
    services.complete_order(order, actor=Actor.for_inbound("routes"), pod=pod)

    answer = alice_api.get(f"{URL}SO-1/status/").json()

    assert answer["status"] == "completed"
    assert answer["pod"] == pod
    assert [(h["previous_status"], h["status"], h["actor"]) for h in answer["history"]] == [
        (None, "ready", "api_client:alice-erp"),
        ("ready", "planned", "system"),
        ("planned", "in_progress", "system"),
        ("in_progress", "completed", "inbound_source:routes"),
    ]


# --- Cancel -------------------------------------------------------------------------------------


def test_cancelling_an_order_cancels_it_and_its_pending_movements(alice_api, depots):
    created = alice_api.post(URL, order_body(lines=[line(stock_location="MAN")])).json()

    response = alice_api.post(f"{URL}SO-1/cancel/", {"note": "Customer changed their mind."})

    assert response.status_code == 200
    assert response.headers["ETag"] == '"2"'
    order = response.json()
    assert (order["status"], order["version"], order["groups"][0]["status"]) == ("cancelled", 2, "cancelled")
    assert [m["status"] for m in order["movements"]] == ["cancelled"]
    assert without_volatile(order) == without_volatile(
        {
            **created,
            "status": "cancelled",
            "version": 2,
            "groups": [{**created["groups"][0], "status": "cancelled"}],
            "movements": [{**created["movements"][0], "status": "cancelled", "version": 2}],
        }
    )
    history = alice_api.get(f"{URL}SO-1/status/").json()["history"]
    assert (history[-1]["status"], history[-1]["note"]) == ("cancelled", "Customer changed their mind.")
    assert set(OutboxEvent.objects.values_list("type", flat=True)) >= {"order.cancelled", "order.status_changed"}


def test_cancelling_a_cancelled_order_answers_409(alice_api, depots):
    alice_api.post(URL, order_body())
    alice_api.post(f"{URL}SO-1/cancel/")
    before = counts()

    response = alice_api.post(f"{URL}SO-1/cancel/")

    assert response.status_code == 409
    assert response.json() == {"detail": "The order is cancelled; it cannot become cancelled from there."}
    assert counts() == before


def test_a_bad_cancel_note_is_refused_with_400(alice_api, depots):
    alice_api.post(URL, order_body())

    response = alice_api.post(f"{URL}SO-1/cancel/", {"note": ["why"]})

    assert response.status_code == 400
    assert response.json() == {"errors": {"note": ["Not a valid string."]}}
    assert Order.objects.get().status == "ready"


# --- If-Match and refused transitions -----------------------------------------------------------

WRITES = [
    ("patch", "SO-1/", {"driver_notes": "Ring twice."}),
    ("patch", "SO-1/", {"lines": [{"line_no": 1, "quantity": 3}]}),
    ("put", "SO-1/lines/", {"lines": [line(2, sku="CHAIR")]}),
    ("patch", "SO-1/groups/1/", {"required_date": "2026-12-24"}),
    ("post", "SO-1/cancel/", {}),
]
WRITE_IDS = ["header", "lines", "put-lines", "group", "cancel"]


@pytest.mark.parametrize(("method", "path", "body"), WRITES, ids=WRITE_IDS)
@pytest.mark.parametrize("if_match", ['"1"', "1", "*", 'W/"1"'])
def test_a_write_with_a_current_if_match_is_applied(alice_api, depots, method, path, body, if_match):
    alice_api.post(URL, order_body())

    response = getattr(alice_api, method)(f"{URL}{path}", body, headers={"If-Match": if_match})

    assert response.status_code == 200
    assert response.headers["ETag"] == '"2"'
    assert response.json()["version"] == 2


@pytest.mark.parametrize(("method", "path", "body"), WRITES, ids=WRITE_IDS)
def test_a_write_with_a_stale_if_match_answers_412_and_changes_nothing(alice_api, depots, method, path, body):
    alice_api.post(URL, order_body())
    alice_api.patch(f"{URL}SO-1/", {"order_notes": "first change"})
    current = alice_api.get(f"{URL}SO-1/").json()
    before = counts()

    response = getattr(alice_api, method)(f"{URL}{path}", body, headers={"If-Match": '"1"'})

    assert response.status_code == 412
    assert response.json() == {
        "detail": "The order has changed since version 1; it is now at version 2. "
        "Fetch it again and reapply your change."
    }
    assert counts() == before
    assert alice_api.get(f"{URL}SO-1/").json() == current


@pytest.mark.parametrize(("method", "path", "body"), WRITES, ids=WRITE_IDS)
@pytest.mark.parametrize("if_match", ["banana", '"-1"', '"1", "2"', '"9999999999"', ""])
def test_a_write_with_a_garbled_if_match_answers_400(alice_api, depots, method, path, body, if_match):
    created = alice_api.post(URL, order_body()).json()

    response = getattr(alice_api, method)(f"{URL}{path}", body, headers={"If-Match": if_match})

    assert response.status_code == 400
    assert response.json() == {"errors": {"If-Match": ['If-Match must be an ETag such as "3".']}}
    assert alice_api.get(f"{URL}SO-1/").json() == created


def _in_progress(order):
    services.plan_order(order, actor=Actor.system(), plan={})
    services.start_order(order, actor=Actor.system())


def _completed(order):
    _in_progress(order)
    services.complete_order(order, actor=Actor.system(), pod={"signed_by": "Ann"})


def _cancelled(order):
    services.cancel_order(order, actor=Actor.system())


IN_PROGRESS = "The order is in progress; its lines, address and time window can no longer change."
COMPLETED = "The order is completed; its lines, address and time window can no longer change."


@pytest.mark.parametrize(
    ("make_state", "method", "path", "body", "detail"),
    [
        (_in_progress, "patch", "SO-1/", {"lines": [{"line_no": 1, "quantity": 3}]}, IN_PROGRESS),
        (_in_progress, "patch", "SO-1/", {"address": {"postal_code": "B3 1AA"}}, IN_PROGRESS),
        (_in_progress, "put", "SO-1/lines/", {"lines": [line(2)]}, IN_PROGRESS),
        (
            _in_progress,
            "patch",
            "SO-1/groups/1/",
            {"required_date": "2026-12-24"},
            "This leg is in progress; it can no longer change.",
        ),
        (_in_progress, "post", "SO-1/cancel/", {}, "The order is in progress; it cannot become cancelled from there."),
        (_completed, "patch", "SO-1/", {"lines": [{"line_no": 1, "quantity": 3}]}, COMPLETED),
        (_completed, "post", "SO-1/cancel/", {}, "The order is completed; it cannot become cancelled from there."),
        (
            _cancelled,
            "patch",
            "SO-1/",
            {"lines": [line(2)]},
            "The order is cancelled; its lines, address and time window can no longer change.",
        ),
    ],
)
def test_a_change_the_status_forbids_answers_409_and_changes_nothing(
    alice_api, alice_client, make_order, make_state, method, path, body, detail
):
    make_state(make_order("SO-1", client=alice_client))
    current = alice_api.get(f"{URL}SO-1/").json()
    before = counts()

    response = getattr(alice_api, method)(f"{URL}{path}", body)

    assert response.status_code == 409
    assert response.json() == {"detail": detail}
    assert counts() == before
    assert alice_api.get(f"{URL}SO-1/").json() == current


def test_notes_can_still_change_on_an_order_in_progress(alice_api, alice_client, make_order):
    _in_progress(make_order("SO-1", client=alice_client))

    response = alice_api.patch(f"{URL}SO-1/", {"driver_notes": "Use the side door."})

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["driver_notes"]) == ("in_progress", "Use the side door.")


def test_changing_the_lines_of_a_planned_order_takes_it_off_its_plan(alice_api, alice_client, make_order):
    services.plan_order(make_order("SO-1", client=alice_client), actor=Actor.system(), plan={"route_ref": "R1"})

    response = alice_api.patch(f"{URL}SO-1/", {"lines": [{"line_no": 1, "quantity": 2}]})

    assert response.status_code == 200
    order = response.json()
    assert (order["status"], order["groups"][0]["status"], order["groups"][0]["plan"]) == ("ready", "ready", None)
    last = alice_api.get(f"{URL}SO-1/status/").json()["history"][-1]
    assert (last["previous_status"], last["status"], last["actor"]) == ("planned", "ready", "api_client:alice-erp")
    assert last["note"] == "Taken off its plan: the planned order was changed by api_client:alice-erp."
