"""Listens to the outbox's after-commit signal and starts delivery at once."""

import logging

logger = logging.getLogger(__name__)


def on_event_recorded(sender, event_ids, **kwargs):
    """Queue the fan-out of the events just committed. If the broker is down the events wait for the
    sweeper: the order's request must not fail or stall because Redis is away."""
    from .tasks import fan_out_events

    try:
        fan_out_events.apply_async((list(event_ids),), retry=False)
    except Exception:  # noqa: BLE001 - any broker error
        logger.warning("could not queue the fan-out of events %s; the sweeper will", event_ids, exc_info=True)
