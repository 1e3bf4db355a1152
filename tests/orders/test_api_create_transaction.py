"""POST /api/v1/orders/ with an Idempotency-Key is one transaction: claim, create and kept answer.
A refusal by the domain rolls the create back and still keeps its answer for replay."""

from orders.models import IdempotencyKey, Order, OutboxEvent, StatusChange, StockMovement
from tests.conftest import line, order_body

URL = "/api/v1/orders/"


def test_a_create_the_domain_refuses_keeps_nothing_but_its_answer(alice_api, depots, make_order):
    make_order("SO-TAKEN")
    before = (Order.objects.count(), StockMovement.objects.count(), StatusChange.objects.count())
    events = OutboxEvent.objects.count()
    body = order_body("SO-TAKEN", lines=[line(1, stock_location="MAN")])

    first = alice_api.post(URL, body, headers={"Idempotency-Key": "taken-1"})
    second = alice_api.post(URL, body, headers={"Idempotency-Key": "taken-1"})

    assert first.status_code == second.status_code == 409
    assert first.json() == second.json()
    assert "already exists" in first.json()["detail"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert (Order.objects.count(), StockMovement.objects.count(), StatusChange.objects.count()) == before
    assert OutboxEvent.objects.count() == events
    key = IdempotencyKey.objects.get(key="taken-1")
    assert (key.state, key.response_status) == (IdempotencyKey.State.DONE, 409)


def test_a_created_order_and_its_kept_answer_are_written_together(alice_api, depots):
    response = alice_api.post(
        URL, order_body("SO-1", lines=[line(1, stock_location="MAN")]), headers={"Idempotency-Key": "k"}
    )

    assert response.status_code == 201
    key = IdempotencyKey.objects.get(key="k")
    assert (key.state, key.response_status, key.response_body) == (IdempotencyKey.State.DONE, 201, response.json())
    assert response.json()["movements"][0]["reference"] == f"MV-{StockMovement.objects.get().pk:06d}"
