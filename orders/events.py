"""The outbox: every change writes its events as rows in its own transaction (docs/webhooks.md).

The webhooks app listens to `event_recorded`, sent once the transaction has committed, and
delivers the events. If the broker or a receiver is down nothing is lost: the rows are there.
"""

from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from .instances import new
from .models import OutboxEvent
from .representation import _instants, keep_created, movement_dict, order_dict

# Sent after commit with `event_ids`, the ids of the OutboxEvent rows just recorded, and `event_types`,
# the distinct types among them.
event_recorded = Signal()

ORDER_STATUS_EVENTS = {
    "completed": OutboxEvent.Type.ORDER_COMPLETED,
    "failed": OutboxEvent.Type.ORDER_FAILED,
    "cancelled": OutboxEvent.Type.ORDER_CANCELLED,
}


def _body(event_type, now, data):
    return {"type": str(event_type), "timestamp": now.isoformat(), "data": data}


def record(*, order=None, order_types=(), movement_events=()):
    """Write one row per event, each type once, and announce them after commit.

    `order_types` are order.* types; their `data` is the order as the API returns it now, so the
    caller records events after its last change. `movement_events` are (type, movement) pairs.
    """
    return record_many([(order, order_types, movement_events)])


def record_many(changes):
    """`record` for several orders at once: (order, order_types, movement_events) triples, one INSERT."""
    rows = build_many(changes)
    if not rows:
        return []
    OutboxEvent.objects.bulk_create(rows)
    announce(rows)
    return rows


def build_many(changes):
    """The unsaved outbox rows of `record_many`, for a caller that inserts them with other rows (the
    create's single statement, services._write); it then calls `announce` with them, saved."""
    assert transaction.get_connection().in_atomic_block, "events are recorded inside the change's transaction"
    now = timezone.now()
    instant = _instants()  # the office's time zone looked up once for every instant rendered
    rows = []
    for order, order_types, movement_events in changes:
        rows += _rows(order, order_types, movement_events, now, instant)
    return rows


def build_status(order, order_types, order_data):
    """The unsaved outbox rows of a status move (services._finish_status): its order.* types, each
    once, all with the `order_data` the caller rendered once from what it holds."""
    assert transaction.get_connection().in_atomic_block, "events are recorded inside the change's transaction"
    now = timezone.now()
    return [
        OutboxEvent(type=event_type, occurred_at=now, order=order, payload=_body(event_type, now, order_data))
        for event_type in dict.fromkeys(order_types)
    ]


def announce(rows):
    """Send `event_recorded` with the saved rows' ids (and their types, so a listener can tell
    whether anyone wants them without reading the rows) once the transaction commits."""
    ids = [row.pk for row in rows]
    if ids:
        types = sorted({str(row.type) for row in rows})
        transaction.on_commit(
            lambda: event_recorded.send(sender=OutboxEvent, event_ids=ids, event_types=types), robust=True
        )


def _rows(order, order_types, movement_events, now, instant=None):
    rows = []
    seen = set()
    order_data = None
    # The movements rendered within the order's data, reused by their own events (the same dict).
    rendered = {}
    for event_type in order_types:
        if event_type in seen:
            continue
        seen.add(event_type)
        if order_data is None:
            order_data = order_dict(order, instant=instant, movements=rendered)
            if event_type == OutboxEvent.Type.ORDER_CREATED:
                keep_created(order, order_data)
        rows.append(
            new(OutboxEvent, type=event_type, occurred_at=now, order=order, payload=_body(event_type, now, order_data))
        )
    for event_type, movement in movement_events:
        if (event_type, movement.pk) in seen:
            continue
        seen.add((event_type, movement.pk))
        rows.append(
            new(
                OutboxEvent,
                type=event_type,
                occurred_at=now,
                order_id=movement.order_id,
                movement=movement,
                payload=_body(event_type, now, rendered.get(id(movement)) or movement_dict(movement, instant=instant)),
            )
        )
    return rows


def status_event_types(old_status, new_status):
    """The order.* events a status change causes: status_changed, plus completed/failed/cancelled."""
    if old_status == new_status:
        return []
    types = [OutboxEvent.Type.ORDER_STATUS_CHANGED]
    if new_status in ORDER_STATUS_EVENTS:
        types.append(ORDER_STATUS_EVENTS[new_status])
    return types
