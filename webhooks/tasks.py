"""Celery tasks of outbound delivery. They take ids and call `delivery.py`; each is safe to run twice.

- `fan_out_events`: started on the outbox's after-commit signal (when a subscription wants one of
  the events' types, receivers.py); makes the deliveries, sends the
  first batch of them itself (no second trip through the broker) and queues the rest in batches.
- `deliver_batch`: one attempt of each delivery of a batch that is still pending and due.
- `deliver`: the same for one delivery (kept for messages queued before batches existed).
- `sweep` (celery beat, every WEBHOOK_SWEEP_SECONDS): fans out events the signal missed or skipped and queues
  every pending delivery whose `next_attempt_at` has come, in batches. Retry waits live in that
  column, not in Celery countdowns, so a restart or a lost message delays a delivery but never loses it.
"""

import logging
import math
import time
from collections import defaultdict

from celery import shared_task
from django.conf import settings

from . import delivery

logger = logging.getLogger(__name__)


def batches(delivery_ids):
    size = max(1, settings.WEBHOOK_BATCH_SIZE)
    delivery_ids = list(delivery_ids)
    return [delivery_ids[n : n + size] for n in range(0, len(delivery_ids), size)]


def enqueue(delivery_ids, countdown=None):
    """Queue `deliver_batch` for these ids, WEBHOOK_BATCH_SIZE a task; a broker outage is logged, and
    the sweeper catches up later."""
    for batch in batches(delivery_ids):
        try:
            deliver_batch.apply_async((batch,), countdown=countdown, retry=False)
        except Exception:  # noqa: BLE001 - any broker error; the rows are still there
            logger.warning("could not queue webhook deliveries %s; the sweeper will", batch, exc_info=True)
            return False
    return True


def send(delivery_ids):
    """Attempt the deliveries now, in this task, and queue their soon retries."""
    retry_soon(delivery.attempt_many(delivery_ids))


def retry_soon(waits):
    """Queue the retries due within WEBHOOK_COUNTDOWN_MAX_SECONDS, one task per whole second of wait
    (rounded up, so the task never comes before the row is due); longer waits wait for the sweeper."""
    by_second = defaultdict(list)
    for delivery_id, wait in waits.items():
        by_second[math.ceil(wait)].append(delivery_id)
    for seconds, ids in sorted(by_second.items()):
        enqueue(ids, countdown=seconds)


@shared_task
def fan_out_events(event_ids):
    """Make the deliveries of these outbox events, send the first batch and queue the others."""
    delivery_ids = delivery.fan_out(event_ids)
    first, *rest = batches(delivery_ids) or [[]]
    enqueue([pk for batch in rest for pk in batch])
    if first:
        send(first)
    return delivery_ids


@shared_task
def deliver_batch(delivery_ids):
    """Send a batch of deliveries once each; queue their soon retries."""
    send(delivery_ids)


@shared_task
def deliver(delivery_id):
    """Send one delivery once; queue a soon retry with a countdown (longer waits wait for the sweeper)."""
    send([delivery_id])


SWEEP_BATCH = 1000


@shared_task
def sweep():
    """Pick up what the signal missed and every delivery whose time has come.

    Events the signal did not queue because no subscription wanted their type (receivers.py) come
    here too, so the sweeper fans out batch after batch until it has caught up (or has used half of
    its period): one statement per SWEEP_BATCH events."""
    fanned_out = 0
    deadline = time.monotonic() + settings.WEBHOOK_SWEEP_SECONDS / 2
    while True:
        missed = delivery.events_not_fanned_out(limit=SWEEP_BATCH)
        if missed:
            delivery.fan_out(missed)
        fanned_out += len(missed)
        if len(missed) < SWEEP_BATCH or time.monotonic() > deadline:
            break
    due = delivery.due_deliveries()
    enqueue(due)
    return {"fanned_out": fanned_out, "queued": len(due)}
