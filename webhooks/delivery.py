"""Fan-out and delivery of outbox events (the wire of Standard Webhooks).

Each function is its own transaction (a send keeps its delivery row locked for the length of the
request, at most WEBHOOK_TIMEOUT_SECONDS); Celery tasks (`tasks.py`) call them with ids only, and
running any of them twice is harmless.

Retry schedule: after the first attempt fails, attempt n+1 waits WEBHOOK_RETRY_SCHEDULE[n-1] seconds
(default 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h) plus up to 10 % jitter, so receivers
coming back from an outage are not hit by every sender at once. A 429 or 503 with `Retry-After` waits
what the receiver asked for instead (up to a day). The wait is a row (`next_attempt_at`), picked up by
the sweeper; only waits of WEBHOOK_COUNTDOWN_MAX_SECONDS or less also get a Celery countdown. When the
schedule is used up the delivery has failed for good.
"""

import contextlib
import dataclasses
import heapq
import itertools
import json
import logging
import os
import random
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import urllib3
import urllib3.connection
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from . import receivers, signing, ssrf
from .models import ALL_EVENTS, Delivery, DeliveryAttempt, Subscription

logger = logging.getLogger(__name__)

BODY_LOG_BYTES = 1024
MAX_RETRY_AFTER = 24 * 3600
USER_AGENT = "StreamPortal-Webhooks/1.0"


# --- Fan-out ------------------------------------------------------------------------------------

# On PostgreSQL one statement fans out a whole list of events: it marks each event not fanned out
# yet (`webhooks_fanout`, the marker; a concurrent fan-out of the same event waits on its unique
# index, then finds it taken) and makes a delivery row for every active subscription that wants the
# event's type and existed when it happened, for the events it marked only. ON CONFLICT makes a
# second run (signal and sweeper racing) a no-op. The webhook-id is derived from the pair (and its
# timestamps, so a database started afresh never repeats one): a fan-out made again after a crash
# gives every delivery the same id. Events are taken in id order, so two fan-outs of overlapping
# lists wait for each other rather than deadlock.
_FAN_OUT_POSTGRESQL = """
    WITH marked AS (
        INSERT INTO webhooks_fanout (event_id, fanned_out_at)
        SELECT id, %(now)s FROM orders_outboxevent WHERE id = ANY(%(events)s) ORDER BY id
        ON CONFLICT DO NOTHING
        RETURNING event_id
    )
    INSERT INTO webhooks_delivery
        (subscription_id, event_id, event_type, webhook_id, state, attempt_count, next_attempt_at, created_at)
    SELECT s.id, e.id, e.type,
           'msg_' || md5(e.id || '.' || s.id || '.' || e.occurred_at::text || '.' || s.created_at::text),
           'pending', 0, %(now)s, %(now)s
    FROM marked m
    JOIN orders_outboxevent e ON e.id = m.event_id
    JOIN webhooks_subscription s
      ON s.active AND s.created_at <= e.occurred_at
     AND (s.event_types @> jsonb_build_array(e.type) OR s.event_types @> %(all)s::jsonb)
    ORDER BY e.id, s.id
    ON CONFLICT DO NOTHING
    RETURNING id
"""

# SQLite (bin/run) has no data-modifying CTE: one event at a time, the marker first.
_FAN_OUT_SQLITE = """
    INSERT INTO webhooks_delivery
        (subscription_id, event_id, event_type, webhook_id, state, attempt_count, next_attempt_at, created_at)
    SELECT s.id, e.id, e.type, 'msg_' || lower(hex(randomblob(16))), 'pending', 0, %(now)s, %(now)s
    FROM orders_outboxevent e
    JOIN webhooks_subscription s
      ON s.active AND s.created_at <= e.occurred_at
     AND EXISTS (SELECT 1 FROM json_each(s.event_types) t WHERE t.value IN (e.type, %(all_type)s))
    WHERE e.id = %(event)s
    ON CONFLICT DO NOTHING
    RETURNING id
"""


# Lets a transaction's commit return before its WAL is flushed (PostgreSQL's asynchronous commit).
# Used where everything written can be made again: if the database crashes in the fraction of a
# second before the flush, a fan-out is redone by the sweeper with the same webhook-ids, and a lost
# attempt record means the delivery is sent once more with the same webhook-id, which receivers
# drop. It saves a disk flush per fan-out and per batch of attempts, which is most of their cost.
# It is sent in the same round trip as a statement of its transaction (psycopg's client-side
# binding, which Django uses, lets one execute carry several statements).
_ASYNC_COMMIT = "SET LOCAL synchronous_commit TO OFF; "


def fan_out(event_ids):
    """Make the deliveries of these outbox events (those not fanned out yet); return their ids."""
    event_ids = sorted(set(event_ids))
    if not event_ids:
        return []
    if connection.vendor == "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                _ASYNC_COMMIT + _FAN_OUT_POSTGRESQL,
                {"now": timezone.now(), "events": event_ids, "all": json.dumps([ALL_EVENTS])},
            )
            cursor.nextset()  # past the SET, to the INSERT's rows
            return [row[0] for row in cursor.fetchall()]
    delivery_ids = []
    for event_id in event_ids:
        with transaction.atomic(), connection.cursor() as cursor:
            now = timezone.now()
            cursor.execute(
                "INSERT INTO webhooks_fanout (event_id, fanned_out_at) "
                "SELECT id, %s FROM orders_outboxevent WHERE id = %s ON CONFLICT DO NOTHING",
                [now, event_id],
            )
            if cursor.rowcount != 1:
                continue
            cursor.execute(_FAN_OUT_SQLITE, {"now": now, "event": event_id, "all_type": ALL_EVENTS})
            delivery_ids += [row[0] for row in cursor.fetchall()]
    return delivery_ids


def events_not_fanned_out(limit=1000):
    """Outbox events the signal missed (broker down, process killed before fan-out), oldest first."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT e.id FROM orders_outboxevent e "
            "WHERE NOT EXISTS (SELECT 1 FROM webhooks_fanout f WHERE f.event_id = e.id) ORDER BY e.id LIMIT %s",
            [limit],
        )
        return [row[0] for row in cursor.fetchall()]


def due_deliveries(limit=1000, now=None):
    """Pending deliveries whose time has come and that no worker is sending right now."""
    now = now or timezone.now()
    with transaction.atomic():
        return list(
            Delivery.objects.filter(state=Delivery.State.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)[:limit]
        )


# --- The wire -----------------------------------------------------------------------------------


class Outcome:
    """What one HTTP attempt gave: a status (or None), the start of the body, an error, Retry-After."""

    def __init__(self, status=None, body="", error="", retry_after=None, duration_ms=0):
        self.status, self.body, self.error = status, body, error
        self.retry_after, self.duration_ms = retry_after, duration_ms
        self.finished = None  # when the attempt ended (set by the sender)

    @property
    def succeeded(self):
        return self.status is not None and 200 <= self.status < 300


class _Watched:
    """Remembers the connection a request of this thread uses, so a watchdog can cut it off."""

    _slot = threading.local()

    def request(self, *args, **kwargs):
        watch = getattr(_Watched._slot, "watch", None)
        if watch is not None:
            watch["connection"] = self
        return super().request(*args, **kwargs)


class _HTTPConnection(_Watched, urllib3.connection.HTTPConnection):
    pass


class _HTTPSConnection(_Watched, urllib3.connection.HTTPSConnection):
    pass


class _Watchdog:
    """One thread per process that cuts off attempts whose whole time is up (a timer thread per
    attempt cost more than the rest of the attempt's bookkeeping)."""

    def __init__(self):
        self.lock = threading.Condition()
        self.heap = []
        self.order = itertools.count()
        self.thread = None
        self.pid = None

    def watch(self, deadline, seconds):
        with self.lock:
            if self.thread is None or self.pid != os.getpid():  # none yet, or a forked child's copy
                self.pid, self.heap = os.getpid(), []
                self.thread = threading.Thread(target=self._run, name="webhook-deadlines", daemon=True)
                self.thread.start()
            heapq.heappush(self.heap, (time.monotonic() + seconds, next(self.order), deadline))
            self.lock.notify()

    def done(self, deadline):
        with self.lock:  # after this, the watchdog never cuts the connection (it may go back to the pool)
            deadline.finished = True

    def _run(self):
        with self.lock:
            while True:
                now = time.monotonic()
                while self.heap and self.heap[0][0] <= now:
                    deadline = heapq.heappop(self.heap)[2]
                    if not deadline.finished:
                        deadline.cut()
                self.lock.wait(self.heap[0][0] - now if self.heap else None)


_watchdog = _Watchdog()


class _Deadline:
    """Cuts the connection when the whole attempt has taken WEBHOOK_TIMEOUT_SECONDS.

    Socket timeouts only bound each read, so a receiver trickling a byte at a time could otherwise
    hold a worker for as long as it liked.
    """

    def __init__(self, seconds):
        self.seconds = seconds
        self.watch = {}
        self.expired = False
        self.finished = False

    def __enter__(self):
        _Watched._slot.watch = self.watch
        _watchdog.watch(self, self.seconds)
        return self

    def __exit__(self, *exc):
        _watchdog.done(self)
        _Watched._slot.watch = None

    def cut(self):
        self.expired = True
        connection = self.watch.get("connection")
        sock = getattr(connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


_pools = {}
_pools_lock = threading.Lock()


def _pool(target):
    """A keep-alive connection pool to the checked address, with Host and TLS names of the URL's host.

    It keeps as many connections as a batch sends at once (WEBHOOK_SEND_CONCURRENCY), so concurrent
    sends to one receiver reuse their connections instead of opening and discarding extra ones.
    """
    ca_bundle = settings.WEBHOOK_CA_BUNDLE
    key = (target.scheme, target.address, target.port, target.host, ca_bundle)
    pool = _pools.get(key)
    if pool is not None:
        return pool
    with _pools_lock:
        pool = _pools.get(key)
        if pool is not None:
            return pool
        if len(_pools) > 256:
            for old in list(_pools.values()):
                old.close()
            _pools.clear()
        kwargs = {"maxsize": max(1, settings.WEBHOOK_SEND_CONCURRENCY), "block": False, "retries": False}
        if target.scheme == "https":
            # The certificate is checked against the URL's host name, though we connect to an address.
            pool = urllib3.HTTPSConnectionPool(
                target.address,
                target.port,
                server_hostname=target.host,
                assert_hostname=target.host,
                cert_reqs="CERT_REQUIRED",
                ca_certs=ca_bundle,
                **kwargs,
            )
        else:
            pool = urllib3.HTTPConnectionPool(target.address, target.port, **kwargs)
        pool.ConnectionCls = _HTTPSConnection if target.scheme == "https" else _HTTPConnection
        _pools[key] = pool
        return pool


# Checked addresses, reused for WEBHOOK_ADDRESS_CACHE_SECONDS: {(url's scheme, host, port, allow_private):
# (Target without the path, checked at)}. Only a passed check is kept (a refusal is asked again every
# time), and only the sender fills it (a URL checked when it is saved is checked again when sent). Within
# the window a host's deliveries go to the address that was checked, even if its DNS answer has changed
# since: that address was public when checked, and nothing unchecked is ever connected to.
_checked = {}
_checked_lock = threading.Lock()


def checked_target(url):
    """ssrf.check(url), answered from the short-lived cache of passed checks when it can be."""
    window = settings.WEBHOOK_ADDRESS_CACHE_SECONDS
    scheme, host, port, path = ssrf.parse(url)
    key = (scheme, host, port, settings.WEBHOOK_ALLOW_PRIVATE_URLS)
    now = time.monotonic()
    hit = _checked.get(key)
    if hit is not None and now - hit[1] < window:
        return dataclasses.replace(hit[0], path=path)
    target = ssrf.check(url)
    if window > 0:
        with _checked_lock:
            if len(_checked) > 1024:
                _checked.clear()
            _checked[key] = (target, now)
    return target


def forget_checked_addresses():
    """Empty the cache of checked addresses (tests that change what a name resolves to)."""
    with _checked_lock:
        _checked.clear()


def retry_after_seconds(value, now=None):
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), or None if unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(int(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return min(max(0, int((when - now).total_seconds())), MAX_RETRY_AFTER)


def post(url, headers, body):
    """POST once, to the address the SSRF guard checked; never follow redirects; read at most 1 KB back."""
    started = time.monotonic()

    def done(**kw):
        return Outcome(duration_ms=int((time.monotonic() - started) * 1000), **kw)

    try:
        target = checked_target(url)
    except ssrf.UnsafeURL as exc:
        return done(error=f"Refused: {exc}")
    timeout = urllib3.Timeout(
        total=settings.WEBHOOK_TIMEOUT_SECONDS,
        connect=settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS,
        read=settings.WEBHOOK_TIMEOUT_SECONDS,
    )
    headers = {**headers, "Host": target.host_header}
    deadline = _Deadline(settings.WEBHOOK_TIMEOUT_SECONDS)
    too_slow = f"No complete answer within {settings.WEBHOOK_TIMEOUT_SECONDS} s."
    try:
        with deadline:
            response = _pool(target).urlopen(
                "POST",
                target.path,
                body=body,
                headers=headers,
                redirect=False,
                retries=False,
                timeout=timeout,
                preload_content=False,
                assert_same_host=False,
            )
            chunk = b""
            try:
                chunk = response.read(BODY_LOG_BYTES, decode_content=False) or b""
            finally:
                # A short body was read to its end and the connection can be kept; a long one is cut off.
                if len(chunk) < BODY_LOG_BYTES and not deadline.expired:
                    response.drain_conn()
                else:
                    response.close()
                response.release_conn()
    except urllib3.exceptions.NewConnectionError as exc:  # a subclass of ConnectTimeoutError: first
        return done(error=f"Connection failed: {exc.__cause__ or exc}"[:500])
    except urllib3.exceptions.ConnectTimeoutError:
        return done(error="Timed out connecting.")
    except (urllib3.exceptions.ReadTimeoutError, TimeoutError):
        return done(error=too_slow)
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        return done(error=too_slow if deadline.expired else f"Connection failed: {exc}"[:500])
    if deadline.expired:
        return done(error=too_slow)
    retry_after = None
    if response.status in (429, 503):
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
    outcome = done(status=response.status, body=chunk.decode("utf-8", "replace"), retry_after=retry_after)
    if 300 <= response.status < 400:
        outcome.error = f"Redirect to {response.headers.get('Location', '?')[:300]} not followed."
    elif not outcome.succeeded:
        outcome.error = f"The receiver answered {response.status}."
    return outcome


def request_for(delivery, now=None, bodies=None):
    """The body and Standard Webhooks headers of one attempt.

    `bodies` (event id → bytes) lets a batch render an event's body once for all its subscriptions.
    """
    now = now or timezone.now()
    body = bodies.get(delivery.event_id) if bodies is not None else None
    if body is None:
        body = json.dumps(delivery.event.payload, separators=(",", ":"), ensure_ascii=False).encode()
        if bodies is not None:
            bodies[delivery.event_id] = body
    timestamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": delivery.webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signing.signature_header(
            delivery.subscription.signing_secrets(now), delivery.webhook_id, timestamp, body
        ),
    }
    return headers, body


def next_wait(attempt_count, outcome):
    """Seconds until the next attempt, or None when the schedule is used up."""
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    if attempt_count > len(schedule):
        return None
    if outcome.retry_after is not None:
        return outcome.retry_after
    base = schedule[attempt_count - 1]
    return base + random.uniform(0, base * 0.1)


def attempt(delivery_id):
    """Send a due pending delivery once and record the outcome. Returns the seconds until its next
    attempt when that is soon enough for a Celery countdown, else None (a batch of one, below)."""
    return attempt_many([delivery_id]).get(delivery_id)


_senders = {}


def _sender_pool():
    """This process's threads that send a batch's requests at once (made after a worker forks)."""
    key = (os.getpid(), settings.WEBHOOK_SEND_CONCURRENCY)
    pool = _senders.get(key)
    if pool is None:
        _senders.clear()
        pool = _senders[key] = ThreadPoolExecutor(max(1, key[1]), thread_name_prefix="webhook-send")
    return pool


def _send(job):
    url, headers, body = job
    outcome = post(url, headers, body)
    outcome.finished = timezone.now()
    return outcome


def attempt_many(delivery_ids):
    """Send each due pending delivery of `delivery_ids` once and record the outcomes; return
    {delivery id: seconds until its next attempt} for those whose next attempt is soon enough for a
    Celery countdown.

    One transaction for the batch, whatever its size: the rows are claimed with one
    SELECT … FOR UPDATE SKIP LOCKED (rows another worker is sending, not due or not pending any more
    are left out) and stay locked while the requests are under way, so two workers never send one
    delivery at once. The requests go out at once, up to WEBHOOK_SEND_CONCURRENCY at a time, each with
    its own timeouts; then every attempt is written with one INSERT and every delivery with one
    UPDATE. If the worker dies mid-batch its transaction rolls back: every delivery of the batch is
    still pending and due, and the sweeper sends it again with the same webhook-id.
    """
    now = timezone.now()
    with transaction.atomic():
        batch = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("subscription", "event")
            .filter(pk__in=list(delivery_ids), state=Delivery.State.PENDING, next_attempt_at__lte=now)
            .order_by("id")
        )
        if not batch:
            return {}  # done, not due, or being sent by other workers
        # One Subscription object per subscription: a 410 disables it for the rest of the batch too.
        subscriptions = {}
        for item in batch:
            item.subscription = subscriptions.setdefault(item.subscription_id, item.subscription)
        outcomes = [None] * len(batch)
        jobs, bodies = [], {}
        for n, item in enumerate(batch):
            if not item.subscription.active:
                outcomes[n] = Outcome(error="Not sent: the subscription is disabled.")
            else:
                headers, body = request_for(item, now, bodies)
                jobs.append((n, (item.subscription.url, headers, body)))
        if len(jobs) == 1:
            sent = [_send(jobs[0][1])]
        else:
            sent = list(_sender_pool().map(_send, [job for _, job in jobs]))
        for (n, _), outcome in zip(jobs, sent, strict=True):
            outcomes[n] = outcome
        waits = _record(batch, outcomes, now)
    for item in batch:
        if item.state == Delivery.State.FAILED and item.subscription.active:
            disable_if_dead(item)
    limit = settings.WEBHOOK_COUNTDOWN_MAX_SECONDS
    return {pk: wait for pk, wait in waits.items() if wait is not None and wait <= limit}


_RECORDED_FIELDS = ["attempt_count", "first_attempt_at", "state", "next_attempt_at", "completed_at"]


def _settle(delivery, outcome, started):
    """Apply one attempt's outcome to its delivery (in memory); return the wait before the next, or None."""
    finished = outcome.finished or timezone.now()
    delivery.attempt_count += 1
    delivery.first_attempt_at = delivery.first_attempt_at or started
    if outcome.succeeded:
        delivery.state = Delivery.State.SUCCEEDED
        delivery.next_attempt_at = None
        delivery.completed_at = finished
        return None
    if outcome.status == 410 or not delivery.subscription.active:
        delivery.state = Delivery.State.FAILED
        delivery.next_attempt_at = None
        delivery.completed_at = finished
        if outcome.status == 410 and delivery.subscription.active:
            disable(delivery.subscription, f"The receiver answered 410 Gone at {finished:%Y-%m-%d %H:%M:%S %Z}.")
        return None
    wait = next_wait(delivery.attempt_count, outcome)
    if wait is None:
        delivery.state = Delivery.State.FAILED
        delivery.next_attempt_at = None
        delivery.completed_at = finished
    else:
        delivery.next_attempt_at = finished + timedelta(seconds=wait)
    return wait


def _record(batch, outcomes, started):
    """Write a batch's attempts (one INSERT) and its deliveries' new state (one UPDATE); return the waits."""
    waits = {item.pk: _settle(item, outcome, started) for item, outcome in zip(batch, outcomes, strict=True)}
    postgresql = connection.vendor == "postgresql"
    DeliveryAttempt.objects.bulk_create(
        [
            DeliveryAttempt(
                delivery=item,
                at=started,
                response_status=outcome.status,
                duration_ms=outcome.duration_ms,
                response_body=outcome.body,
                error=outcome.error[:500],
            )
            for item, outcome in zip(batch, outcomes, strict=True)
        ]
    )
    if postgresql:
        # Django's bulk_update builds a CASE per field and row, which costs more Python than the
        # sends; the same UPDATE from arrays, one per column, with the SET LOCAL in its round trip.
        with connection.cursor() as cursor:
            columns = [[getattr(item, name) for item in batch] for name in _RECORD_COLUMNS]
            cursor.execute(_ASYNC_COMMIT + _RECORD_POSTGRESQL, columns)
    else:
        Delivery.objects.bulk_update(batch, _RECORDED_FIELDS)
    return waits


_RECORD_COLUMNS = ["pk", *_RECORDED_FIELDS]
_RECORD_POSTGRESQL = """
    UPDATE webhooks_delivery d
    SET attempt_count = v.attempt_count, first_attempt_at = v.first_attempt_at, state = v.state,
        next_attempt_at = v.next_attempt_at, completed_at = v.completed_at
    FROM unnest(%s::bigint[], %s::integer[], %s::timestamptz[], %s::text[], %s::timestamptz[], %s::timestamptz[])
        AS v(id, attempt_count, first_attempt_at, state, next_attempt_at, completed_at)
    WHERE d.id = v.id
"""


def disable(subscription, reason):
    """Stop sending to a subscription, saying why (shown to the office and in the API)."""
    Subscription.objects.filter(pk=subscription.pk).update(
        active=False, disabled_reason=reason[:500], updated_at=timezone.now()
    )
    receivers.forget_wanted_types()
    subscription.active, subscription.disabled_reason = False, reason[:500]
    logger.warning("webhook subscription %s disabled: %s", subscription.pk, reason)


def disable_if_dead(delivery):
    """A delivery failed for good: disable its subscription unless something succeeded since it began."""
    revived = Delivery.objects.filter(
        subscription_id=delivery.subscription_id,
        state=Delivery.State.SUCCEEDED,
        completed_at__gte=delivery.first_attempt_at,
    ).exists()
    if not revived:
        last = delivery.attempts.order_by("-id").first()
        why = last.error if last and last.error else "no 2xx answer"
        disable(
            delivery.subscription,
            f"Delivery {delivery.pk} failed after {delivery.attempt_count} attempts ({why}) and nothing has "
            f"been delivered since {delivery.first_attempt_at:%Y-%m-%d %H:%M:%S %Z}.",
        )


# --- Sending again by hand ----------------------------------------------------------------------


def requeue(queryset, now=None):
    """Put deliveries back in the queue for another round (same webhook-id); return their ids."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(queryset.select_for_update(of=("self",)).values_list("id", flat=True))
        Delivery.objects.filter(pk__in=ids).update(
            state=Delivery.State.PENDING, next_attempt_at=now, attempt_count=0, first_attempt_at=None, completed_at=None
        )
    return ids


def redeliver(delivery):
    return requeue(Delivery.objects.filter(pk=delivery.pk))


def redeliver_failed_since(subscription, since):
    """Send again every failed delivery of the subscription that failed at or after `since`."""
    return requeue(
        Delivery.objects.filter(subscription=subscription, state=Delivery.State.FAILED, completed_at__gte=since)
    )


def enable(subscription):
    """Send to the subscription again (after it was disabled); pending deliveries go out as they fall due."""
    Subscription.objects.filter(pk=subscription.pk).update(active=True, disabled_reason="", updated_at=timezone.now())
    receivers.forget_wanted_types()
    subscription.active, subscription.disabled_reason = True, ""


def rotate_secret(subscription):
    """Give the subscription a new secret and return it; the old one keeps signing for 24 h."""
    with transaction.atomic():
        locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
        secret = locked.rotate_secret()
        locked.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
    return secret
