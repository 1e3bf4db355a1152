"""The office's view of outbound webhooks until the settings pages exist."""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.utils import timezone

from . import delivery as service
from . import ssrf, tasks
from .models import EVENT_TYPES, Delivery, DeliveryAttempt, Subscription


class SubscriptionForm(forms.ModelForm):
    event_types = forms.MultipleChoiceField(choices=[(t, t) for t in EVENT_TYPES], initial=["*"])

    class Meta:
        model = Subscription
        fields = ["client", "url", "event_types", "description", "active"]

    def clean_url(self):
        url = self.cleaned_data["url"].strip()
        try:
            ssrf.check(url)
        except ssrf.UnsafeURL as exc:
            raise forms.ValidationError(str(exc))
        return url


def _queue(ids):
    transaction.on_commit(lambda: tasks.enqueue(ids))


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    form = SubscriptionForm
    list_display = ["id", "url", "client", "description", "active", "disabled_reason"]
    list_filter = ["active"]
    list_select_related = ["client"]
    search_fields = ["url", "description"]
    readonly_fields = ["disabled_reason", "secret", "previous_secret_expires_at", "created_at", "updated_at"]
    actions = ["rotate_secret", "enable", "redeliver_failed_last_day", "redeliver_failed_last_week"]

    def save_model(self, request, obj, form, change):
        if change and obj.active and "active" in form.changed_data:
            obj.disabled_reason = ""
        super().save_model(request, obj, form, change)

    @admin.action(description="Rotate the secret (the old one keeps signing for 24 h)")
    def rotate_secret(self, request, queryset):
        for subscription in queryset:
            service.rotate_secret(subscription)
        self.message_user(request, f"Rotated {len(queryset)} secret(s); open each subscription to read it.")

    @admin.action(description="Enable (clears the disabled reason)")
    def enable(self, request, queryset):
        for subscription in queryset:
            service.enable(subscription)
        self.message_user(request, f"Enabled {len(queryset)} subscription(s).")

    def _redeliver(self, request, queryset, days):
        since = timezone.now() - timedelta(days=days)
        total = 0
        with transaction.atomic():
            for subscription in queryset:
                if not subscription.active:
                    self.message_user(request, f"{subscription} is disabled: enable it first.", messages.ERROR)
                    continue
                ids = service.redeliver_failed_since(subscription, since)
                _queue(ids)
                total += len(ids)
        self.message_user(request, f"Queued {total} failed deliveries again.")

    @admin.action(description="Send again every delivery that failed in the last 24 hours")
    def redeliver_failed_last_day(self, request, queryset):
        self._redeliver(request, queryset, 1)

    @admin.action(description="Send again every delivery that failed in the last 7 days")
    def redeliver_failed_last_week(self, request, queryset):
        self._redeliver(request, queryset, 7)


class AttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fields = ["at", "response_status", "duration_ms", "error", "response_body"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "event_type", "subscription", "state", "attempt_count", "next_attempt_at", "created_at"]
    list_filter = ["state", "event_type"]
    list_select_related = ["subscription"]
    search_fields = ["webhook_id"]
    readonly_fields = [
        "subscription",
        "event",
        "event_type",
        "webhook_id",
        "state",
        "attempt_count",
        "next_attempt_at",
        "first_attempt_at",
        "completed_at",
        "created_at",
    ]
    inlines = [AttemptInline]
    actions = ["redeliver"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Send again")
    def redeliver(self, request, queryset):
        with transaction.atomic():
            ids = service.requeue(queryset.filter(subscription__active=True))
            _queue(ids)
        self.message_user(request, f"Queued {len(ids)} deliveries again (disabled subscriptions skipped).")
