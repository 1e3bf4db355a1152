"""services.create_orders, behind the API's bulk create: every order checked first, then all inserted
together; when that insert fails, each order is created on its own so each still gets its own answer."""

from django.db import DataError

from orders import representation, services
from orders.domain import Actor, OrderError
from orders.models import Order, OutboxEvent, StatusChange, StockMovement
from tests.conftest import line, order_body, order_input


def spec(order_no, **overrides):
    made = order_input(order_body(order_no, **overrides))
    return made["fields"], made.get("lines"), made.get("groups")


def test_orders_made_together_are_the_orders_made_one_by_one(depots):
    alone = services.create_order(
        actor=Actor.system(), **order_input(order_body("ONE", lines=[line(1, "MAN"), line(2, "LDS")]))
    )

    together = services.create_orders(
        actor=Actor.system(),
        orders=[spec("TWO", lines=[line(1, "MAN"), line(2, "LDS")]), spec("THREE", lines=[line(1, "MAN")])],
    )

    assert [o.order_no for o in together] == ["TWO", "THREE"]
    fresh = representation.order_dict(representation.with_related().get(order_no="TWO"))
    answered = representation.order_dict(together[0])
    assert answered == fresh
    assert {k: v for k, v in fresh.items() if k not in ("order_no", "created_at", "updated_at", "tracking_url")} | {
        "movements": None
    } == {
        k: v
        for k, v in representation.order_dict(alone).items()
        if k not in ("order_no", "created_at", "updated_at", "tracking_url")
    } | {"movements": None}
    assert [(m["from_location"], m["status"]) for m in fresh["movements"]] == [("MAN", "pending"), ("LDS", "pending")]
    assert StockMovement.objects.filter(order__order_no="TWO").count() == 2
    assert StatusChange.objects.filter(order__order_no="THREE").count() == 2  # the movement's and the order's
    created = OutboxEvent.objects.get(type="order.created", order__order_no="TWO")
    assert created.payload["data"] == fresh


def test_a_number_taken_before_or_earlier_in_the_request_is_refused_and_the_others_are_made(depots, make_order):
    make_order("OLD")

    outcomes = services.create_orders(
        actor=Actor.system(), orders=[spec("NEW"), spec("OLD"), spec("NEW"), spec("LAST")]
    )

    assert isinstance(outcomes[0], Order) and isinstance(outcomes[3], Order)
    assert [(type(o), o.message) for o in outcomes[1:3]] == [
        (OrderError, "An order with order_no OLD already exists."),
        (OrderError, "An order with order_no NEW already exists."),
    ]
    assert sorted(Order.objects.values_list("order_no", flat=True)) == ["LAST", "NEW", "OLD"]


def test_when_the_insert_of_all_fails_each_order_is_made_or_refused_on_its_own(depots):
    # The domain takes the name as given; the column holds 100 characters, so only the insert refuses it.
    outcomes = services.create_orders(
        actor=Actor.system(),
        orders=[spec("A-1", lines=[line(1, "MAN")]), spec("A-2", customer={"name": "x" * 101}), spec("A-3")],
    )

    assert isinstance(outcomes[0], Order) and isinstance(outcomes[2], Order)
    assert isinstance(outcomes[1], DataError)
    assert sorted(Order.objects.values_list("order_no", flat=True)) == ["A-1", "A-3"]
    assert StockMovement.objects.filter(order__order_no="A-1").count() == 1
    assert OutboxEvent.objects.filter(type="order.created").count() == 2
    assert not StatusChange.objects.filter(order__order_no="A-2").exists()


def test_copy_writes_json_as_orjson_text_and_leaves_what_orjson_refuses_to_the_field(db):
    """services._json_text: the outbox payloads go to COPY as compact JSON text; a value orjson refuses
    (a key that is not text, an integer beyond 64 bits) or None takes the JSONField's own adaptation."""
    from django.db import connection

    field = OutboxEvent._meta.get_field("payload")
    assert services._json_text(field, {"type": "order.created", "data": {"lat": None, "n": [1, 2.5]}}, connection) == (
        '{"type":"order.created","data":{"lat":null,"n":[1,2.5]}}'
    )
    for value in ({1: "a"}, {"big": 10**30}):
        written, expected = services._json_text(field, value, connection), field.get_db_prep_save(value, connection)
        assert type(written) is type(expected) and written.obj is value  # psycopg's Jsonb, as the field adapts it
    assert services._json_text(field, None, connection) == field.get_db_prep_save(None, connection)
