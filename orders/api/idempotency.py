"""Idempotency-Key for order creation (SPEC §5), stored with a hash of the body (pretix style).

The key row is committed before the work starts, so a concurrent second request sees it: same
body and still in flight is 409, another body 422, same body and done replays the first answer.
A first request that died (in flight past IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS) or a key older
than 24 hours is taken over by the next request with a conditional update that only one can win.
"""

import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.response import Response

from ..models import IdempotencyKey
from .serializers import as_json

REPLAYED_HEADER = "Idempotent-Replayed"
KEPT_HEADERS = ("ETag", "Location")


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
