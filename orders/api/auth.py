"""API keys, scopes and per-client rate limits (docs/api.md)."""

import functools
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.core.signals import setting_changed
from django.db import connection
from django.dispatch import receiver
from django.utils import timezone
from rest_framework import authentication, exceptions, permissions, throttling

from ..db import prepared_cursor
from ..models import ApiClient

logger = logging.getLogger(__name__)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer sp_<key id>_<secret>`: the key id finds the client, the secret is checked
    against its stored SHA-256 digest in constant time.

    The client is read on every request (a deactivated client is refused from its next one), by one
    indexed SELECT written out once (`key_lookup`): building it through the ORM cost more Python than
    the rest of the check. The same row says whether `last_used_at` is over a minute old; only then is
    it written, so a busy client costs one UPDATE a minute, not one per request."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("The Authorization header must be `Bearer <key>`.")
        try:
            key = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The API key is not valid.")
        parts = ApiClient.split_key(key)
        client, stale = find_client(parts[0]) if parts else (None, False)
        if client is None or not client.check_secret(parts[1]):
            raise exceptions.AuthenticationFailed("The API key is not valid.")
        if stale:
            ApiClient.objects.filter(pk=client.pk).update(last_used_at=timezone.now())
        return client, client

    def authenticate_header(self, request):
        return self.keyword


# `last_used_at` is written when it is older than this (or was never set).
LAST_USED_EVERY = timedelta(minutes=1)
# The columns `find_client` reads (the others are deferred: nothing on the request path uses them).
_CLIENT_FIELDS = ("id", "name", "key_id", "key_hash", "scopes")


@functools.cache
def key_lookup(vendor):
    """The SELECT of an active client by key id, plus whether its last use is older than a parameter."""
    opts = ApiClient._meta
    quote = connection.ops.quote_name
    columns = ", ".join(quote(opts.get_field(name).column) for name in _CLIENT_FIELDS)
    used = quote(opts.get_field("last_used_at").column)
    return (
        f"SELECT {columns}, ({used} IS NULL OR {used} < %s) FROM {quote(opts.db_table)} "  # noqa: S608 - names from the model, values as parameters
        f"WHERE {quote(opts.get_field('key_id').column)} = %s AND {quote(opts.get_field('active').column)}"
    )


def find_client(key_id):
    """(the active client with this key id, or None; whether its `last_used_at` is due to be written)."""
    since = connection.ops.adapt_datetimefield_value(timezone.now() - LAST_USED_EVERY)
    # Prepared on PostgreSQL (orders.db): the same text on every API request, and planning it was
    # most of its server time (0.2 ms of the backend's CPU per request, ~0.05 prepared; session 6).
    with prepared_cursor() if connection.vendor == "postgresql" else connection.cursor() as cursor:
        cursor.execute(key_lookup(connection.vendor), [since, key_id])
        row = cursor.fetchone()
    if row is None:
        return None, False
    values = list(row[:-1])
    values[-1] = ApiClient._meta.get_field("scopes").from_db_value(values[-1], None, connection)
    return ApiClient.from_db(connection.alias, _CLIENT_FIELDS, values), bool(row[-1])


class HasScopes(permissions.BasePermission):
    """Reads need the view's `read_scope`, writes its `write_scope` (None: any valid key)."""

    message = "This API key does not have the scope this request needs."

    def has_permission(self, request, view):
        client = request.auth
        if not isinstance(client, ApiClient):
            return False
        if request.method in permissions.SAFE_METHODS:
            scope = getattr(view, "read_scope", None)
        else:
            scope = getattr(view, "write_scope", None)
        if scope and not client.has_scope(scope):
            self.message = f"This API key lacks the scope {scope}."
            return False
        return True


class ApiClientRateThrottle(throttling.BaseThrottle):
    """API_RATE_LIMIT requests per client in any trailing window of the rate's period (a moving window,
    as DRF's SimpleRateThrottle counted), in the shared cache's Redis (locmem: in the process).

    `limits` keeps each client's window as a capped Redis list checked and extended by one Lua script:
    one round trip per request and no history shipped back and forth (DRF's throttle read and wrote the
    whole list of timestamps, pickled, in two). A refused request is not counted; its Retry-After is
    the time until the oldest counted request leaves the window.

    If the cache cannot be reached the request is let through and the outage logged: a rate limit
    is there to protect the service, not to turn a Redis outage into lost orders.
    """

    scope = "api_client"
    wait_seconds = None

    def allow_request(self, request, view):
        if not isinstance(request.auth, ApiClient):
            return True
        ident = str(request.auth.pk)
        try:
            limiter, item = rate_limiter()
            if limiter.hit(item, self.scope, ident):
                return True
            self.wait_seconds = max(limiter.get_window_stats(item, self.scope, ident).reset_time - time.time(), 1)
            return False
        except Exception:  # noqa: BLE001 - any cache client error
            logger.warning("rate limit cache unavailable; request allowed", exc_info=True)
            return True

    def wait(self):
        return self.wait_seconds


_limiters = {}


def rate_limiter():
    """(limiter, rate) for the current CACHES and API_RATE_LIMIT, made once per process."""
    cache_settings = settings.CACHES["default"]
    config = (cache_settings["BACKEND"], str(cache_settings.get("LOCATION", "")), settings.API_RATE_LIMIT)
    made = _limiters.get(config)
    if made is None:
        # Imported here, not at the top: Celery processes import this module but never limit a
        # request, and `limits` is ~2.7 MiB of each process (the Celery worker was at 101 MiB with it).
        import limits
        import limits.storage
        import limits.strategies

        if cache_settings["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
            url = config[1].split(",")[0]  # the first server is the one Django writes to
            if url.startswith("unix://"):
                url = "redis+" + url
            storage = limits.storage.RedisStorage(url, **cache_settings.get("OPTIONS", {}))
        else:
            storage = limits.storage.MemoryStorage()
        # "600/min" (checked at start-up by settings.envrate): the period is named by its first letter, as in DRF.
        number, period = settings.API_RATE_LIMIT.split("/")
        seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]
        made = _limiters[config] = (
            limits.strategies.MovingWindowRateLimiter(storage),
            limits.RateLimitItemPerSecond(int(number), seconds),
        )
    return made


@receiver(setting_changed)
def _forget_limiters(setting, **kwargs):
    """Tests change the cache or the rate: the next request counts afresh in the new one."""
    if setting in ("CACHES", "API_RATE_LIMIT"):
        _limiters.clear()


def sees_all(client):
    return client.has_scope(ApiClient.Scope.ORDERS_ALL)
