"""Webhooks: inbound sources and the status events they send (SPEC §7 in docs/inbound.md)."""

import base64
import secrets

from django.db import models
from django.db.models import Q


class InboundSource(models.Model):
    """A sending system (route planner, driver app) that posts status events to /webhooks/inbound/<name>/.

    The `whsec_` secret is an HMAC key that both sides must hold to sign and to verify, so it is stored
    as it is (a digest could not verify anything). It is shown by `manage.py create_inbound_source` only.
    """

    SECRET_PREFIX = "whsec_"

    name = models.SlugField(max_length=50, unique=True, help_text="Part of the URL: /webhooks/inbound/<name>/.")
    secret = models.CharField(max_length=100, editable=False)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def set_new_secret(self):
        """Give the source a new secret (192 random bits, standard base64) and return it."""
        self.secret = self.SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()
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
