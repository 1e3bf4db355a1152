"""Statements per inbound event, pinned so they cannot creep back up (docs/performance.md).

Counted as Django sends them inside the test's transaction: each `transaction.atomic` is a
SAVEPOINT/RELEASE pair, and BEGIN, COMMIT and the connection health check are not seen. Lower them
as the path gets faster, never raise them.
"""

import pytest

from orders.models import Order

# SAVEPOINT (BEGIN in production); the event's row, already saying `applied`, inserted only while the
# source still has the secret the request was verified with (one statement: the source itself is this
# process's copy); plan_order: the order and its groups FOR UPDATE, the order's lines and movements for
# its JSON, then one statement updating the order and its group and inserting the history and the
# outbox rows; RELEASE (COMMIT). Was 8 (the source read on its own, the event's row UPDATEd at the
# end), 18 before that.
PLANNED_STATEMENTS = 6
# SAVEPOINT; the claim that finds the id taken; the row FOR UPDATE; duplicates + 1; RELEASE. Was 6.
DUPLICATE_STATEMENTS = 5


@pytest.fixture
def warm(make_order, planner):
    """One event first, so lazily loaded state (content types, caches) is not counted."""
    make_order("SO-WARM")
    assert planner.send("order_planned", order_no="SO-WARM").json()["result"] == "applied"
    return planner


def test_an_applied_event_sends_a_fixed_number_of_statements(warm, make_order, django_assert_num_queries):
    make_order("SO-Q1")

    with django_assert_num_queries(PLANNED_STATEMENTS):
        response = warm.send("order_planned", order_no="SO-Q1", webhook_id="msg_q1")

    assert response.status_code == 200 and response.json()["result"] == "applied"
    assert Order.objects.get(order_no="SO-Q1").status == "planned"


def test_a_duplicate_sends_a_fixed_number_of_statements_and_changes_nothing(
    warm, make_order, django_assert_num_queries
):
    make_order("SO-Q2")
    assert warm.send("order_planned", order_no="SO-Q2", webhook_id="msg_q2").json()["result"] == "applied"
    version = Order.objects.get(order_no="SO-Q2").version

    with django_assert_num_queries(DUPLICATE_STATEMENTS):
        response = warm.send("order_planned", order_no="SO-Q2", webhook_id="msg_q2")

    assert response.json()["result"] == "duplicate"
    assert Order.objects.get(order_no="SO-Q2").version == version
