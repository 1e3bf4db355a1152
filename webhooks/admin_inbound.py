"""Django admin for inbound sources and the events they sent (registered from WebhooksConfig.ready).

Kept apart from the outbound admin so each half of the webhooks app owns its own module.
"""

from django.contrib import admin, messages

from . import inbound
from .models import InboundEvent, InboundSource


@admin.register(InboundSource)
class InboundSourceAdmin(admin.ModelAdmin):
    list_display = ["name", "active", "created_at", "rotated_at"]
    list_filter = ["active"]
    search_fields = ["name"]
    fields = ["name", "active", "created_at", "rotated_at"]
    readonly_fields = ["created_at", "rotated_at"]
    actions = ["rotate_secret"]

    def get_readonly_fields(self, request, obj=None):
        # The name is in the sender's URL: changing it would break the integration silently.
        return [*self.readonly_fields, "name"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        secret = None if change else obj.set_new_secret()
        super().save_model(request, obj, form, change)
        if secret:
            messages.warning(request, f"Signing secret for {obj.name} (shown only now): {secret}")

    @admin.action(description="Rotate the signing secret of the selected sources")
    def rotate_secret(self, request, queryset):
        for source in queryset:
            secret = inbound.rotate_source_secret(source)
            messages.warning(request, f"New signing secret for {source.name} (shown only now): {secret}")


@admin.register(InboundEvent)
class InboundEventAdmin(admin.ModelAdmin):
    """A record of what each sender sent and what we answered: read only."""

    list_display = ["received_at", "source", "event_type", "webhook_id", "result", "response_status", "order"]
    list_filter = ["result", "event_type", "source"]
    search_fields = ["webhook_id", "order__order_no"]
    list_select_related = ["source", "order"]
    date_hierarchy = "received_at"
    fields = [
        "source",
        "webhook_id",
        "event_type",
        "sent_at",
        "received_at",
        "result",
        "response_status",
        "reason",
        "duplicates",
        "order",
        "body",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
