"""Inbound status events from the field (docs/inbound.md): verify, remember, apply through the services.

Boring on purpose. The view hands over the raw body and headers; `verify` checks the Standard
Webhooks signature and timestamp before anything else is read (against this process's copy of the
source, which the claim checks: `source_named`); `receive` parses the event, stores it under its
unique `(source, webhook_id)`, and calls the one function of `orders/services.py` that makes the
change, so the field cannot bypass a rule that the office and the API obey.

Signatures are checked here rather than with the `standardwebhooks` package: the scheme is a dozen
lines of HMAC, and keeping it in our code keeps a runtime dependency out and lets the answers name
exactly what was wrong. The tests sign with `standardwebhooks` itself, as an independent check.
"""

import json
import math
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone
from rest_framework import serializers

from orders import services
from orders.api.errors import flatten
from orders.db import prepared_cursor
from orders.domain import Actor, OrderError
from orders.models import Order, OrderGroup

from . import signing
from .models import InboundEvent, InboundSource

TOLERANCE_SECONDS = signing.DEFAULT_TOLERANCE_SECONDS
# Standard Webhooks ids are opaque strings; ours must fit the column and be printable.
WEBHOOK_ID_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
# A status event is a few hundred bytes; a completion with many photo URLs a few kilobytes.
MAX_BODY_BYTES = 256 * 1024
# Events are remembered this long for deduplication (at least 7 days; far beyond the 5-minute
# tolerance, after which a replayed request fails its timestamp check anyway).
RETENTION = timedelta(days=30)

ORDER_PLANNED = "order.planned"
ORDER_IN_PROGRESS = "order.in_progress"
ORDER_COMPLETED = "order.completed"
ORDER_FAILED = "order.failed"
MOVEMENT_DISPATCHED = "stock_movement.dispatched"
MOVEMENT_RECEIVED = "stock_movement.received"


class SignatureError(Exception):
    """The request is not provably from the source: 401, and nothing is stored."""


def verify(secret, headers, body):
    """Check the Standard Webhooks headers over the raw `body`; return (webhook_id, sent_at).

    `webhook-signature` may carry several space-separated `v1,<base64>` signatures (during a
    sender's key rotation); one match is enough. Comparison is in constant time.
    """
    webhook_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not webhook_id or not timestamp or not signatures:
        raise SignatureError("The webhook-id, webhook-timestamp and webhook-signature headers are required.")
    if not WEBHOOK_ID_RE.match(webhook_id):
        raise SignatureError("The webhook-id header must be 1 to 255 printable ASCII characters.")
    if not re.fullmatch(r"\d{1,12}", timestamp):
        raise SignatureError("The webhook-timestamp header must be whole seconds since the Unix epoch.")
    sent = int(timestamp)
    now = time.time()
    if sent < now - TOLERANCE_SECONDS:
        raise SignatureError("The webhook-timestamp is more than 5 minutes old.")
    if sent > now + TOLERANCE_SECONDS:
        raise SignatureError("The webhook-timestamp is more than 5 minutes in the future.")
    # The header checks above are the inbound door's own (and say which way a timestamp is off);
    # the signature itself is checked by the same module that signs our outbound requests.
    try:
        signing.verify(secret, webhook_id, timestamp, body, signatures, tolerance=TOLERANCE_SECONDS, now=now)
    except signing.SignatureError:
        raise SignatureError("No webhook-signature matches the body.")
    return webhook_id, datetime.fromtimestamp(sent, tz=UTC)


# --- Event shapes -------------------------------------------------------------------------------


class StrictCharField(serializers.CharField):
    """A string, and only a string: 123 or true is a wrong type, not text."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer, and only that: "3", 3.5 and true are wrong types."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class WebUrlField(serializers.URLField):
    """An http(s) URL: these are shown to the customer as links."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if not value.lower().startswith(("http://", "https://")):
            raise serializers.ValidationError("Only http and https URLs are accepted.")
        return value


class OrderTarget(serializers.Serializer):
    order_no = StrictCharField(max_length=50)
    sequence = StrictIntegerField(min_value=1, max_value=1000, required=False, allow_null=True)


class PlannedData(OrderTarget):
    planned_date = serializers.DateField()
    route_ref = StrictCharField(max_length=50)
    eta_from = serializers.TimeField(required=False, allow_null=True)
    eta_to = serializers.TimeField(required=False, allow_null=True)
    driver = StrictCharField(max_length=100, required=False, allow_blank=True)
    vehicle = StrictCharField(max_length=100, required=False, allow_blank=True)

    def validate(self, attrs):
        if attrs.get("eta_from") and attrs.get("eta_to") and attrs["eta_from"] > attrs["eta_to"]:
            raise serializers.ValidationError({"eta_to": ["eta_to must not be before eta_from."]})
        return attrs


class PodData(serializers.Serializer):
    signed_by = StrictCharField(max_length=100, required=False, allow_blank=True)
    signature_url = WebUrlField(max_length=2000, required=False, allow_null=True)
    photo_urls = serializers.ListField(child=WebUrlField(max_length=2000), max_length=20, required=False)
    notes = StrictCharField(max_length=2000, required=False, allow_blank=True)
    lat = StrictFloatField(min_value=-90, max_value=90, required=False, allow_null=True)
    lng = StrictFloatField(min_value=-180, max_value=180, required=False, allow_null=True)

    def validate(self, attrs):
        if (attrs.get("lat") is None) != (attrs.get("lng") is None):
            raise serializers.ValidationError({"lat": ["lat and lng come together, or not at all."]})
        return attrs


class DeliveredLine(serializers.Serializer):
    line_no = StrictIntegerField(min_value=1)
    delivered_quantity = StrictIntegerField(min_value=0)


class CompletedData(OrderTarget):
    completed_at = serializers.DateTimeField(required=False, allow_null=True)
    pod = PodData()
    lines = DeliveredLine(many=True, required=False, max_length=500)

    def validate_lines(self, value):
        numbers = [line["line_no"] for line in value]
        if len(numbers) != len(set(numbers)):
            raise serializers.ValidationError("Each line_no may appear once.")
        return value


class FailedData(OrderTarget):
    reason_code = StrictCharField(max_length=20)
    notes = StrictCharField(max_length=2000, required=False, allow_blank=True)


class MovementTarget(serializers.Serializer):
    reference = StrictCharField(max_length=20)


DATA_SHAPES = {
    ORDER_PLANNED: PlannedData,
    ORDER_IN_PROGRESS: OrderTarget,
    ORDER_COMPLETED: CompletedData,
    ORDER_FAILED: FailedData,
    MOVEMENT_DISPATCHED: MovementTarget,
    MOVEMENT_RECEIVED: MovementTarget,
}


class Envelope(serializers.Serializer):
    type = serializers.ChoiceField(choices=list(DATA_SHAPES))
    timestamp = serializers.DateTimeField()
    data = serializers.DictField()


@dataclass
class Event:
    type: str
    timestamp: datetime
    data: dict


class BadEvent(Exception):
    """A verified request whose body cannot be applied: 400 (or 404), stored as rejected."""

    def __init__(self, status, body):
        super().__init__(body)
        self.status = status
        self.body = body


# One instance of each shape, made once: DRF copies every declared field into each new serializer
# instance (most of the cost of parsing an event); `run_validation` keeps no state on the instance.
_SHAPES = {}


def _shape(cls):
    if cls not in _SHAPES:
        _SHAPES[cls] = cls()
    return _SHAPES[cls]


def parse(body):
    """The event in a raw body, validated against the shape of its type, or BadEvent(400)."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadEvent(400, {"errors": {"non_field_errors": ["The body is not valid JSON."]}})
    if not isinstance(document, dict):
        raise BadEvent(400, {"errors": {"non_field_errors": ["The body must be a JSON object."]}})
    try:
        envelope = _shape(Envelope).run_validation(document)
    except serializers.ValidationError as exc:
        errors = flatten(exc.detail)
        if "type" in errors and isinstance(document.get("type"), str):
            errors["type"] = [f"Unknown event type {document['type'][:64]!r}. Known: {', '.join(DATA_SHAPES)}."]
        raise BadEvent(400, {"errors": errors})
    try:
        data = _shape(DATA_SHAPES[envelope["type"]]).run_validation(envelope["data"])
    except serializers.ValidationError as exc:
        raise BadEvent(400, {"errors": flatten(exc.detail, "data")})
    return Event(envelope["type"], envelope["timestamp"], dict(data))


# --- Applying -----------------------------------------------------------------------------------


def distance_m(lat1, lng1, lat2, lng2):
    """Great-circle distance in metres (haversine; plenty for "is the driver at the door")."""
    radius = 6_371_000
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlmb = phi2 - phi1, math.radians(lng2 - lng1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * radius * math.asin(math.sqrt(a))


def _known_position(order_no, sequence):
    """(lat, lng) of the leg named, or of the order's own address; None when it has none."""
    if sequence is not None:
        place = OrderGroup.objects.filter(order__order_no=order_no, sequence=sequence).values("lat", "lng").first()
    else:
        place = Order.objects.filter(order_no=order_no).values("lat", "lng").first()
    if not place or place["lat"] is None or place["lng"] is None:
        return None
    return float(place["lat"]), float(place["lng"])


def proof_of_delivery(data, completed_at):
    """The `pod` kept on the order: what the driver sent, when, and how far from the address.

    `distance_m` is null where either position is unknown; `distance_warning` is true when the
    completion was further than POD_DISTANCE_WARNING_M from the address, for the office to check.
    """
    pod = {key: value for key, value in data["pod"].items() if value not in (None, "", [])}
    pod["completed_at"] = completed_at.isoformat()
    pod["distance_m"] = None
    pod["distance_warning"] = False
    position = _known_position(data["order_no"], data.get("sequence"))
    if position and pod.get("lat") is not None:
        metres = distance_m(pod["lat"], pod["lng"], *position)
        pod["distance_m"] = round(metres)
        pod["distance_warning"] = metres > settings.POD_DISTANCE_WARNING_M
    return pod


def _plan(data):
    plan = {"planned_date": data["planned_date"].isoformat(), "route_ref": data["route_ref"]}
    for name in ("eta_from", "eta_to"):
        if data.get(name) is not None:
            plan[name] = data[name].strftime("%H:%M")
    for name in ("driver", "vehicle"):
        if data.get(name):
            plan[name] = data[name]
    return plan


@dataclass
class Change:
    """What an event will do, known before it is done: the note the record keeps, the order it names
    (None for a movement's events) and `make`, the call to orders/services.py that makes the change
    and returns the id of the order it changed."""

    note: str
    order_no: str | None
    make: object


def prepare(source, event):
    """The Change an event describes. Reads nothing but a completion's address position; changes
    nothing. The caller's transaction is rolled back whole when `make` refuses (no savepoint of the
    services' own)."""
    actor = Actor.for_inbound(source.name)
    data = event.data
    target = {"sequence": data.get("sequence"), "occurred_at": event.timestamp, "savepoint": False}
    order_no = data.get("order_no")
    if event.type == ORDER_PLANNED:
        plan = _plan(data)
        note = f"Planned by {source.name}: route {plan['route_ref']} on {plan['planned_date']}."
        return Change(
            f"Order {order_no} planned on route {plan['route_ref']}.",
            order_no,
            lambda: services.plan_order(order_no, actor=actor, plan=plan, note=note, **target).pk,
        )
    if event.type == ORDER_IN_PROGRESS:
        return Change(
            f"Order {order_no} in progress.", order_no, lambda: services.start_order(order_no, actor=actor, **target).pk
        )
    if event.type == ORDER_COMPLETED:
        completed_at = data.get("completed_at") or event.timestamp
        pod = proof_of_delivery(data, completed_at)
        delivered = {line["line_no"]: line["delivered_quantity"] for line in data.get("lines", [])}
        target["occurred_at"] = completed_at
        warning = " The completion was far from the address; flagged for the office." if pod["distance_warning"] else ""
        return Change(
            f"Order {order_no} completed.{warning}",
            order_no,
            lambda: services.complete_order(order_no, actor=actor, pod=pod, delivered_lines=delivered, **target).pk,
        )
    if event.type == ORDER_FAILED:
        reason_code, notes = data["reason_code"], data.get("notes", "")
        return Change(
            f"Order {order_no} failed: {reason_code}.",
            order_no,
            lambda: services.fail_order(order_no, actor=actor, reason_code=reason_code, notes=notes, **target).pk,
        )
    reference = data["reference"]
    if event.type == MOVEMENT_DISPATCHED:
        return Change(
            f"Stock movement {reference} dispatched.",
            None,
            lambda: services.dispatch_movement(reference, actor=actor).order_id,
        )
    return Change(
        f"Stock movement {reference} received.",
        None,
        lambda: services.receive_movement(reference, actor=actor).order_id,
    )


@dataclass
class Outcome:
    status: int
    body: dict


def _movement_order(reference):
    """The id of the order of the movement that an event that was not applied names, if it exists."""
    return Order.objects.filter(movements__reference=reference).values_list("pk", flat=True).first()


def _refusal(exc):
    """The result and Outcome of a refused event (a refusal from a Change's `make`)."""
    if isinstance(exc, DjangoValidationError):
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        errors = {f"data.{key}": [str(m) for m in messages] for key, messages in errors.items()}
        return InboundEvent.Result.REJECTED, Outcome(400, {"errors": errors})
    if isinstance(exc, OrderError):
        if exc.code == "not_found":
            return InboundEvent.Result.REJECTED, Outcome(404, {"detail": exc.message})
        # Stale, or not allowed from the current status: understood, and deliberately not applied.
        return InboundEvent.Result.IGNORED, Outcome(200, {"result": "ignored", "reason": exc.message})
    # A value the database refuses (out of range): the whole transaction was rolled back.
    body = {"errors": {"data": ["A value is out of range or not valid for its field."]}}
    return InboundEvent.Result.REJECTED, Outcome(400, body)


class SourceChanged(Exception):
    """The source's row no longer matches the copy the request was verified with (its secret was
    rotated, it was deactivated, renamed or deleted): nothing was written; read it again."""


@dataclass
class Record:
    """The event's row as it will stay: written by the claim itself when the outcome is known."""

    event_type: str
    result: str
    outcome: Outcome
    order_id: int | None = None
    order_no: str | None = None  # when order_id is not known yet: the order of that number, if any

    @property
    def reason(self):
        body = self.outcome.body
        return body.get("reason") or json.dumps(body.get("errors") or body)[:2000]


# The event's row, first of all, with the values it keeps when the change goes through (a refused
# change rolls it back with everything else). It is inserted only while the source still has the
# id, name, secret and active flag the request was verified with (`s`), so a secret rotated or a
# source deactivated in any process holds from the next claim on, whatever this process remembers.
# A copy of a webhook-id already stored inserts nothing (and, while the first copy's transaction is
# still open, waits for it on the unique index). Answers (the source matched, the new row's id).
# The source as the request was verified with it: a row only while it still has that id, name and
# secret and is active (SQLite, for bin/run, runs it as a statement of its own before the insert).
_SOURCE_SQL = "SELECT id FROM webhooks_inboundsource WHERE id = %s AND name = %s AND active AND secret = %s"
_CLAIM_SQL = f"""
    WITH s AS ({_SOURCE_SQL}), c AS (
        INSERT INTO webhooks_inboundevent
            (source_id, webhook_id, event_type, sent_at, received_at, body, result, response_status, reason,
             order_id, duplicates)
        SELECT s.id, %s, %s, %s, %s, %s, %s, %s, %s,
               COALESCE(%s::bigint, (SELECT o.id FROM orders_order o WHERE o.order_no = %s::text)), 0
        FROM s
        ON CONFLICT (source_id, webhook_id) DO NOTHING
        RETURNING id, order_id
    )
    SELECT EXISTS (SELECT FROM s), (SELECT id FROM c), (SELECT order_id FROM c)
"""  # noqa: S608 - only the constant above is put in
_INSERT_SQL = """
    INSERT INTO webhooks_inboundevent
        (source_id, webhook_id, event_type, sent_at, received_at, body, result, response_status, reason,
         order_id, duplicates)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s,
            COALESCE(%s, (SELECT o.id FROM orders_order o WHERE o.order_no = %s)), 0)
    ON CONFLICT (source_id, webhook_id) DO NOTHING
    RETURNING id, order_id
"""
_RECORD_SQL = """
    UPDATE webhooks_inboundevent
    SET event_type = %s, result = %s, response_status = %s, reason = %s,
        order_id = COALESCE(%s, (SELECT o.id FROM orders_order o WHERE o.order_no = %s)), sent_at = %s, body = %s
    WHERE id = %s
"""


@dataclass
class Claim:
    pk: int | None = None
    recorded: bool = False  # the row holds the Record already (False: a rejected copy's row, taken again)
    order_id: int | None = None
    duplicate: Outcome | None = None


def _claim(source, webhook_id, sent_at, text, record):
    """Take (source, webhook-id) for this request, inside its transaction, writing `record`: the
    Claim of the event's row, or its Outcome `duplicate` when a copy was received before and not
    rejected. A rejected event may be sent again under the same id, and is tried again (the order
    may exist by now): its row is taken as it is, for `_record` to complete. SourceChanged when the
    source is no longer what the request was verified with."""
    ops = connection.ops
    source_key = [source.pk, source.name, source.secret]
    values = [
        webhook_id,
        record.event_type,
        ops.adapt_datetimefield_value(sent_at),
        ops.adapt_datetimefield_value(timezone.now()),
        text,
        str(record.result),
        record.outcome.status,
        record.reason,
        record.order_id,
        record.order_no,
    ]
    if connection.vendor == "postgresql":
        with prepared_cursor() as cursor:
            cursor.execute(_CLAIM_SQL, source_key + values)
            matched, pk, order_id = cursor.fetchone()
    else:
        with connection.cursor() as cursor:
            cursor.execute(_SOURCE_SQL, source_key)
            matched = cursor.fetchone() is not None
            pk = order_id = None
            if matched:
                cursor.execute(_INSERT_SQL, [source.pk, *values])
                pk, order_id = cursor.fetchone() or (None, None)
    if not matched:
        raise SourceChanged(source.name)
    if pk is not None:
        return Claim(pk, recorded=True, order_id=order_id)
    previous = InboundEvent.objects.select_for_update().get(source=source, webhook_id=webhook_id)
    if previous.result == InboundEvent.Result.REJECTED:
        return Claim(previous.pk)
    InboundEvent.objects.filter(pk=previous.pk).update(duplicates=F("duplicates") + 1)
    reason = (
        f"webhook-id {webhook_id} was received at {timezone.localtime(previous.received_at).isoformat()} "
        f"and {previous.result} then."
    )
    return Claim(duplicate=Outcome(200, {"result": "duplicate", "reason": reason}))


def _record(pk, record, sent_at, text):
    with connection.cursor() as cursor:
        cursor.execute(
            _RECORD_SQL,
            [
                record.event_type,
                str(record.result),
                record.outcome.status,
                record.reason,
                record.order_id,
                record.order_no,
                connection.ops.adapt_datetimefield_value(sent_at),
                text,
                pk,
            ],
        )


# What a change refuses: answered 4xx (or `ignored`), recorded, and nothing changed.
REFUSALS = (OrderError, DjangoValidationError, DatabaseError)


def receive(source, webhook_id, sent_at, body):
    """Store and apply one verified event, at most once per (source, webhook-id).

    The event is claimed and applied in one transaction: the row is inserted first, already saying
    `applied` (a concurrent copy of the same webhook-id waits on the unique index until the first
    commits, then finds it and answers `duplicate`), then the change is made. A refused change rolls
    the whole transaction back, row and all; the refusal is then recorded under the same claim in a
    transaction of its own (a bad body is never applied, so it goes there at once). SourceChanged
    (nothing written) when `source` is no longer the source's row as it stands.
    """
    text = body.decode("utf-8", errors="replace")
    try:
        event = parse(body)
    except BadEvent as exc:
        event, result, outcome = None, InboundEvent.Result.REJECTED, Outcome(exc.status, exc.body)
    else:
        try:
            with transaction.atomic():
                change = prepare(source, event)
                outcome = Outcome(200, {"result": "applied", "reason": change.note})
                record = Record(event.type, InboundEvent.Result.APPLIED, outcome, order_no=change.order_no)
                claim = _claim(source, webhook_id, sent_at, text, record)
                if claim.duplicate:
                    return claim.duplicate
                record.order_id = change.make()
                if not claim.recorded or claim.order_id != record.order_id:
                    _record(claim.pk, record, sent_at, text)  # a movement's order, or a rejected copy's row
            return outcome
        except REFUSALS as exc:
            result, outcome = _refusal(exc)
    data = event.data if event else {}
    order_id = _movement_order(data["reference"]) if "reference" in data else None  # an order's: by the claim
    record = Record(event.type if event else _type_of(body), result, outcome, order_id, data.get("order_no"))
    with transaction.atomic():
        claim = _claim(source, webhook_id, sent_at, text, record)
        if claim.duplicate:
            return claim.duplicate
        if not claim.recorded:
            _record(claim.pk, record, sent_at, text)
    return outcome


def _type_of(body):
    """The `type` of a body that did not parse as an event, if it has one, for the record."""
    try:
        value = json.loads(body).get("type")
    except (ValueError, AttributeError, RecursionError):
        return ""
    return value[:64] if isinstance(value, str) else ""


def purge_expired(now=None):
    """Forget events older than RETENTION; returns how many rows went."""
    cutoff = (now or timezone.now()) - RETENTION
    deleted, _ = InboundEvent.objects.filter(received_at__lt=cutoff).delete()
    return deleted


# --- The source of a request ----------------------------------------------------------------------

# This process's copy of each active source a request named (id, name, secret), so that verifying a
# request needs no statement of its own. The copy is never trusted alone: every claim (`_CLAIM_SQL`)
# inserts the event's row only while the source's row still has that id, name, secret and active
# flag, and a request that fails verification with the copy is verified again with a fresh read. So
# a rotated secret, a deactivated, renamed or deleted source holds from the next request on, in
# every process, exactly as when the source was read on every request. Only sources found are kept
# (there are a handful); a name that is not found is read again each time.
_SOURCES = {}


def source_named(name, *, fresh=False):
    """(the active source of that name or None, whether it is this process's copy)."""
    if not fresh:
        known = _SOURCES.get(name)
        if known is not None:
            return known, True
    source = InboundSource.active_named(name)
    if source is None:
        _SOURCES.pop(name, None)
    else:
        _SOURCES[name] = source
    return source, False


# --- Sources, as the office settings and `create_inbound_source` manage them ----------------------


def create_source(name):
    """A new active inbound source; returns (source, secret). The secret is not shown again."""
    source = InboundSource(name=name)
    secret = source.set_new_secret()
    source.save(force_insert=True)
    return source, secret


def rotate_source_secret(source):
    """A new secret for the source (returned); requests signed with the old one fail at once."""
    with transaction.atomic():
        locked = InboundSource.objects.select_for_update().get(pk=source.pk)
        secret = locked.set_new_secret()
        locked.rotated_at = timezone.now()
        locked.save(update_fields=["secret", "rotated_at"])
    return secret
