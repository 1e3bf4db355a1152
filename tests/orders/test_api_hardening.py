"""Hostile input (docs/security.md): identifiers, unstorable text, work limits, line invariants on every
write path, bulk atomicity, JSON errors for every URL, the statement timeout. Each answer is a clear
4xx in the API's error shape and changes nothing."""

import json

import pytest
from django.db import connection
from django.test import Client

from orders import reference
from orders.models import Order, OrderGroup, OrderLine, OutboxEvent, StatusChange, StockLocation, StockMovement
from tests.conftest import order_body

URL = "/api/v1/orders/"


def counts():
    models = (Order, OrderGroup, OrderLine, StockMovement, StatusChange, OutboxEvent, StockLocation)
    return {model.__name__: model.objects.count() for model in models}


def lines(count, start=1):
    return [
        {"line_no": n, "sku": f"SKU-{n}", "quantity": 1, "stock_location": "BHM", "delivery_method": "BHM-VANS"}
        for n in range(start, start + count)
    ]


def multi_body(order_no, groups):
    return order_body(
        order_no,
        order_type="multi",
        lines=[],
        groups=[
            {
                "sequence": n + 1,
                "group_type": "delivery",
                "address": {"line1": f"{n} Leg Road", "postal_code": "B2 4QA", "country": "GB"},
                "lines": group_lines,
            }
            for n, group_lines in enumerate(groups)
        ],
    )


# --- Identifiers --------------------------------------------------------------------------------

BAD_ORDER_NOS = [
    pytest.param("SO\x7f1", "The character U+007F is not allowed: use printable characters only.", id="DEL"),
    pytest.param("SO\u20291", "The character U+2029 is not allowed: use printable characters only.", id="U+2029"),
    pytest.param("SO\u200b1", "The character U+200B is not allowed: use printable characters only.", id="zero-width"),
    pytest.param("SO\u202e1", "The character U+202E is not allowed: use printable characters only.", id="bidi"),
    pytest.param("SO\u00a01", "The character U+00A0 is not allowed: use printable characters only.", id="nbsp"),
    pytest.param("bulk", "'bulk' is reserved and cannot be used.", id="bulk"),
    pytest.param("IMPORT", "'IMPORT' is reserved and cannot be used.", id="import"),
    pytest.param(".", "'.' is reserved and cannot be used.", id="dot"),
    pytest.param("..", "'..' is reserved and cannot be used.", id="dot-dot"),
    pytest.param("SO/1", "'/' is not allowed; use letters, digits and punctuation other than / \\ ? # %.", id="slash"),
]


@pytest.mark.parametrize(("order_no", "message"), BAD_ORDER_NOS)
def test_an_order_number_that_cannot_be_addressed_is_refused_with_400(alice_api, depots, order_no, message):
    before = counts()

    response = alice_api.post(URL, order_body(order_no))

    assert response.status_code == 400
    assert response.json() == {"errors": {"order_no": [message]}}
    assert counts() == before


@pytest.mark.parametrize(("order_no", "message"), BAD_ORDER_NOS)
def test_the_service_refuses_the_same_order_numbers_whatever_the_door(make_order, order_no, message):
    from orders.domain import InputError

    with pytest.raises(InputError) as caught:
        make_order(order_no)

    assert caught.value.problems == {("order_no",): message}
    assert Order.objects.count() == 0


@pytest.mark.parametrize("order_no", ["Ø-1", "SO 1", "东京-7", "SO-1.2"])
def test_a_printable_order_number_of_any_script_is_created_and_addressed_by_its_encoded_url(
    alice_api, depots, order_no
):
    response = alice_api.post(URL, order_body(order_no))

    assert response.status_code == 201
    from urllib.parse import quote

    location = f"/api/v1/orders/{quote(order_no, safe='')}/"
    assert response["Location"] == location
    assert location.isascii()
    again = alice_api.get(location)
    assert (again.status_code, again.json()["order_no"]) == (200, order_no)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("A/B", "'/' is not allowed; use letters, digits and punctuation other than / \\ ? # %."),
        ("..", "'..' is reserved and cannot be used."),
        ("A B", "The character U+0020 is not allowed: use printable characters only."),
        ("A\u2028B", "The character U+2028 is not allowed: use printable characters only."),
    ],
)
def test_a_reference_code_that_cannot_be_addressed_is_refused_with_400(ops_api, depots, code, message):
    before = counts()

    response = ops_api.post("/api/v1/stock-locations/", {"code": code, "name": "Depot"})

    assert response.status_code == 400
    assert response.json() == {"errors": {"code": [message]}}
    assert counts() == before


def test_the_admin_holds_codes_to_the_same_rule(depots):
    from django.core.exceptions import ValidationError

    location = StockLocation(code="A/B", name="Depot")
    with pytest.raises(ValidationError) as caught:
        location.full_clean()

    assert caught.value.message_dict == {
        "code": ["'/' is not allowed; use letters, digits and punctuation other than / \\ ? # %."]
    }


# --- Text that cannot be stored -----------------------------------------------------------------

UNSTORABLE = [
    pytest.param("\ud800", "A lone UTF-16 surrogate (\\ud800–\\udfff) is not allowed in text.", id="surrogate"),
    pytest.param("\udfff", "A lone UTF-16 surrogate (\\ud800–\\udfff) is not allowed in text.", id="low-surrogate"),
    pytest.param("a\x00b", "NUL (\\u0000) is not allowed in text.", id="nul"),
]


@pytest.mark.parametrize(("text", "message"), UNSTORABLE)
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", URL, lambda t: order_body("SO-9", lines=[{**lines(1)[0], "stock_location": t}])),
        ("post", "/api/v1/lanes/", lambda t: {"from_location": t, "to_location": "BHM", "transit_days": 1}),
        ("post", "/api/v1/delivery-methods/", lambda t: {"code": "X-VANS", "name": "X", "depot": t}),
        ("post", "/api/v1/orders/bulk/", lambda t: [order_body("B-1"), order_body("B-2", driver_notes=t)]),
        ("patch", f"{URL}SO-1/", lambda t: {t: "key, not value"}),
    ],
    ids=["line-stock-location", "lane", "delivery-method-depot", "bulk", "a-key"],
)
def test_text_the_database_cannot_store_is_refused_at_the_edge(ops_api, make_order, method, path, body, text, message):
    make_order("SO-1")
    before = counts()

    response = getattr(ops_api, method)(path, raw=json.dumps(body(text)))

    assert response.status_code == 400
    assert response.json() == {"errors": {"non_field_errors": [f"JSON parse error - {message}"]}}
    assert counts() == before


# --- Work limits --------------------------------------------------------------------------------


def refuse_any_work(monkeypatch):
    """Make reading reference data (the first step of validating an order) fail the test."""

    def load(*args, **kwargs):
        raise AssertionError("the request was validated although it is over a limit")

    monkeypatch.setattr(reference, "load", load)


def test_an_order_of_many_groups_is_held_to_500_lines_across_them_before_any_work(alice_api, depots, monkeypatch):
    body = multi_body("SO-BIG", [lines(26, start=1 + 26 * n) for n in range(20)])
    before = counts()
    refuse_any_work(monkeypatch)

    response = alice_api.post(URL, body)

    assert response.status_code == 400
    assert response.json() == {
        "errors": {"lines": ["An order has at most 500 lines across all its groups; this one has 520."]}
    }
    assert counts() == before


def test_500_lines_across_groups_are_accepted(alice_api, depots):
    response = alice_api.post(URL, multi_body("SO-500", [lines(250), lines(250, start=251)]))

    assert response.status_code == 201
    assert OrderLine.objects.count() == 500


def test_more_than_20_groups_are_refused(alice_api, depots):
    response = alice_api.post(URL, multi_body("SO-G", [lines(1, start=n + 1) for n in range(21)]))

    assert response.status_code == 400
    assert response.json() == {
        "errors": {"groups.non_field_errors": ["Ensure this field has no more than 20 elements."]}
    }


def test_a_bulk_request_over_5000_lines_is_refused_before_any_work(alice_api, depots, monkeypatch):
    batch = [order_body(f"B-{n}", lines=lines(500)) for n in range(11)]
    before = counts()
    refuse_any_work(monkeypatch)

    response = alice_api.post(f"{URL}bulk/", batch)

    assert response.status_code == 400
    assert response.json() == {
        "errors": {"non_field_errors": ["Send at most 5000 lines in one request; this one has 5500."]}
    }
    assert counts() == before


def test_a_bulk_order_over_500_lines_is_an_error_of_that_order_only(alice_api, depots):
    batch = [order_body("B-1"), multi_body("B-2", [lines(300), lines(201, start=301)])]

    response = alice_api.post(f"{URL}bulk/", batch)

    assert response.status_code == 200
    assert response.json()["results"][1] == {
        "order_no": "B-2",
        "result": "error",
        "errors": {"lines": ["An order has at most 500 lines across all its groups; this one has 501."]},
    }
    assert list(Order.objects.values_list("order_no", flat=True)) == ["B-1"]


def test_patching_lines_past_500_is_refused_and_changes_nothing(ops_api, make_order):
    make_order("SO-1", lines=lines(400))
    before = counts()

    response = ops_api.patch(f"{URL}SO-1/", {"lines": lines(101, start=401)})

    assert response.status_code == 400
    assert response.json() == {
        "errors": {"lines": ["An order has at most 500 lines across all its groups; this one would have 501."]}
    }
    assert counts() == before


# --- An order keeps its lines on every write path -----------------------------------------------


def test_patch_cannot_remove_every_line(ops_api, make_order):
    make_order("SO-1")
    before = counts()

    response = ops_api.patch(f"{URL}SO-1/", {"lines": [], "replace_lines": True})

    assert response.status_code == 400
    assert response.json() == {"errors": {"lines": ["An order needs at least one line."]}}
    assert counts() == before
    assert Order.objects.get().version == 1


def test_put_lines_cannot_empty_a_delivery_leg_of_a_multi_order(alice_api, depots):
    assert alice_api.post(URL, multi_body("SO-M", [lines(1), lines(1, start=2)])).status_code == 201
    before = counts()

    response = alice_api.put(f"{URL}SO-M/lines/", {"lines": [{**lines(1)[0], "sequence": 1}]})

    assert response.status_code == 400
    assert response.json() == {
        "errors": {"lines": ["Every delivery group needs at least one line; group 2 would have none."]}
    }
    assert counts() == before


def test_a_leg_without_lines_cannot_become_a_delivery_leg(alice_api, depots):
    body = multi_body("SO-M", [lines(1), []])
    body["groups"][1]["group_type"] = "collection"
    assert alice_api.post(URL, body).status_code == 201

    response = alice_api.patch(f"{URL}SO-M/groups/2/", {"group_type": "delivery"})

    assert response.status_code == 400
    assert response.json() == {
        "errors": {"group_type": ["Every delivery group needs at least one line; group 2 would have none."]}
    }
    assert OrderGroup.objects.get(sequence=2).group_type == "collection"


# --- Bulk is all or nothing on a server failure -------------------------------------------------


@pytest.fixture
def failing_insert_of_b3(db):
    """A database that fails on one row, as a server fault would (the only way to make one for real)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION fail_b3() RETURNS trigger AS $$ BEGIN "
            "IF NEW.order_no = 'B-3' THEN RAISE EXCEPTION 'disk on fire'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        cursor.execute("CREATE TRIGGER fail_b3 BEFORE INSERT ON orders_order FOR EACH ROW EXECUTE FUNCTION fail_b3()")


def test_a_server_failure_part_way_through_a_bulk_request_keeps_no_order(alice, depots, failing_insert_of_b3):
    client = Client(headers={"Authorization": f"Bearer {alice[1]}"}, raise_request_exception=False)
    batch = [order_body("B-1"), order_body("B-2"), order_body("B-3"), order_body("B-4")]

    response = client.post(f"{URL}bulk/", json.dumps(batch), content_type="application/json")

    assert response.status_code == 500
    assert Order.objects.count() == 0
    assert OutboxEvent.objects.count() == 0


# --- Every URL under /api/ answers JSON, and no statement outlives its worker --------------------


@pytest.mark.parametrize("path", ["/api/nothing/", "/api/v1/nothing/", "/api/v1/orders/SO-1/nothing/", "/api/v2/"])
def test_an_unknown_api_url_answers_a_json_404(alice_api, depots, path):
    response = alice_api.get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found: no API endpoint has this URL."}


def test_a_method_an_endpoint_does_not_take_answers_a_json_405(alice_api, make_order):
    make_order("SO-1")

    response = alice_api.delete(f"{URL}SO-1/")

    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "DELETE" not allowed.'}


def test_every_database_session_stops_a_statement_after_20_seconds(db):
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone() == ("20s",)


def test_a_statement_that_runs_too_long_answers_503(db):
    from django.db import OperationalError, transaction

    from orders.api.errors import exception_handler

    with pytest.raises(OperationalError) as caught, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = '10ms'")
        cursor.execute("SELECT pg_sleep(1)")

    response = exception_handler(caught.value, {})

    assert response.status_code == 503
    assert response.data == {
        "detail": "The request took too long and was stopped; nothing was changed. Try a smaller request."
    }


# --- A page of orders stays small however large its orders ----------------------------------------


def test_a_page_of_orders_stops_at_its_line_budget_and_next_carries_on(ops_api, make_order, monkeypatch):
    from orders.api.views import OrderPagination

    monkeypatch.setattr(OrderPagination, "line_budget", 3)
    for n in range(1, 5):
        make_order(f"SO-{n}", lines=lines(2))
    seen = []

    page = ops_api.get(URL, {"ordering": "created_at"}).json()
    while True:
        seen.append([order["order_no"] for order in page["results"]])
        if not page["next"]:
            break
        page = ops_api.get(page["next"]).json()

    assert seen == [["SO-1"], ["SO-2"], ["SO-3"], ["SO-4"]]


def test_a_page_holds_as_many_orders_as_fit_the_line_budget(ops_api, make_order, monkeypatch):
    from orders.api.views import OrderPagination

    monkeypatch.setattr(OrderPagination, "line_budget", 4)
    for n in range(1, 4):
        make_order(f"SO-{n}", lines=lines(2))

    first = ops_api.get(URL, {"ordering": "created_at"}).json()
    second = ops_api.get(first["next"]).json()

    assert [o["order_no"] for o in first["results"]] == ["SO-1", "SO-2"]
    assert [o["order_no"] for o in second["results"]] == ["SO-3"]
    assert second["next"] is None
