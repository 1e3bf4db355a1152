"""Failure counters in the shared cache (Redis in production), counted in fixed windows.

Used by the login throttle and the tracking page's guessing limit. Every call fails open: with the
cache down nothing is counted and every count reads 0, so an outage never locks anyone out (the same
choice as the API's rate limits).
"""

import logging

from django.core.cache import cache

logger = logging.getLogger(__name__)


def read(keys, *, purpose):
    """The current counts of `keys`, in order (0 for a key never counted)."""
    try:
        values = cache.get_many(keys)
    except Exception:  # noqa: BLE001 - a cache outage must not take the page down
        logger.warning("%s: cache unavailable; nothing is throttled", purpose, exc_info=True)
        return [0 for _ in keys]
    return [int(values.get(key) or 0) for key in keys]


def bump(keys, window_seconds, *, purpose):
    """Count one more for each of `keys`; a key's window starts at its first count."""
    try:
        for key in keys:
            if not cache.add(key, 1, window_seconds):
                cache.incr(key)
    except Exception:  # noqa: BLE001
        logger.warning("%s: cache unavailable; not counted", purpose, exc_info=True)


def forget(key, *, purpose):
    try:
        cache.delete(key)
    except Exception:  # noqa: BLE001
        logger.warning("%s: cache unavailable; not cleared", purpose, exc_info=True)
