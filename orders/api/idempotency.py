"""Idempotency-Key for order creation (docs/api.md), stored with a hash of the body (pretix style).

The key is claimed, the order created and the answer kept in one transaction: one commit, and no
moment in which the order exists while its key is still in flight. A concurrent second request with
the same key waits on the key's unique index until the first commits, then replays its answer.
A refusal (4xx) rolls the work back and keeps its answer in a short transaction of its own; a key
committed in flight (by a request that died) answers 409, another body 422.
A first request that died (in flight past IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS) or a key older
than 24 hours is taken over by the next request with a conditional update that only one can win.
"""

import hashlib
import json
import re
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from ..db import prepared_cursor
from ..models import IdempotencyKey

REPLAYED_HEADER = "Idempotent-Replayed"
KEPT_HEADERS = ("ETag", "Location")
KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")


class IdempotentCreate:
    """A viewset's `create` made idempotent by one wrapper around its finished response.

    The key is claimed once the request is authenticated; a replay answers in place of the view; the
    answer the view gave, a refusal included, is kept for the next request with the same key. A
    request that raised past the API's error handling (a 500) gives its key back for a retry.
    """

    idempotency = None
    replay = None
    in_transaction = False
    outermost = False

    class Replay(Exception):  # noqa: N818 - not an error: the first answer, given again
        pass

    def dispatch(self, request, *args, **kwargs):
        if (
            request.method != "POST"
            or "Idempotency-Key" not in request.headers
            or self.action_map.get("post") != "create"
        ):
            return super().dispatch(request, *args, **kwargs)
        self.in_transaction = True
        # Only a transaction of our own ends with a real COMMIT (in tests it is a savepoint).
        self.outermost = not transaction.get_connection().in_atomic_block
        with transaction.atomic():
            response = super().dispatch(request, *args, **kwargs)
            refused = self.idempotency is not None and self.replay is None and response.status_code >= 400
            if refused:
                transaction.set_rollback(True)
        if refused and response.status_code < 500:
            keep_refusal(self.idempotency, response)
        return response

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        key = request.headers.get("Idempotency-Key")
        if self.action != "create" or key is None:
            return
        if not KEY_RE.match(key):
            raise ValidationError({"Idempotency-Key": ["Use 1–255 printable ASCII characters, no spaces."]})
        along = self.claim_along(request) if self.in_transaction else None
        self.idempotency, self.replay = begin(request.auth, key, body_hash(request.data), along)
        if self.replay is not None:
            raise self.Replay()

    def claim_along(self, request):
        """A read the create will need, sent with the key's claim (`_claim`): (sql, params, received), or None."""
        return None

    def handle_exception(self, exc):
        if isinstance(exc, self.Replay):
            return self.replay
        try:
            return super().handle_exception(exc)
        except Exception:
            # In the create's transaction the claim is rolled back with everything else.
            if self.idempotency is not None and not self.in_transaction:
                release(self.idempotency)
            raise

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if (
            self.idempotency is not None
            and self.replay is None
            and not (self.in_transaction and response.status_code >= 400)
        ):
            finish(self.idempotency, response, commit=self.in_transaction and self.outermost)
        return response


def as_json(data):
    """Response data as the plain JSON types it is sent as."""
    return json.loads(JSONRenderer().render(data))


class KeyInFlight(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "A request with this Idempotency-Key is still being processed; retry in a moment."


class KeyReused(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "This Idempotency-Key was already used with a different request body."


def body_hash(data):
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def begin(client, key, digest, along=None):
    """Claim the key; return (record, None) to go ahead, or (record, response) to replay. `along`: see `_claim`."""
    now = timezone.now()
    try:
        return _insert(along, client=client, key=key, request_hash=digest), None
    except IntegrityError:
        pass
    record = IdempotencyKey.objects.get(client=client, key=key)
    expired = record.created_at < now - timedelta(seconds=settings.IDEMPOTENCY_TTL_SECONDS)
    abandoned = record.state == IdempotencyKey.State.IN_FLIGHT and record.created_at < now - timedelta(
        seconds=settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS
    )
    if expired or (abandoned and record.request_hash == digest):
        claimed = IdempotencyKey.objects.filter(pk=record.pk, created_at=record.created_at).update(
            request_hash=digest,
            state=IdempotencyKey.State.IN_FLIGHT,
            created_at=now,
            response_status=None,
            response_body=None,
            response_headers={},
        )
        if claimed != 1:
            raise KeyInFlight()
        record.refresh_from_db()
        return record, None
    if record.request_hash != digest:
        raise KeyReused()
    if record.state == IdempotencyKey.State.IN_FLIGHT:
        raise KeyInFlight()
    headers = {**record.response_headers, REPLAYED_HEADER: "true"}
    return record, Response(record.response_body, status=record.response_status, headers=headers)


def _cursor(conn):
    """The claim and the answer are the same two statements on every create: prepared on PostgreSQL."""
    return prepared_cursor() if conn.vendor == "postgresql" else conn.cursor()


def _claim(along=None, **fields):
    """Claim the key inside the caller's transaction: INSERT … ON CONFLICT DO NOTHING, which waits for
    a concurrent claim of the same key to commit or roll back and raises nothing (no savepoint).

    `along`: a view's read that needs no answer from the claim, (sql, named params, received), sent in
    the same statement on PostgreSQL (`WITH claim AS (INSERT …) SELECT 'claim', … UNION ALL <its
    SELECT>`): one round trip for both. Its rows are (kind, text); `received` gets them whether or
    not the key was free (a replay then ignores them)."""
    record = IdempotencyKey(**fields, created_at=timezone.now())
    table = IdempotencyKey._meta.db_table
    conn = transaction.get_connection()
    empty = "'{}'::jsonb" if conn.vendor == "postgresql" else "'{}'"  # SQLite (bin/run) keeps JSON as text
    values = [record.client_id, record.key, record.request_hash, record.state, record.created_at]
    if along is not None and conn.vendor == "postgresql":
        sql, params, received = along
        names = ("claim_client", "claim_key", "claim_hash", "claim_state", "claim_at")
        with _cursor(conn) as cursor:
            cursor.execute(
                f"WITH claim AS (INSERT INTO {table} (client_id, key, request_hash, state, response_headers, "  # noqa: S608
                f"created_at) VALUES (%(claim_client)s, %(claim_key)s, %(claim_hash)s, %(claim_state)s, {empty}, "
                "%(claim_at)s) ON CONFLICT (client_id, key) DO NOTHING RETURNING id) "
                "SELECT 'claim', id::text FROM claim UNION ALL " + sql,
                {**params, **dict(zip(names, values, strict=True))},
            )
            rows = cursor.fetchall()
        received([row for row in rows if row[0] != "claim"])
        claimed = [row for row in rows if row[0] == "claim"]
        row = (int(claimed[0][1]),) if claimed else None
    else:
        with _cursor(conn) as cursor:
            cursor.execute(
                f"INSERT INTO {table} (client_id, key, request_hash, state, response_headers, created_at) "  # noqa: S608
                f"VALUES (%s, %s, %s, %s, {empty}, %s) ON CONFLICT (client_id, key) DO NOTHING RETURNING id",
                values,
            )
            row = cursor.fetchone()
    if row is None:
        raise IntegrityError("the key is taken")
    record.pk = row[0]
    record._state.adding = False
    return record


def keep_refusal(record, response):
    """Keep a refused create's answer (its transaction was rolled back, the claim with it)."""
    with transaction.atomic():
        try:
            claimed = _claim(client=record.client, key=record.key, request_hash=record.request_hash)
        except IntegrityError:
            return  # another request with the key got there first and keeps its own answer
        finish(claimed, response)


def _insert(along=None, **fields):
    """Claim the key with one INSERT: inside a transaction (the API create) without raising into it."""
    if transaction.get_connection().in_atomic_block:
        return _claim(along, **fields)
    return IdempotencyKey.objects.create(**fields)


def finish(record, response, commit=False):
    """Keep the answer for replay; a server error releases the key so the client can retry.

    `commit`: this is the last statement of the create's own transaction (the outermost
    `transaction.atomic`, nothing sent after it): on PostgreSQL the answer's UPDATE and the COMMIT
    go as one message of two statements, one round trip instead of two (session 6). The COMMIT is a
    real one, before the answer is sent; the `atomic` block ending just after finds the transaction
    committed (psycopg then sends nothing) and runs the on-commit hooks as usual. If the UPDATE fails
    the COMMIT is not run, the transaction is aborted and rolled back, as before."""
    if response.status_code >= 500:
        record.delete()
        return
    record.state = IdempotencyKey.State.DONE
    record.response_status = response.status_code
    record.response_headers = {h: response[h] for h in KEPT_HEADERS if response.has_header(h)}
    if not getattr(response, "accepted_renderer", None):
        record.response_body = as_json(response.data)
        record.save(update_fields=["state", "response_status", "response_body", "response_headers"])
        return
    # The answer is rendered once, here: the same bytes are sent and kept (Django's handler does not
    # render a rendered response again), and the database parses them into the JSON column itself.
    body = response.render().content.decode()
    table = IdempotencyKey._meta.db_table
    conn = transaction.get_connection()
    json_param = "%s::jsonb" if conn.vendor == "postgresql" else "%s"
    together = (
        commit
        and conn.vendor == "postgresql"
        and len(conn.atomic_blocks) == 1  # the create's own transaction, no savepoint open inside it
        and not conn.needs_rollback
    )
    # With the COMMIT: Django's own cursor (client-side binding, PostgreSQL's simple protocol, which
    # takes two statements in one message); otherwise the prepared statement.
    with conn.cursor() if together else _cursor(conn) as cursor:
        cursor.execute(
            f"UPDATE {table} SET state = %s, response_status = %s, response_body = {json_param}, "  # noqa: S608
            f"response_headers = {json_param} WHERE id = %s" + ("; COMMIT" if together else ""),
            [
                record.state,
                record.response_status,
                body or None,
                json.dumps(record.response_headers),
                record.pk,
            ],
        )


def release(record):
    IdempotencyKey.objects.filter(pk=record.pk, state=IdempotencyKey.State.IN_FLIGHT).delete()


def purge_expired():
    cutoff = timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_TTL_SECONDS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
