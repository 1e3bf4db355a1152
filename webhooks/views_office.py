"""The office's webhook pages under /settings/ (administrators), and an order's deliveries (office staff).

Outbound: subscriptions (create with the SSRF guard, edit, rotate, re-enable) and each one's delivery
log with its attempts, "send again" for one delivery or every failed one since a time. Inbound: the
sources that post status events (create, rotate, deactivate) and the events each one sent.
Every write goes through the webhooks services (`delivery.py`, `inbound.py`), like the API and the
admin, so a page cannot bypass a rule. A secret appears only in the answer to the POST that made it.

The order detail page (an `orders` template) loads `order_deliveries` with `hx-get` on load: `orders`
never imports `webhooks`, it only names this URL, so the dependency still points one way.
"""

import json

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db import IntegrityError, transaction
from django.db.models import Max, Prefetch
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from orders.models import Order
from orders.views.access import admin_required, office_required

from . import delivery as service
from . import inbound, ssrf, tasks
from .models import EVENT_TYPES, Delivery, DeliveryAttempt, InboundEvent, InboundSource, Subscription

DELIVERIES_PER_PAGE = 20
EVENTS_PER_PAGE = 50
ORDER_DELIVERIES_SHOWN = 50


class SubscriptionForm(forms.ModelForm):
    event_types = forms.MultipleChoiceField(
        choices=[(t, "All events (*)" if t == "*" else t) for t in EVENT_TYPES],
        widget=forms.CheckboxSelectMultiple,
        initial=["*"],
        error_messages={"required": "Choose at least one event type (or all events)."},
    )

    class Meta:
        model = Subscription
        fields = ["url", "event_types", "description", "active"]
        labels = {"url": "Receiver URL", "active": "Active (events are sent)"}
        help_texts = {"url": "http:// or https:// on a public address; events are POSTed here, signed."}
        widgets = {"url": forms.TextInput(attrs={"class": "mono", "autocomplete": "off"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # The URL is where the secret goes: change it by making a new subscription.
            del self.fields["url"]
        else:
            del self.fields["active"]

    def clean_url(self):
        url = self.cleaned_data["url"].strip()
        try:
            ssrf.check(url)
        except ssrf.UnsafeURL as exc:
            raise forms.ValidationError(f"This URL cannot receive webhooks. {exc}")
        return url

    def clean_event_types(self):
        return list(dict.fromkeys(self.cleaned_data["event_types"]))


class RedeliverFailedForm(forms.Form):
    since = forms.DateTimeField(
        label="Send again every delivery that failed since",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M"],
        error_messages={
            "required": "Give a date and time.",
            "invalid": "Give a date and time such as 2026-11-27 09:00.",
        },
        help_text="Local time. Their receivers get them again with the same webhook-id.",
    )

    def clean_since(self):
        since = self.cleaned_data["since"]
        if since > timezone.now():
            raise forms.ValidationError("That time is in the future; no delivery has failed since then.")
        return since


class InboundSourceForm(forms.ModelForm):
    class Meta:
        model = InboundSource
        fields = ["name"]
        labels = {"name": "Name"}
        help_texts = {"name": "Letters, digits, hyphens or underscores; the sender posts to /webhooks/inbound/<name>/."}
        error_messages = {
            "name": {
                "unique": "An inbound source with this name already exists.",
                "invalid": "Use only letters, digits, hyphens or underscores: the name is part of a URL.",
            }
        }


def _queue_after_commit(ids):
    transaction.on_commit(lambda: tasks.enqueue(ids))


# --- Outbound subscriptions ---------------------------------------------------------------------


def _subscriptions_page(request, *, form=None, new_secret=None, status=200):
    context = {
        "section": "settings",
        "subscriptions": Subscription.objects.select_related("client").order_by("-id"),
        "form": form or SubscriptionForm(),
        "new_secret": new_secret,
    }
    return render(request, "webhooks/subscriptions.html", context, status=status)


@require_GET
@admin_required
def subscription_list(request):
    return _subscriptions_page(request)


@require_POST
@admin_required
def subscription_new(request):
    form = SubscriptionForm(request.POST)
    if not form.is_valid():
        return _subscriptions_page(request, form=form, status=422)
    subscription = form.save()
    return _subscriptions_page(request, new_secret={"subscription": subscription, "secret": subscription.secret})


def _subscription_page(request, subscription, *, form=None, new_secret=None, status=200):
    deliveries = (
        Delivery.objects.filter(subscription=subscription)
        .select_related("event__order")
        .prefetch_related(Prefetch("attempts", queryset=DeliveryAttempt.objects.order_by("id")))
        .order_by("-id")
    )
    page = Paginator(deliveries, DELIVERIES_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "section": "settings",
        "subscription": subscription,
        "page": page,
        "now": timezone.now(),
        "redeliver_form": form or RedeliverFailedForm(),
        "new_secret": new_secret,
    }
    response = render(request, "webhooks/subscription_detail.html", context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_GET
@admin_required
def subscription_detail(request, pk):
    return _subscription_page(request, get_object_or_404(Subscription, pk=pk))


@require_http_methods(["GET", "POST"])
@admin_required
def subscription_edit(request, pk):
    subscription = get_object_or_404(Subscription, pk=pk)
    was_active = subscription.active
    form = SubscriptionForm(request.POST or None, instance=subscription)
    if request.method == "POST":
        if form.is_valid():
            with transaction.atomic():
                subscription = form.save(commit=False)
                # Only the edited fields: a worker may disable the subscription meanwhile (disable_if_dead),
                # and saving the whole row would undo that. The state changes through the services below.
                subscription.save(update_fields=["event_types", "description", "updated_at"])
                wanted = form.cleaned_data["active"]
                if wanted and not was_active:
                    service.enable(subscription)
                elif was_active and not wanted:
                    service.disable(subscription, f"Disabled by {request.user.get_username()} in the settings.")
            messages.success(request, "Subscription saved.")
            return redirect("webhooks:subscription_detail", pk=subscription.pk)
        status = 422
    else:
        status = 200
    context = {"section": "settings", "form": form, "subscription": subscription}
    return render(request, "webhooks/subscription_edit.html", context, status=status)


@require_POST
@admin_required
def subscription_rotate(request, pk):
    subscription = get_object_or_404(Subscription, pk=pk)
    secret = service.rotate_secret(subscription)
    subscription.refresh_from_db()
    return _subscription_page(request, subscription, new_secret=secret)


@require_POST
@admin_required
def subscription_enable(request, pk):
    subscription = get_object_or_404(Subscription, pk=pk)
    service.enable(subscription)
    messages.success(request, "Subscription enabled: its pending deliveries go out as they fall due.")
    return redirect("webhooks:subscription_detail", pk=subscription.pk)


@require_POST
@admin_required
def subscription_redeliver_failed(request, pk):
    subscription = get_object_or_404(Subscription, pk=pk)
    form = RedeliverFailedForm(request.POST)
    if not subscription.active:
        form.is_valid()
        form.add_error(None, "The subscription is disabled: enable it first, then send again.")
        return _subscription_page(request, subscription, form=form, status=409)
    if not form.is_valid():
        return _subscription_page(request, subscription, form=form, status=422)
    with transaction.atomic():
        ids = service.redeliver_failed_since(subscription, form.cleaned_data["since"])
        _queue_after_commit(ids)
    since = timezone.localtime(form.cleaned_data["since"])
    messages.success(
        request,
        f"Queued {len(ids)} failed deliver{'y' if len(ids) == 1 else 'ies'} since {since:%d %b %Y %H:%M} again.",
    )
    return redirect("webhooks:subscription_detail", pk=subscription.pk)


@require_POST
@admin_required
def delivery_redeliver(request, pk):
    found = get_object_or_404(Delivery.objects.select_related("subscription"), pk=pk)
    back = redirect("webhooks:subscription_detail", pk=found.subscription_id)
    if not found.subscription.active:
        messages.error(request, "The subscription is disabled: enable it first, then send again.")
        return back
    with transaction.atomic():
        ids = service.redeliver(found)
        _queue_after_commit(ids)
    messages.success(request, f"Delivery {found.pk} ({found.event_type}) queued again with the same webhook-id.")
    return back


# --- An order's deliveries, for the order detail page --------------------------------------------


@require_GET
@office_required
def order_deliveries(request, order_no):
    """The fragment the order detail page loads: the order's webhook deliveries and their last attempt."""
    order = Order.objects.filter(order_no=order_no).only("id", "order_no").first()
    if order is None:
        raise Http404("No such order.")
    deliveries = list(
        Delivery.objects.filter(event__order=order)
        .select_related("subscription")
        .prefetch_related(Prefetch("attempts", queryset=DeliveryAttempt.objects.order_by("id")))
        .order_by("-id")[: ORDER_DELIVERIES_SHOWN + 1]
    )
    for found in deliveries:
        attempts = list(found.attempts.all())
        found.attempt_total, found.last_attempt = len(attempts), attempts[-1] if attempts else None
    context = {
        "order": order,
        "deliveries": deliveries[:ORDER_DELIVERIES_SHOWN],
        "more": len(deliveries) > ORDER_DELIVERIES_SHOWN,
    }
    response = render(request, "webhooks/order_deliveries.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


# --- Inbound sources -----------------------------------------------------------------------------


def _sources_page(request, *, form=None, new_secret=None, status=200):
    context = {
        "section": "settings",
        "sources": InboundSource.objects.annotate(last_event_at=Max("events__received_at")).order_by("name"),
        "form": form or InboundSourceForm(),
        "new_secret": new_secret,
    }
    return render(request, "webhooks/inbound_sources.html", context, status=status)


@require_GET
@admin_required
def inbound_source_list(request):
    return _sources_page(request)


@require_POST
@admin_required
def inbound_source_new(request):
    form = InboundSourceForm(request.POST)
    if not form.is_valid():
        return _sources_page(request, form=form, status=422)
    try:
        with transaction.atomic():
            source, secret = inbound.create_source(form.cleaned_data["name"])
    except IntegrityError:  # created by someone else since the form was checked
        form.add_error("name", "An inbound source with this name already exists.")
        return _sources_page(request, form=form, status=422)
    return _sources_page(request, new_secret={"source": source, "secret": secret, "created": True})


@require_POST
@admin_required
def inbound_source_rotate(request, pk):
    source = get_object_or_404(InboundSource, pk=pk)
    secret = inbound.rotate_source_secret(source)
    return _sources_page(request, new_secret={"source": source, "secret": secret, "created": False})


@require_POST
@admin_required
def inbound_source_active(request, pk):
    source = get_object_or_404(InboundSource, pk=pk)
    source.active = request.POST.get("active") == "true"
    source.save(update_fields=["active"])
    if source.active:
        messages.success(request, f"Inbound source {source.name} is active: its events are accepted again.")
    else:
        messages.success(request, f"Inbound source {source.name} is deactivated: its events are refused.")
    return redirect("webhooks:inbound_sources")


def _in_words(reason):
    """A refused event's reason is the JSON error the sender got; the office reads its words."""
    try:
        data = json.loads(reason)
    except ValueError:
        return reason
    if isinstance(data, dict) and set(data) == {"detail"}:
        return str(data["detail"])
    if isinstance(data, dict):
        return "; ".join(f"{key}: {' '.join(map(str, v)) if isinstance(v, list) else v}" for key, v in data.items())
    return reason


@require_GET
@admin_required
def inbound_source_events(request, pk):
    source = get_object_or_404(InboundSource, pk=pk)
    events = InboundEvent.objects.filter(source=source).select_related("order").order_by("-received_at", "-id")
    page = Paginator(events, EVENTS_PER_PAGE).get_page(request.GET.get("page"))
    for event in page:
        event.reason_text = _in_words(event.reason)
    context = {"section": "settings", "source": source, "page": page}
    return render(request, "webhooks/inbound_events.html", context)
