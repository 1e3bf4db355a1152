"""`representation.order_dicts` (a page rendered from set-based reads) makes exactly what
`representation.order_dict` makes for each order: the same JSON, key order included."""

import json
from datetime import time

import pytest
from django.contrib.auth import get_user_model
from django.db.models import F

from orders import representation, services
from orders.domain import Actor
from orders.models import Order, OrderGroup, OrderLine, StockMovementLine
from tests.conftest import line, order_body, order_input


def _as_json(value):
    return json.dumps(value, sort_keys=False, default=str)


@pytest.fixture
def varied(make_order, alice, depots):
    """Every shape an order takes: plain, trunked on two lanes, multi with a collection leg, a time window,
    a stored customer address, coordinates, a plan, made by a client, a user and the system."""
    client = alice[0]
    user = get_user_model().objects.create_user("office-ann", password="x")  # noqa: S106
    make_order("P-PLAIN")
    make_order("P-TRUNK", client=client, lines=[line(1, stock_location="MAN"), line(2, stock_location="LDS")])
    make_order(
        "P-MULTI",
        client=client,
        order_type="multi",
        lines=[],
        groups=[
            {"sequence": 1, "group_type": "collection", "address": {"lat": 52.5, "lng": -1.25}, "lines": [line(1)]},
            {
                "sequence": 2,
                "group_type": "delivery",
                "address": {"lat": 52, "lng": -2},
                "lines": [line(2, stock_location="MAN", weight_kg="12.5", cube_m3="0.75"), line(3, notes="Fragile")],
            },
        ],
    )
    make_order(
        "P-WINDOW",
        order_type="collection",
        required_time_from="09:00",
        required_time_to="12:30",
        address={"line1": "2 Low Road", "town": "Leeds", "postal_code": "LS1 1AA", "country": "GB", "lat": 53.8},
        order_notes="Ring twice",
        driver_notes="Side door",
        lines=[line(3, stock_location="BHM"), line(1, stock_location="MAN"), line(2)],
    )
    services.create_order(actor=Actor.for_user(user), **order_input(order_body("P-USER")))
    # What the service layer does not reach on create: a stored customer address, a plan, a delivered
    # quantity, a second group's window.
    Order.objects.filter(order_no="P-PLAIN").update(
        customer_address={"line1": "9 Old Street", "postal_code": "B1 1AA", "lat": "52.1", "lng": ""},
        earliest_delivery_date=F("required_date"),
        attempt_count=2,
    )
    OrderGroup.objects.filter(order__order_no="P-MULTI", sequence=2).update(
        plan={"route_ref": "R-1", "eta": "10:00"}, required_time_from=time(8), required_time_to=time(10)
    )
    OrderLine.objects.filter(order__order_no="P-TRUNK", line_no=2).update(delivered_quantity=0)
    return list(Order.objects.order_by("order_no").values_list("order_no", flat=True))


def test_a_page_renders_every_order_exactly_as_order_dict_does(varied):
    queryset = Order.objects.filter(order_no__in=varied).order_by("order_no")
    one_by_one = [representation.order_dict(order) for order in representation.with_related(queryset)]

    together = representation.order_dicts(representation.order_values(queryset))

    assert [o["order_no"] for o in together] == varied
    assert _as_json(together) == _as_json(one_by_one)
    # The shapes this covers: movements with lines, groups with a plan, every kind of source.
    assert sum(len(o["movements"]) for o in together) >= 2
    assert {o["source"] for o in together} == {"system", "api_client:alice-erp", "user:office-ann"}
    assert any(g["plan"] for o in together for g in o["groups"])


def test_a_page_of_orders_with_a_movement_without_lines_and_odd_line_numbers_renders_alike(varied):
    StockMovementLine.objects.filter(movement__order__order_no="P-TRUNK", line_no=1).delete()
    queryset = Order.objects.filter(order_no__in=varied).order_by("-order_no")
    one_by_one = [representation.order_dict(order) for order in representation.with_related(queryset)]

    assert _as_json(representation.order_dicts(representation.order_values(queryset))) == _as_json(one_by_one)


def test_a_page_takes_two_queries_after_its_rows_whatever_its_size(varied, django_assert_num_queries):
    rows = list(representation.order_values(Order.objects.order_by("id")))
    with django_assert_num_queries(2):
        assert len(representation.order_dicts(rows)) == len(varied)
    with django_assert_num_queries(2):
        assert len(representation.order_dicts(rows[:1])) == 1
    with django_assert_num_queries(0):
        assert representation.order_dicts([]) == []
