"""Outbound webhooks: subscriptions, one delivery per (subscription, outbox event), one attempt per try.
Inbound webhooks: the sources that send status events from the field, and the events they sent.

The outbox (`orders.OutboxEvent`) is the immutable event row; `FanOut` marks each event as fanned out,
so the signal and the sweeper never fan one event out twice.
"""

from datetime import timedelta

from django.db import connection, models
from django.db.models import Q
from django.utils import timezone

from orders.models import ApiClient, OutboxEvent

from . import signing

ALL_EVENTS = "*"
EVENT_TYPES = [ALL_EVENTS, *OutboxEvent.Type.values]
ROTATION_OVERLAP = timedelta(hours=24)


class Subscription(models.Model):
    """A receiver URL and the event types it wants, owned by the API client that created it.

    The secret is an HMAC key, so it is stored as given (it must be readable to sign with); the API
    shows it once, at creation or rotation. After a rotation the previous secret also signs for 24 h.
    """

    client = models.ForeignKey(
        ApiClient,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="webhook_subscriptions",
        help_text="The API client that owns it; empty for subscriptions the office made in the admin.",
    )
    url = models.URLField(max_length=2000)
    event_types = models.JSONField(default=list, help_text='Event types to send, or ["*"] for all.')
    description = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=500, blank=True)
    secret = models.CharField(max_length=100, default=signing.new_secret)
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        # The API lists a client's subscriptions.
        indexes = [models.Index(fields=["client", "id"], name="webhooks_sub_client_idx")]

    def __str__(self):
        return self.description or self.url

    def signing_secrets(self, now=None):
        """The secrets that sign a request now: the current one, and the previous one for 24 h."""
        now = now or timezone.now()
        if self.previous_secret and self.previous_secret_expires_at and self.previous_secret_expires_at > now:
            return [self.secret, self.previous_secret]
        return [self.secret]

    def rotate_secret(self, now=None):
        """Give the subscription a new secret (returned), keeping the old one signing for 24 h."""
        now = now or timezone.now()
        self.previous_secret = self.secret
        self.previous_secret_expires_at = now + ROTATION_OVERLAP
        self.secret = signing.new_secret()
        return self.secret


class FanOut(models.Model):
    """Marks an outbox event as fanned out: written in the same transaction as its deliveries."""

    event = models.OneToOneField(OutboxEvent, on_delete=models.CASCADE, primary_key=True, related_name="+")
    fanned_out_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"fan-out of event {self.event_id}"


class Delivery(models.Model):
    """One outbox event on its way to one subscription. `webhook_id` is the same on every attempt."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="+")
    event_type = models.CharField(max_length=40)
    webhook_id = models.CharField(max_length=40, unique=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    attempt_count = models.PositiveIntegerField(default=0, help_text="Attempts since it was last (re)queued.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            # An event goes to a subscription once, however often the fan-out runs.
            models.UniqueConstraint(fields=["subscription", "event"], name="webhooks_delivery_once"),
        ]
        indexes = [
            # The sweeper: pending deliveries whose time has come.
            models.Index(
                fields=["next_attempt_at"],
                name="webhooks_delivery_due_idx",
                condition=models.Q(state="pending"),
            ),
            # The disable rule and "redeliver failed since": a subscription's deliveries by state.
            models.Index(fields=["subscription", "state", "completed_at"], name="webhooks_delivery_sub_idx"),
        ]

    def __str__(self):
        return f"{self.event_type} → {self.subscription_id} ({self.state})"


class DeliveryAttempt(models.Model):
    """One HTTP request of a delivery and what came back."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    at = models.DateTimeField()
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField()
    response_body = models.TextField(blank=True, help_text="The first 1 KB of the response body.")
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"attempt {self.pk} of delivery {self.delivery_id}"

    @property
    def succeeded(self):
        return self.response_status is not None and 200 <= self.response_status < 300


# --- Inbound (docs/inbound.md) -------------------------------------------------------------------


class InboundSource(models.Model):
    """A sending system (route planner, driver app) that posts status events to /webhooks/inbound/<name>/.

    The `whsec_` secret is an HMAC key that both sides must hold to sign and to verify, so it is stored
    as it is (a digest could not verify anything). It is shown by `manage.py create_inbound_source` only.
    """

    name = models.SlugField(max_length=50, unique=True, help_text="Part of the URL: /webhooks/inbound/<name>/.")
    secret = models.CharField(max_length=100, editable=False)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @classmethod
    def active_named(cls, name):
        """The active source of that name (id, name and secret only), or None, read now. Inbound
        requests keep a copy per process, which every claim checks against this row
        (webhooks/inbound.py `source_named`)."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, name, secret FROM webhooks_inboundsource WHERE name = %s AND active", [name])
            row = cursor.fetchone()
        return None if row is None else cls(id=row[0], name=row[1], secret=row[2], active=True)

    def set_new_secret(self):
        """Give the source a new secret (192 random bits, standard base64) and return it."""
        self.secret = signing.new_secret(24)
        return self.secret


class InboundEvent(models.Model):
    """One status event received from an inbound source, kept whether it was applied or not.

    `(source, webhook_id)` is unique: a webhook-id seen before is answered `duplicate` and applied
    at most once. Rows are purged after INBOUND_EVENT_RETENTION_DAYS (at least 7).
    """

    class Result(models.TextChoices):
        APPLIED = "applied", "Applied"
        IGNORED = "ignored", "Ignored"
        REJECTED = "rejected", "Rejected"

    source = models.ForeignKey(InboundSource, on_delete=models.CASCADE, related_name="events")
    webhook_id = models.CharField(max_length=255)
    event_type = models.CharField(max_length=64, blank=True)
    sent_at = models.DateTimeField(help_text="The webhook-timestamp header.")
    received_at = models.DateTimeField(auto_now_add=True)
    body = models.TextField(help_text="The raw body as received.")
    result = models.CharField(max_length=20, choices=Result.choices)
    response_status = models.PositiveSmallIntegerField()
    reason = models.TextField(blank=True)
    duplicates = models.PositiveIntegerField(default=0, help_text="Copies received again with the same webhook-id.")
    order = models.ForeignKey("orders.Order", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "webhook_id"], name="inbound_event_unique_webhook_id"),
        ]
        indexes = [
            # The periodic purge deletes by age.
            models.Index(fields=["received_at"], name="inbound_event_received_idx"),
            # An order's inbound events, newest first (admin, office order page).
            models.Index(fields=["order", "received_at"], name="inbound_event_order_idx"),
            # Admin list of events that were not applied, to chase a misbehaving sender.
            models.Index(
                fields=["source", "received_at"], condition=~Q(result="applied"), name="inbound_event_unapplied_idx"
            ),
        ]

    def __str__(self):
        return f"{self.source_id}:{self.webhook_id} {self.event_type} ({self.result})"
