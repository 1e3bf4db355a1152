"""Django admin for the order domain.

Reference data and API clients are edited here freely. Orders are another door onto the domain,
so an order's header is saved through `services.update_order` (history, version, outbox, plan
rules) and its status only ever moves through the service actions offered here; status history
and the outbox are records and cannot be changed at all.
"""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect
from django.utils.html import format_html

from . import services
from .addresses import AddressError, clean_address
from .domain import Actor, OrderError
from .models import (
    ApiClient,
    DeliveryMethod,
    FailureReason,
    IdempotencyKey,
    Lane,
    Order,
    OrderGroup,
    OrderLine,
    OutboxEvent,
    ServiceLevel,
    StatusChange,
    StockLocation,
    StockMovement,
    StockMovementLine,
)

ADDRESS_FIELDSET = ("line1", "line2", "line3", "town", "county", "postal_code", "country", ("lat", "lng"))


class ReadOnlyMixin:
    """Rows that are records of what happened: viewable, never added, changed or deleted here."""

    def get_readonly_fields(self, request, obj=None):
        # Every field, so non-editable ones (created_at, reference...) can be listed in `fields` too.
        if self.fields:
            return flatten(self.fields)
        return [f.name for f in self.model._meta.concrete_fields if not f.primary_key]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _clean_address(form, cleaned, *, require_complete):
    """Check and normalise the address as the API does, showing the error on its field."""
    try:
        cleaned.update(clean_address(cleaned, require_complete=require_complete))
    except AddressError as exc:
        form.add_error(exc.field, exc.message)


def _error_text(exc):
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return exc.message


# --- Reference data -----------------------------------------------------------------------------


class StockLocationForm(forms.ModelForm):
    class Meta:
        model = StockLocation
        fields = ["code", "name", "active", *StockLocation.ADDRESS_FIELDS]

    def clean(self):
        cleaned = super().clean()
        _clean_address(self, cleaned, require_complete=False)
        return cleaned


@admin.register(StockLocation)
class StockLocationAdmin(admin.ModelAdmin):
    form = StockLocationForm
    list_display = ["code", "name", "town", "postal_code", "active"]
    list_filter = ["active"]
    search_fields = ["code", "name", "town", "postal_code"]
    fieldsets = [
        (None, {"fields": ["code", "name", "active"]}),
        ("Address", {"fields": ADDRESS_FIELDSET}),
    ]


@admin.register(DeliveryMethod)
class DeliveryMethodAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "depot", "active"]
    list_filter = ["active", "depot"]
    list_select_related = ["depot"]
    search_fields = ["code", "name", "depot__code"]


@admin.register(ServiceLevel)
class ServiceLevelAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "default_unload_minutes", "active"]
    list_filter = ["active"]
    search_fields = ["code", "name"]


@admin.register(Lane)
class LaneAdmin(admin.ModelAdmin):
    list_display = ["from_location", "to_location", "transit_days"]
    list_editable = ["transit_days"]
    list_filter = ["from_location", "to_location"]
    list_select_related = ["from_location", "to_location"]
    search_fields = ["from_location__code", "to_location__code"]


@admin.register(FailureReason)
class FailureReasonAdmin(admin.ModelAdmin):
    list_display = ["code", "description", "active"]
    list_filter = ["active"]
    search_fields = ["code", "description"]


# --- API clients --------------------------------------------------------------------------------


class ApiClientForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=ApiClient.Scope.choices, widget=forms.CheckboxSelectMultiple, required=False
    )

    class Meta:
        model = ApiClient
        fields = ["name", "scopes", "active"]


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    """Only the key's digest is stored, so a key is shown once: when the client is added or its key reissued."""

    form = ApiClientForm
    list_display = ["name", "key_id", "scope_list", "active", "created_at", "last_used_at"]
    list_filter = ["active"]
    search_fields = ["name", "key_id"]
    readonly_fields = ["key_id", "key_hash", "created_at", "last_used_at"]
    actions = ["issue_new_key"]

    @admin.display(description="scopes")
    def scope_list(self, obj):
        return ", ".join(obj.scopes)

    def save_model(self, request, obj, form, change):
        key = None if change else obj.set_new_key()
        super().save_model(request, obj, form, change)
        if key:
            self._show_key(request, obj, key)

    def _show_key(self, request, client, key):
        messages.success(
            request,
            f"The API key of {client.name} is {key} — copy it now: it is shown only this once and cannot be "
            "recovered. Send it as “Authorization: Bearer <key>”.",
        )

    @admin.action(description="Issue a new key (the old key stops working)", permissions=["change"])
    def issue_new_key(self, request, queryset):
        for client in queryset:
            key = client.set_new_key()
            client.save(update_fields=["key_id", "key_hash"])
            self._show_key(request, client, key)


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    """Kept by the API to replay responses. Deleting one lets a client retry a request stuck in flight."""

    list_display = ["key", "client", "state", "response_status", "created_at"]
    list_filter = ["state", "client"]
    list_select_related = ["client"]
    search_fields = ["key", "client__name"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- Orders -------------------------------------------------------------------------------------


class OrderGroupInline(ReadOnlyMixin, admin.TabularInline):
    model = OrderGroup
    fields = ["sequence", "group_type", "status", "required_date", "required_time_from", "required_time_to"]
    fields += ["line1", "town", "postal_code", "plan"]
    extra = 0
    show_change_link = False


class OrderLineInline(ReadOnlyMixin, admin.TabularInline):
    model = OrderLine
    fields = ["line_no", "group", "sku", "description", "quantity", "stock_location", "delivery_method"]
    fields += ["on_hand_date", "assembly_minutes", "delivered_quantity"]
    extra = 0

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("group", "stock_location", "delivery_method")


class OrderMovementInline(ReadOnlyMixin, admin.TabularInline):
    model = StockMovement
    fields = ["reference", "from_location", "to_location", "status", "ship_date", "due_date"]
    extra = 0
    show_change_link = True
    verbose_name_plural = "stock movements"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("from_location", "to_location")


class OrderHistoryInline(ReadOnlyMixin, admin.TabularInline):
    model = StatusChange
    fields = ["at", "subject", "group", "movement", "previous_status", "status", "actor_kind", "actor_label", "note"]
    extra = 0
    verbose_name_plural = "status history"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("group", "movement")


class OrderAdminForm(forms.ModelForm):
    """The header fields services.update_order accepts, with the version the editor saw."""

    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Order
        fields = list(services.HEADER_FIELDS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["expected_version"].initial = self.instance.version

    def clean(self):
        cleaned = super().clean()
        order = self.instance  # still as loaded: the form writes to it only after clean()
        if not order.version_matches(cleaned.get("expected_version")):
            raise ValidationError(
                f"Someone changed this order since you opened it (it is now at version {order.version}). "
                "Reload the page and make your change again."
            )
        if set(self.changed_data) & set(services.PLAN_FIELDS) and not order.is_editable():
            raise ValidationError(
                f"The order is {order.get_status_display().lower()}; its address and time window can no longer change."
            )
        _clean_address(self, cleaned, require_complete=True)
        has_postal = all(cleaned.get(f) for f in ("line1", "postal_code", "country"))
        has_point = cleaned.get("lat") is not None and cleaned.get("lng") is not None
        if not (has_postal or has_point) and not self.errors:
            raise ValidationError("An address needs line 1, postal code and country, or lat and lng.")
        return cleaned


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    """Orders are created by the office pages, the API and seed_demo (they need lines and trunking).

    Here the header can be corrected (saved through services.update_order) and orders cancelled;
    orders are never deleted, so their history stays.
    """

    form = OrderAdminForm
    list_display = [
        "order_no",
        "order_type",
        "customer_name",
        "postal_code",
        "service_level",
        "status",
        "required_date",
        "earliest_delivery_date",
        "source_client",
        "created_at",
    ]
    list_filter = ["status", "order_type", "service_level", "required_date", "source_client"]
    list_select_related = ["service_level", "source_client"]
    search_fields = ["order_no", "customer_name", "customer_reference", "postal_code", "customer_email"]
    date_hierarchy = "required_date"
    readonly_fields = [
        "order_no",
        "order_type",
        "status",
        "status_changed_at",
        "version",
        "tracking_link",
        "earliest_delivery_date",
        "attempt_count",
        "failure_reason",
        "pod",
        "source_client",
        "source_user",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["order_no", "order_type", "order_date", "service_level", "unload_minutes"]}),
        (
            "Status",
            {
                "fields": [
                    ("status", "status_changed_at"),
                    "version",
                    "earliest_delivery_date",
                    ("attempt_count", "failure_reason"),
                    "pod",
                    "tracking_link",
                ]
            },
        ),
        (
            "Customer",
            {
                "fields": [
                    "customer_name",
                    ("customer_mobile", "customer_phone"),
                    "customer_email",
                    "customer_reference",
                    "customer_address",
                ]
            },
        ),
        ("Address", {"fields": ADDRESS_FIELDSET}),
        ("When", {"fields": ["required_date", ("required_time_from", "required_time_to")]}),
        ("Notes", {"fields": ["order_notes", "location_instructions", "driver_notes"]}),
        ("Source", {"fields": [("source_client", "source_user"), ("created_at", "updated_at"), "expected_version"]}),
    ]
    inlines = [OrderGroupInline, OrderLineInline, OrderMovementInline, OrderHistoryInline]
    actions = ["cancel_orders"]

    @admin.display(description="tracking link")
    def tracking_link(self, obj):
        return format_html('<a href="{0}">{0}</a>', obj.tracking_url)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_cancel_permission(self, request):
        return self.has_change_permission(request)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # A refusal raised by the service (a race the form could not foresee) rolls the save back.
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except (OrderError, ValidationError) as exc:
            self.message_user(request, f"Not saved: {_error_text(exc)}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        fields = {f: form.cleaned_data[f] for f in form.changed_data if f in services.HEADER_FIELDS}
        if fields:
            services.update_order(
                obj.order_no,
                actor=Actor.for_user(request.user),
                fields=fields,
                expected_version=form.cleaned_data.get("expected_version"),
            )
        obj.refresh_from_db()

    @admin.action(description="Cancel selected orders", permissions=["cancel"])
    def cancel_orders(self, request, queryset):
        actor = Actor.for_user(request.user)
        done = 0
        for order_no in queryset.values_list("order_no", flat=True):
            try:
                with transaction.atomic():
                    services.cancel_order(order_no, actor=actor, note=f"Cancelled in the admin by {actor.label}.")
                done += 1
            except OrderError as exc:
                self.message_user(request, f"{order_no}: {exc.message}", messages.WARNING)
        if done:
            self.message_user(request, f"Cancelled {done} order(s).", messages.SUCCESS)


# --- Stock movements ----------------------------------------------------------------------------


class StockMovementLineInline(ReadOnlyMixin, admin.TabularInline):
    model = StockMovementLine
    fields = ["line_no", "sku", "quantity", "order_line"]
    extra = 0

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("order_line")


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Movements are made by the trunking rule; here they can be dispatched and received, as a WMS would."""

    list_display = ["reference", "order", "from_location", "to_location", "status", "ship_date", "due_date"]
    list_filter = ["status", "from_location", "to_location", "ship_date"]
    list_select_related = ["order", "from_location", "to_location"]
    search_fields = ["reference", "order__order_no"]
    date_hierarchy = "ship_date"
    fields = [
        "reference",
        "order",
        ("from_location", "to_location"),
        "status",
        ("ship_date", "due_date"),
        "version",
        ("created_at", "updated_at"),
    ]
    inlines = [StockMovementLineInline]
    actions = ["dispatch_movements", "receive_movements"]

    def has_move_permission(self, request):
        # Read-only for field edits, but moving the status through the services needs the change permission.
        return request.user.has_perm("orders.change_stockmovement")

    def _move(self, request, queryset, service, verb):
        actor = Actor.for_user(request.user)
        done = 0
        for reference in queryset.values_list("reference", flat=True):
            try:
                with transaction.atomic():
                    service(reference, actor=actor)
                done += 1
            except OrderError as exc:
                self.message_user(request, exc.message, messages.WARNING)
        if done:
            self.message_user(request, f"{verb.capitalize()} {done} movement(s).", messages.SUCCESS)

    @admin.action(description="Mark selected movements dispatched", permissions=["move"])
    def dispatch_movements(self, request, queryset):
        self._move(request, queryset, services.dispatch_movement, "dispatched")

    @admin.action(description="Mark selected movements received", permissions=["move"])
    def receive_movements(self, request, queryset):
        self._move(request, queryset, services.receive_movement, "received")


# --- Records ------------------------------------------------------------------------------------


@admin.register(StatusChange)
class StatusChangeAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Status history: written only by orders/services.py, in the same transaction as the change."""

    list_display = ["at", "order", "subject", "movement", "previous_status", "status", "actor_kind", "actor_label"]
    list_filter = ["subject", "status", "actor_kind"]
    list_select_related = ["order", "movement"]
    search_fields = ["order__order_no", "movement__reference", "actor_label"]
    date_hierarchy = "at"


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Events as sent to webhook subscribers; immutable once written."""

    list_display = ["id", "type", "occurred_at", "order", "movement"]
    list_filter = ["type"]
    list_select_related = ["order", "movement"]
    search_fields = ["order__order_no", "movement__reference"]
    date_hierarchy = "occurred_at"
    fields = ["type", "occurred_at", "order", "movement", "payload_json"]

    @admin.display(description="payload")
    def payload_json(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, ensure_ascii=False))
