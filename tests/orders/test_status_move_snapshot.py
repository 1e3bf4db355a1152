"""A status move that had to wait for another writer renders the order as that writer left it.

On PostgreSQL plan, start and fail send the lock of the order and its groups and the read of its
lines and movements together (one round trip, orders/services.py `_lock_legs`). The read must see
what a writer the lock waited for committed: read in the same statement as the lock, it would not
(subqueries keep the snapshot taken before the wait). Real threads, real transactions.
"""

import threading

import pytest
from django.db import connection, transaction

from orders import services
from orders.domain import Actor
from orders.models import Order, OrderLine, OutboxEvent

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 30
EDITED = "Edited while the move waited"


def lock_waiters():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


PLAN = {"planned_date": "2030-03-05", "route_ref": "R1"}
MOVES = {
    "plan": lambda no: services.plan_order(no, actor=Actor.system(), plan=PLAN),
    "start": lambda no: services.start_order(no, actor=Actor.system()),
    "fail": lambda no: services.fail_order(no, actor=Actor.system(), reason_code="NOT-HOME"),
}


@pytest.mark.parametrize("name", list(MOVES))
def test_a_move_that_waited_for_a_line_edit_sends_the_edited_lines(make_order, name):
    if connection.vendor != "postgresql":
        pytest.skip("the pipelined lock and read are PostgreSQL's")
    order = make_order("SO-1")
    if name != "plan":  # start moves a planned order, fail one in progress
        services.plan_order("SO-1", actor=Actor.system(), plan=PLAN)
    if name == "fail":
        services.start_order("SO-1", actor=Actor.system())
    move = MOVES[name]
    edited, release, errors = threading.Event(), threading.Event(), []

    def editor():
        try:
            with transaction.atomic():
                Order.objects.select_for_update().get(pk=order.pk)
                OrderLine.objects.filter(order=order).update(description=EDITED)
                edited.set()
                release.wait(WAIT)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    def mover():
        try:
            move("SO-1")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    first = threading.Thread(target=editor)
    first.start()
    assert edited.wait(WAIT)
    second = threading.Thread(target=mover)
    second.start()
    for _ in range(WAIT * 20):  # until the move waits on the editor's lock
        if lock_waiters():
            break
        threading.Event().wait(0.05)
    else:
        release.set()
        pytest.fail("the move never waited for the editor's lock")
    release.set()
    first.join(WAIT)
    second.join(WAIT)
    assert errors == []

    event = OutboxEvent.objects.filter(order=order).latest("id")
    lines = event.payload["data"]["lines"]
    assert lines and all(line["description"] == EDITED for line in lines)
