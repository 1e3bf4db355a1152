"""POST /api/v1/orders/bulk/ (docs/api.md, docs/security.md): up to 500 orders, each created or rejected on its own."""

import json

import pytest
from django.conf import settings

from orders.models import Order, OrderLine, OutboxEvent, StatusChange, StockMovement
from tests.conftest import line, order_body

URL = "/api/v1/orders/bulk/"


def counts():
    return {m.__name__: m.objects.count() for m in (Order, OrderLine, StockMovement, StatusChange, OutboxEvent)}


def created(order_no):
    return {"order_no": order_no, "result": "created", "errors": {}}


def error(order_no, errors):
    return {"order_no": order_no, "result": "error", "errors": errors}


def test_a_mixed_batch_answers_one_result_per_order_in_the_order_given(alice_api, depots, make_order):
    make_order("OLD-1")
    batch = [
        order_body("B-1"),
        order_body("B-2", lines=[line(quantity=0)]),
        order_body("B-3", lines=[line(1, "MAN"), line(2, "LDS")]),
        {"order_no": "B-4"},
        42,
        order_body("B-1", driver_notes="The same number again"),
        order_body("OLD-1"),
        order_body(
            "B-5", customer={"name": ""}, address={"line1": "1 High Street", "postal_code": "1", "country": "GB"}
        ),
        ["not", "an", "order"],
        order_body("B-6", order_type="multi"),
        order_body(" B-7 "),
    ]

    response = alice_api.post(URL, batch)

    assert response.status_code == 200
    assert response.json() == {
        "results": [
            created("B-1"),
            error("B-2", {"lines.0.quantity": ["Ensure this value is greater than or equal to 1."]}),
            created("B-3"),
            error("B-4", {"customer": ["This field is required."]}),
            error(None, {"non_field_errors": ["Invalid data. Expected a dictionary, but got int."]}),
            error("B-1", {"order_no": ["An order with order_no B-1 already exists."]}),
            error("OLD-1", {"order_no": ["An order with order_no OLD-1 already exists."]}),
            error(
                "B-5",
                {
                    "customer.name": ["This field may not be blank."],
                    "address.postal_code": ["'1' is not a valid postal code for GB."],
                },
            ),
            error(None, {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
            error("B-6", {"lines": ["A multi order's lines go inside its groups."]}),
            created("B-7"),
        ]
    }
    assert sorted(Order.objects.values_list("order_no", flat=True)) == ["B-1", "B-3", "B-7", "OLD-1"]
    assert Order.objects.get(order_no="B-1").driver_notes == ""


def test_orders_created_in_bulk_are_the_same_as_created_one_by_one(alice_api, depots):
    alice_api.post(URL, [order_body("B-1", lines=[line(1, "MAN")])])

    order = alice_api.get("/api/v1/orders/B-1/").json()

    assert (order["status"], order["source"], order["version"]) == ("awaiting_stock", "api_client:alice-erp", 1)
    assert [(m["from_location"], m["to_location"], m["status"]) for m in order["movements"]] == [
        ("MAN", "BHM", "pending")
    ]
    created_event = OutboxEvent.objects.get(type="order.created")
    assert created_event.payload["data"] == order
    assert OutboxEvent.objects.filter(type="stock_movement.created").count() == 1


def test_an_empty_batch_answers_no_results(alice_api, depots):
    response = alice_api.post(URL, [])

    assert response.status_code == 200
    assert response.json() == {"results": []}


@pytest.mark.parametrize("body", [order_body("B-1"), {}, "B-1", 7, None, True])
def test_a_body_that_is_not_an_array_is_refused_with_400(alice_api, depots, body):
    before = counts()

    response = alice_api.post(URL, raw="null" if body is None else None, body=body)

    assert response.status_code == 400
    assert response.json() == {"errors": {"non_field_errors": ["Send a JSON array of orders."]}}
    assert counts() == before


def test_broken_json_is_refused_with_400(alice_api, depots):
    response = alice_api.post(URL, raw='[{"order_no": "B-1"')

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["non_field_errors"]
    assert response.json()["errors"]["non_field_errors"][0].startswith("JSON parse error")
    assert Order.objects.count() == 0


def test_501_orders_are_refused_with_400_and_none_created(alice_api, depots):
    before = counts()

    response = alice_api.post(URL, [order_body(f"B-{n}") for n in range(501)])

    assert response.status_code == 400
    assert response.json() == {"errors": {"non_field_errors": ["Send at most 500 orders at once."]}}
    assert counts() == before


def test_500_orders_are_accepted(alice_api, depots):
    response = alice_api.post(URL, [{"order_no": f"B-{n}"} for n in range(500)])

    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["order_no"] for r in results] == [f"B-{n}" for n in range(500)]
    assert {r["result"] for r in results} == {"error"}


def test_a_bulk_body_over_the_size_limit_is_refused_with_413(alice_api, depots):
    body = [order_body("B-1", order_notes="x" * settings.API_MAX_BODY_BYTES)]
    before = counts()

    response = alice_api.post(URL, body)

    assert response.status_code == 413
    assert list(response.json()) == ["detail"]
    assert counts() == before


def test_the_result_names_the_order_number_as_stored(alice_api, depots):
    response = alice_api.post(URL, [order_body(1234), order_body("  B-2\t")])

    assert response.json() == {"results": [created("1234"), created("B-2")]}
    assert sorted(Order.objects.values_list("order_no", flat=True)) == ["1234", "B-2"]


def test_an_order_refused_by_the_domain_does_not_sink_the_batch(alice_api, depots):
    batch = [
        order_body("B-1"),
        order_body("B-2", lines=[line(1), line(1)]),
        order_body("B-3", required_time_from="12:00", required_time_to="08:00"),
        order_body("B-4"),
    ]

    response = alice_api.post(URL, batch)

    assert [r["result"] for r in response.json()["results"]] == ["created", "error", "error", "created"]
    assert response.json()["results"][1]["errors"] == {"lines": ["line_no 1 appears more than once."]}
    assert response.json()["results"][2]["errors"] == {"required_time_to": ["The window must end after it starts."]}
    assert sorted(Order.objects.values_list("order_no", flat=True)) == ["B-1", "B-4"]


@pytest.mark.parametrize(
    ("poison", "message"),
    [
        ("2MAN\x00", "NUL (\\u0000) is not allowed in text."),
        ("2MAN\ud800", "A lone UTF-16 surrogate (\\ud800–\\udfff) is not allowed in text."),
    ],
    ids=["nul", "lone-surrogate"],
)
def test_text_the_database_cannot_hold_refuses_the_whole_batch_before_any_order_is_made(
    alice_api, depots, poison, message
):
    batch = [order_body("B-1"), order_body("B-2", service_level=poison), order_body("B-3")]

    response = alice_api.post(URL, raw=json.dumps(batch))

    assert response.status_code == 400
    assert response.json() == {"errors": {"non_field_errors": [f"JSON parse error - {message}"]}}
    assert Order.objects.count() == 0


def test_json_nested_too_deeply_is_refused_with_400(alice_api, depots):
    response = alice_api.post(URL, raw="[" * 100_000 + "]" * 100_000)

    assert response.status_code == 400
    assert response.json() == {"errors": {"non_field_errors": ["JSON parse error - the body is nested too deeply."]}}


@pytest.mark.parametrize("path", [URL, "/api/v1/orders/"])
def test_codes_that_are_not_strings_anywhere_in_the_request_are_refused_field_by_field(alice_api, depots, path):
    # No code in the request is a string, so no reference data is read: each code field must still
    # answer its own error (a generated request once found this answered 500).
    body = order_body("SO-NUM", lines=[line(stock_location=7, delivery_method=["BHM"])])
    body["service_level"] = 3
    before = Order.objects.count()

    response = alice_api.post(path, [body] if path == URL else body)

    errors = {
        "service_level": ["Not a valid service level code."],
        "lines.0.stock_location": ["Not a valid stock location code."],
        "lines.0.delivery_method": ["Not a valid delivery method code."],
    }
    if path == URL:
        assert response.status_code == 200
        assert response.json() == {"results": [{"order_no": "SO-NUM", "result": "error", "errors": errors}]}
    else:
        assert response.status_code == 400
        assert response.json() == {"errors": errors}
    assert Order.objects.count() == before
