"""Listens to the outbox's after-commit signal and starts delivery at once.

A fan-out task is queued only when some active subscription wants one of the events' types: a
create that nobody subscribed to would otherwise cost a broker publish in the web process and a
whole task in the worker (on the bench machine the worker's task took 8–20 ms of CPU per create,
more than the create's own SQL) to find that there is nothing to send. Which types are wanted is
kept in the cache (shared by every process) for WANTED_TYPES_SECONDS and in each process for
WANTED_TYPES_MEMO_SECONDS, and forgotten when a subscription is saved, deleted, enabled or
disabled. An event skipped because that answer was a moment stale (a subscription made in another
process just now), or because nobody wanted it, has no fan-out marker, so the sweeper (celery beat,
every WEBHOOK_SWEEP_SECONDS) fans it out like any event the signal missed: nothing recorded is
lost; at worst it is late.
"""

import logging
import time

from django.core.cache import cache
from django.db import transaction

from .models import ALL_EVENTS, Subscription

logger = logging.getLogger(__name__)

WANTED_TYPES_KEY = "webhooks:wanted-types"
WANTED_TYPES_SECONDS = 10
WANTED_TYPES_MEMO_SECONDS = 0.5


# The last answer of the cache, kept in this process for WANTED_TYPES_MEMO_SECONDS: a cache read
# through Django's Redis backend costs ~0.4 ms of CPU (it makes a client per call), a create ~20 ms.
_memo = [0.0, None]


def wanted_types():
    """The event types some active subscription wants (ALL_EVENTS among them when one wants all), or
    None when the cache cannot say (it is down): then every event is queued, as before."""
    now = time.monotonic()
    if _memo[1] is not None and now < _memo[0]:
        return _memo[1]
    try:
        wanted = cache.get(WANTED_TYPES_KEY)
    except Exception:  # noqa: BLE001 - any cache error: do not guess, queue
        return None
    if wanted is None:
        wanted = set()
        for types in Subscription.objects.filter(active=True).values_list("event_types", flat=True):
            wanted.update(t for t in types or () if isinstance(t, str))
        wanted = frozenset(wanted)
        try:
            cache.set(WANTED_TYPES_KEY, wanted, WANTED_TYPES_SECONDS)
        except Exception:  # noqa: BLE001 - the answer stands; the next create reads again
            logger.warning("could not cache the wanted webhook event types", exc_info=True)
    _memo[:] = [now + WANTED_TYPES_MEMO_SECONDS, wanted]
    return wanted


def _forget():
    _memo[:] = [0.0, None]
    try:
        cache.delete(WANTED_TYPES_KEY)
    except Exception:  # noqa: BLE001 - the cached set expires on its own; the sweeper catches up
        logger.warning("could not forget the wanted webhook event types", exc_info=True)


def forget_wanted_types(**kwargs):
    """Subscriptions changed: read them again from the next event on. Forgotten now (this
    transaction's own events see the change) and again once it commits (another process may have
    read the subscriptions in between, without the change)."""
    _forget()
    transaction.on_commit(_forget, robust=True)


def is_wanted(event_types):
    """Whether a fan-out of events of these types can make a delivery (None: unknown, so yes)."""
    if event_types is None:
        return True
    wanted = wanted_types()
    if wanted is None or ALL_EVENTS in wanted:
        return True
    return any(str(t) in wanted for t in event_types)


def on_event_recorded(sender, event_ids, event_types=None, **kwargs):
    """Queue the fan-out of the events just committed, if a subscription wants any of them. If the
    broker is down the events wait for the sweeper: the order's request must not fail or stall
    because Redis is away."""
    from .tasks import fan_out_events

    if not is_wanted(event_types):
        return
    try:
        fan_out_events.apply_async((list(event_ids),), retry=False)
    except Exception:  # noqa: BLE001 - any broker error
        logger.warning("could not queue the fan-out of events %s; the sweeper will", event_ids, exc_info=True)
