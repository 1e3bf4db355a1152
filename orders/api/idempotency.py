"""Idempotency-Key for order creation (docs/api.md), stored with a hash of the body (pretix style).

The key row is committed before the work starts, so a concurrent second request sees it: same
body and still in flight is 409, another body 422, same body and done replays the first answer.
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

    class Replay(Exception):  # noqa: N818 - not an error: the first answer, given again
        pass

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        key = request.headers.get("Idempotency-Key")
        if self.action != "create" or key is None:
            return
        if not KEY_RE.match(key):
            raise ValidationError({"Idempotency-Key": ["Use 1–255 printable ASCII characters, no spaces."]})
        self.idempotency, self.replay = begin(request.auth, key, body_hash(request.data))
        if self.replay is not None:
            raise self.Replay()

    def handle_exception(self, exc):
        if isinstance(exc, self.Replay):
            return self.replay
        try:
            return super().handle_exception(exc)
        except Exception:
            if self.idempotency is not None:
                release(self.idempotency)
            raise

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if self.idempotency is not None and self.replay is None:
            finish(self.idempotency, response)
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


def begin(client, key, digest):
    """Claim the key; return (record, None) to go ahead, or (record, response) to replay."""
    now = timezone.now()
    try:
        return _insert(client=client, key=key, request_hash=digest), None
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


def _insert(**fields):
    """Claim the key with one INSERT. Outside a transaction (the API view calls `begin` before the create's
    own transaction) the INSERT commits by itself: one round trip instead of BEGIN, INSERT, COMMIT. Inside one,
    a savepoint keeps a duplicate key from breaking the caller's transaction."""
    if transaction.get_connection().in_atomic_block:
        with transaction.atomic():
            return IdempotencyKey.objects.create(**fields)
    return IdempotencyKey.objects.create(**fields)


def finish(record, response):
    """Keep the answer for replay; a server error releases the key so the client can retry."""
    if response.status_code >= 500:
        record.delete()
        return
    record.state = IdempotencyKey.State.DONE
    record.response_status = response.status_code
    record.response_body = as_json(response.data)
    record.response_headers = {h: response[h] for h in KEPT_HEADERS if response.has_header(h)}
    record.save(update_fields=["state", "response_status", "response_body", "response_headers"])


def release(record):
    IdempotencyKey.objects.filter(pk=record.pk, state=IdempotencyKey.State.IN_FLIGHT).delete()


def purge_expired():
    cutoff = timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_TTL_SECONDS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
