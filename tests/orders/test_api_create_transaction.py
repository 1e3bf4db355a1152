"""POST /api/v1/orders/ with an Idempotency-Key is one transaction: claim, create and kept answer.
A refusal by the domain rolls the create back and still keeps its answer for replay."""

import json

import pytest

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


@pytest.mark.django_db(transaction=True)
def test_in_its_own_transaction_the_kept_answer_goes_with_the_commit_and_the_hooks_still_run(alice_api, depots):
    """Outside a test's transaction (as in production) the answer's UPDATE and the COMMIT are one
    message; the order and its answer are committed (seen from another connection) before the 201,
    the on-commit hooks run once, and the key replays and refuses as always."""
    from django.db import connection, connections
    from django.test.utils import CaptureQueriesContext

    from orders.events import event_recorded

    announced = []

    def note(sender, event_ids, event_types, **kwargs):
        announced.append(list(event_types))

    event_recorded.connect(note)
    body = order_body("SO-C1", lines=[line(1, stock_location="MAN", delivery_method="BHM-VANS")])
    try:
        with CaptureQueriesContext(connection) as queries:
            first = alice_api.post(URL, body, headers={"Idempotency-Key": "own-tx"})
    finally:
        event_recorded.disconnect(note)

    assert first.status_code == 201, first.json()
    sent = [q["sql"] for q in queries.captured_queries]
    kept = [n for n, sql in enumerate(sent) if sql.startswith("UPDATE orders_idempotencykey")]
    assert len(kept) == 1 and sent[kept[0]].endswith("; COMMIT")
    # Whatever follows is the on-commit hooks' (the webhook fan-out's check), after the COMMIT.
    assert all("orders_" not in sql or sql.startswith("SELECT") for sql in sent[kept[0] + 1 :])
    assert not connection.in_atomic_block and connection.get_autocommit()
    assert len(announced) == 1 and "order.created" in announced[0]
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute(
                "SELECT k.state, k.response_status, k.response_body, o.order_no FROM orders_idempotencykey k, "
                "orders_order o WHERE k.key = %s AND o.order_no = %s",
                ["own-tx", "SO-C1"],
            )
            state, status, answer, order_no = cursor.fetchone()
    finally:
        other.close()
    assert (state, status, order_no) == (IdempotencyKey.State.DONE, 201, "SO-C1")
    assert (answer if isinstance(answer, dict) else json.loads(answer)) == first.json()

    again = alice_api.post(URL, body, headers={"Idempotency-Key": "own-tx"})
    assert (again.status_code, again.json(), again.headers["Idempotent-Replayed"]) == (201, first.json(), "true")
    other_body = order_body("SO-C2", lines=[line(1, "BHM")])
    assert alice_api.post(URL, other_body, headers={"Idempotency-Key": "own-tx"}).status_code == 422
    # The next create on the same connection starts a transaction of its own as usual.
    assert alice_api.post(URL, other_body, headers={"Idempotency-Key": "own-tx-2"}).status_code == 201
    assert Order.objects.filter(order_no__in=["SO-C1", "SO-C2"]).count() == 2


def _sent(queries):
    return [q["sql"] for q in queries.captured_queries]


def test_the_reference_data_is_read_in_the_claim_s_statement_and_answers_as_before(alice_api, depots):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from orders.api.views import MAX_LINES

    body = order_body("SO-R1", lines=[line(1, stock_location="MAN", delivery_method="BHM-VANS")])
    with CaptureQueriesContext(connection) as queries:
        first = alice_api.post(URL, body, headers={"Idempotency-Key": "ref-1"})
    assert first.status_code == 201, first.json()
    claims = [sql for sql in _sent(queries) if "INTO orders_idempotencykey" in sql]
    assert len(claims) == 1 and claims[0].startswith("WITH claim AS") and "row_to_json" in claims[0]
    assert not any(sql.lstrip().startswith("SELECT 'service_level'") for sql in _sent(queries))
    assert first.json()["movements"][0]["reference"] == f"MV-{StockMovement.objects.get().pk:06d}"

    # A replay reads nothing more into the answer; a create without a key reads the data on its own.
    again = alice_api.post(URL, body, headers={"Idempotency-Key": "ref-1"})
    assert (again.status_code, again.json()) == (201, first.json())
    with CaptureQueriesContext(connection) as queries:
        plain = alice_api.post(URL, order_body("SO-R2", lines=[line(1, "BHM")]))
    assert plain.status_code == 201
    assert any(sql.lstrip().startswith("SELECT 'service_level'") for sql in _sent(queries))

    # Unknown codes and too many lines are refused with the same answers through the claim's statement.
    unknown = alice_api.post(URL, order_body("SO-R3", lines=[line(1, "NOWHERE")]), headers={"Idempotency-Key": "ref-3"})
    assert unknown.status_code == 400
    assert unknown.json() == alice_api.post(URL, order_body("SO-R3", lines=[line(1, "NOWHERE")])).json()
    many = order_body("SO-R4", lines=[line(n, "BHM") for n in range(1, MAX_LINES + 2)])
    with CaptureQueriesContext(connection) as queries:
        refused = alice_api.post(URL, many, headers={"Idempotency-Key": "ref-4"})
    assert refused.status_code == 400
    assert refused.json() == {
        "errors": {"lines": [f"An order has at most {MAX_LINES} lines across all its groups; this one has 501."]}
    }
    assert not any("row_to_json" in sql for sql in _sent(queries))
