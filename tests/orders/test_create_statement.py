"""The create's single INSERT statement (services._write on PostgreSQL) writes exactly the rows the
ORM's one-bulk_create-per-table path writes (the path SQLite, bin/run's database, takes), and the
answer kept for an Idempotency-Key is the 201 answer itself."""

import json

import pytest
from django.db import connection

from orders import representation, services
from orders.domain import Actor
from orders.models import (
    IdempotencyKey,
    Order,
    OrderGroup,
    OrderLine,
    OutboxEvent,
    StatusChange,
    StockMovement,
    StockMovementLine,
)
from tests.conftest import line, order_body, order_input

# Columns that differ between two creates of the same order by their nature.
VARYING = {"id", "order_no", "tracking_token", "created_at", "updated_at", "status_changed_at", "at", "occurred_at"}


def rows(order):
    """Every row the create wrote for `order`, by table, without ids and instants, foreign keys to
    the order's own rows named by what they point at."""
    lines = {pk: n for pk, n in OrderLine.objects.filter(order=order).values_list("pk", "line_no")}
    groups = {pk: n for pk, n in OrderGroup.objects.filter(order=order).values_list("pk", "sequence")}
    movements = {pk: ref for pk, ref in StockMovement.objects.filter(order=order).values_list("pk", "reference")}

    def clean(values):
        out = {k: v for k, v in values.items() if k not in VARYING and k != "order_id"}
        for name, known in (("group_id", groups), ("order_line_id", lines), ("movement_id", movements)):
            if name in out:
                out[name] = known.get(out[name], out[name])
        if "reference" in out:
            out["reference"] = "MV"
        if "note" in out:
            out["note"] = out["note"].split(" created:")[-1]
        if "movement_id" in out and out["movement_id"]:
            out["movement_id"] = "MV"
        return out

    def payload(event):
        data = json.loads(json.dumps(event["payload"]))["data"]
        for key in ("order_no", "created_at", "updated_at", "tracking_url", "reference"):
            data.pop(key, None)
        for movement in data.get("movements", []):
            for key in ("order_no", "created_at", "updated_at", "reference"):
                movement.pop(key)
        return event["type"], data

    return {
        "order": clean(Order.objects.filter(pk=order.pk).values().get()),
        "groups": [clean(v) for v in OrderGroup.objects.filter(order=order).order_by("sequence").values()],
        "lines": [clean(v) for v in OrderLine.objects.filter(order=order).order_by("line_no").values()],
        "movements": [clean(v) for v in StockMovement.objects.filter(order=order).order_by("id").values()],
        "movement_lines": [
            clean(v) for v in StockMovementLine.objects.filter(movement__order=order).order_by("line_no").values()
        ],
        "history": [clean(v) for v in StatusChange.objects.filter(order=order).order_by("id").values()],
        "outbox": sorted(
            (payload(v) for v in OutboxEvent.objects.filter(order=order).values("type", "payload")), key=json.dumps
        ),
    }


def multi_body(order_no):
    """A multi order: two legs, lines on each, one of them moving stock MAN → BHM."""
    body = order_body(order_no)
    body.update(order_type="multi")
    body.pop("lines")
    first = {"sequence": 1, "group_type": "collection", "address": body["address"], "required_date": "2030-01-07"}
    second = {"sequence": 2, "group_type": "delivery", "address": body["address"], "required_date": "2030-01-09"}
    first["lines"] = [line(1, "BHM"), line(2, "BHM")]
    second["lines"] = [line(3, stock_location="MAN", delivery_method="BHM-VANS"), line(4, "BHM")]
    body["groups"] = [first, second]
    return body


@pytest.mark.parametrize(
    "body",
    [
        lambda n: order_body(n, lines=[line(1, stock_location="MAN", delivery_method="BHM-VANS"), line(2, "LDS")]),
        lambda n: order_body(n, lines=[line(1, "BHM")]),
        multi_body,
    ],
    ids=["two movements", "no movement", "multi order"],
)
def test_the_single_statement_writes_the_rows_the_orm_path_writes(depots, monkeypatch, body):
    if connection.vendor != "postgresql":
        pytest.skip("the single statement is PostgreSQL's")
    together = services.create_order(actor=Actor.system(), **order_input(body("ONE")))
    monkeypatch.setattr(services, "_one_statement", lambda: False)
    orm = services.create_order(actor=Actor.system(), **order_input(body("TWO")))

    assert rows(together) == rows(orm)
    assert rows(together)["lines"]
    # The objects returned carry their ids and render as a fresh read does, without a query.
    assert {line.pk for line in together.lines.all()} == set(
        OrderLine.objects.filter(order=together).values_list("pk", flat=True)
    )
    assert representation.order_dict(together) == representation.order_dict(
        representation.with_related().get(pk=together.pk)
    )


def test_the_orm_path_alone_makes_a_whole_order(depots, monkeypatch, django_assert_num_queries):
    """What SQLite runs: one INSERT per table (here seen on PostgreSQL)."""
    monkeypatch.setattr(services, "_one_statement", lambda: False)
    order = services.create_order(
        actor=Actor.system(), **order_input(order_body("SQ-1", lines=[line(1, "MAN", delivery_method="BHM-VANS")]))
    )

    fresh = representation.with_related().get(order_no="SQ-1")
    assert representation.order_dict(order) == representation.order_dict(fresh)
    assert OutboxEvent.objects.get(order=order, type="order.created").payload["data"] == representation.order_dict(
        fresh
    )
    assert StatusChange.objects.filter(order=order).count() == 2


def test_a_taken_order_number_in_the_single_statement_is_refused_and_writes_nothing(depots, make_order):
    make_order("TAKEN")
    before = {m: m.objects.count() for m in (OrderGroup, OrderLine, StockMovement, StatusChange, OutboxEvent)}

    with pytest.raises(services.OrderError, match="TAKEN already exists"):
        services.create_order(
            actor=Actor.system(), **order_input(order_body("TAKEN", lines=[line(1, "MAN", delivery_method="BHM-VANS")]))
        )

    assert {m: m.objects.count() for m in before} == before


def test_a_value_too_long_for_its_column_is_refused_by_the_database_not_cut(depots):
    """The statement casts values to their base type (varchar, not varchar(n)), so the column refuses a
    long value as bulk_create's INSERT does, instead of an explicit cast cutting it silently."""
    fields = order_input(order_body("LONG-1"))
    fields["fields"]["customer_reference"] = "x" * 5000

    with pytest.raises(services.DataError):
        services.create_order(actor=Actor.system(), **fields)
    assert not Order.objects.filter(order_no="LONG-1").exists()


def test_the_answer_kept_for_an_idempotency_key_is_the_201_answer(alice_api, depots):
    response = alice_api.post(
        "/api/v1/orders/",
        order_body("KEPT-1", lines=[line(1, stock_location="MAN", delivery_method="BHM-VANS")]),
        headers={"Idempotency-Key": "kept-1"},
    )
    assert response.status_code == 201
    record = IdempotencyKey.objects.get(key="kept-1")
    assert record.state == "done" and record.response_status == 201
    assert record.response_body == json.loads(response.content)
    assert record.response_headers == {"ETag": response["ETag"], "Location": response["Location"]}

    replay = alice_api.post(
        "/api/v1/orders/",
        order_body("KEPT-1", lines=[line(1, stock_location="MAN", delivery_method="BHM-VANS")]),
        headers={"Idempotency-Key": "kept-1"},
    )
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    assert json.loads(replay.content) == json.loads(response.content)


@pytest.mark.parametrize("orm", [False, True], ids=["copy", "orm"])
def test_many_orders_copied_are_the_rows_one_create_writes(depots, monkeypatch, orm):
    """A bulk or an import batch (services.create_orders with several orders) reserves the rows' ids and
    COPYs each table on PostgreSQL; SQLite's path (one bulk_create per table) writes the same rows. Both
    are held to what a single create writes, row for row, outbox events included."""
    if connection.vendor != "postgresql" and not orm:
        pytest.skip("COPY is PostgreSQL's")
    bodies = [
        lambda n: order_body(n, lines=[line(1, stock_location="MAN", delivery_method="BHM-VANS"), line(2, "LDS")]),
        lambda n: order_body(n, lines=[line(1, "BHM")]),
        multi_body,
    ]
    alone = [
        services.create_order(actor=Actor.system(), **order_input(body(f"ONE-{i}"))) for i, body in enumerate(bodies)
    ]
    if orm:
        monkeypatch.setattr(services, "_one_statement", lambda: False)
    specs = [order_input(body(f"MANY-{i}")) for i, body in enumerate(bodies)]
    together = services.create_orders(
        actor=Actor.system(), orders=[(s["fields"], s.get("lines"), s.get("groups")) for s in specs]
    )

    assert [rows(order) for order in together] == [rows(order) for order in alone]
    for order in together:
        fresh = representation.order_dict(representation.with_related().get(pk=order.pk))
        assert representation.order_dict(order) == fresh
        assert OutboxEvent.objects.get(order=order, type="order.created").payload["data"] == fresh


def test_the_statement_text_is_written_once_per_shape_and_each_create_writes_its_own_rows(depots):
    if connection.vendor != "postgresql":
        pytest.skip("the single statement is PostgreSQL's")
    from django.test.utils import CaptureQueriesContext

    two = lambda n: order_body(n, lines=[line(1, stock_location="MAN", delivery_method="BHM-VANS"), line(2, "LDS")])  # noqa: E731
    one = lambda n: order_body(n, lines=[line(1, "BHM")])  # noqa: E731
    services._CTE_SQL.clear()
    texts, made, kept = [], [], []
    for body in (two("SH-1"), one("SH-2"), two("SH-3")):
        with CaptureQueriesContext(connection) as queries:
            made.append(services.create_order(actor=Actor.system(), **order_input(body)))
        texts.append(next(q["sql"] for q in queries.captured_queries if q["sql"].startswith("WITH o AS")))
        kept.append(len(services._CTE_SQL))

    assert texts[0] == texts[2] != texts[1]
    assert kept[0] < kept[1] == kept[2]  # the second shape added its CTEs; the first shape's were found
    assert rows(made[0]) == rows(made[2])  # the same shape, each its own rows (order numbers differ)
    assert Order.objects.get(pk=made[2].pk).order_no == "SH-3"
    assert {line.order_id for line in OrderLine.objects.filter(order__order_no__in=["SH-1", "SH-3"])} == {
        made[0].pk,
        made[2].pk,
    }
