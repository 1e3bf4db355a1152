"""Shapes of the webhook endpoints (subscriptions and deliveries)."""

from rest_framework import serializers

from .. import ssrf
from ..models import EVENT_TYPES, Delivery, DeliveryAttempt, Subscription


class SubscriptionSerializer(serializers.ModelSerializer):
    """`secret` appears only in the answer that creates the subscription (or rotates its secret)."""

    id = serializers.IntegerField(read_only=True, help_text="The subscription's id.")
    url = serializers.CharField(
        max_length=2000,
        help_text="Where events are POSTed: http(s), on a public address (checked when saved and when sent).",
    )
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPES),
        allow_empty=False,
        max_length=len(EVENT_TYPES),
        help_text='Event types to receive, or ["*"] for all of them.',
    )
    description = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text="What the receiver is, for people."
    )
    active = serializers.BooleanField(
        required=False,
        help_text="False: nothing is sent. Set it back to true to re-enable a subscription that was disabled.",
    )
    disabled_reason = serializers.CharField(
        read_only=True, help_text="Why the subscription was disabled automatically; empty when it was not."
    )
    secret = serializers.CharField(
        read_only=True,
        help_text="The whsec_ signing secret. Shown only in the answer to the creation (and to a rotation).",
    )

    class Meta:
        model = Subscription
        fields = ["id", "url", "event_types", "description", "active", "disabled_reason", "secret"]

    def validate_url(self, value):
        value = value.strip()
        try:
            ssrf.check(value)
        except ssrf.UnsafeURL as exc:
            raise serializers.ValidationError(str(exc))
        return value

    def validate_event_types(self, value):
        return list(dict.fromkeys(value))

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not self.context.get("show_secret"):
            data.pop("secret")
        return data


class RedeliverFailedSerializer(serializers.Serializer):
    since = serializers.DateTimeField(help_text="Send again every failed delivery that failed at or after this.")


class RedeliveredSerializer(serializers.Serializer):
    redelivered = serializers.IntegerField(help_text="How many deliveries were queued again.")


class AttemptSerializer(serializers.ModelSerializer):
    at = serializers.DateTimeField(read_only=True, help_text="When the request was sent.")
    response_status = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="The receiver's HTTP status; null when there was no answer."
    )
    duration_ms = serializers.IntegerField(read_only=True, help_text="Milliseconds until the answer (or the error).")
    error = serializers.CharField(read_only=True, help_text="What went wrong; empty on success.")

    class Meta:
        model = DeliveryAttempt
        fields = ["at", "response_status", "duration_ms", "error"]


class DeliverySerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(read_only=True, help_text="The delivery's id.")
    subscription = serializers.IntegerField(source="subscription_id", read_only=True, help_text="The subscription.")
    event_type = serializers.CharField(read_only=True, help_text="The event's type, e.g. order.created.")
    webhook_id = serializers.CharField(
        read_only=True, help_text="The webhook-id header: the same on every attempt, so receivers can drop repeats."
    )
    state = serializers.ChoiceField(
        choices=Delivery.State.choices, read_only=True, help_text="pending, succeeded or failed."
    )
    attempts = AttemptSerializer(many=True, read_only=True, help_text="Every attempt, oldest first.")

    class Meta:
        model = Delivery
        fields = ["id", "subscription", "event_type", "webhook_id", "state", "attempts"]


class DeliveryFilterSerializer(serializers.Serializer):
    subscription = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, help_text="Deliveries of this subscription (its id)."
    )
    event_type = serializers.ChoiceField(
        choices=EVENT_TYPES[1:], required=False, help_text="Deliveries of this event type."
    )
    event = serializers.ChoiceField(
        choices=EVENT_TYPES[1:], required=False, help_text="The same as event_type (another name for it)."
    )
    state = serializers.ChoiceField(
        choices=Delivery.State.choices, required=False, help_text="pending, succeeded or failed."
    )
