"""Celery tasks of outbound delivery. They take ids and call `delivery.py`; each is safe to run twice.

- `fan_out_events`: started on the outbox's after-commit signal; makes the deliveries and sends them.
- `deliver`: one attempt of one delivery, if it is still pending and due.
- `sweep` (celery beat, every WEBHOOK_SWEEP_SECONDS): fans out events the signal missed and queues
  every pending delivery whose `next_attempt_at` has come. Retry waits live in that column, not in
  Celery countdowns, so a restart or a lost message delays a delivery but never loses it.
"""

import logging

from celery import shared_task

from . import delivery

logger = logging.getLogger(__name__)


def enqueue(delivery_ids, countdown=None):
    """Queue `deliver` for each id; a broker outage is logged, and the sweeper catches up later."""
    for delivery_id in delivery_ids:
        try:
            deliver.apply_async((delivery_id,), countdown=countdown, retry=False)
        except Exception:  # noqa: BLE001 - any broker error; the row is still there
            logger.warning("could not queue webhook delivery %s; the sweeper will", delivery_id, exc_info=True)
            return False
    return True


@shared_task
def fan_out_events(event_ids):
    """Make the deliveries of these outbox events and queue them."""
    delivery_ids = delivery.fan_out(event_ids)
    enqueue(delivery_ids)
    return delivery_ids


@shared_task
def deliver(delivery_id):
    """Send one delivery once; queue a soon retry with a countdown (longer waits wait for the sweeper)."""
    wait = delivery.attempt(delivery_id)
    if wait is not None:
        enqueue([delivery_id], countdown=wait)


@shared_task
def sweep():
    """Pick up what the signal missed and every delivery whose time has come."""
    missed = delivery.events_not_fanned_out()
    if missed:
        delivery.fan_out(missed)
    due = delivery.due_deliveries()
    enqueue(due)
    return {"fanned_out": len(missed), "queued": len(due)}
