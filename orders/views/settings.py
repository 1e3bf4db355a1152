"""Settings for administrators: reference data (retired, never deleted) and API clients.

Reference data is edited through ModelForms, so the model's own rules on codes apply; a code in use
is retired (`active` false: no longer offered for new orders) rather than deleted. An API client's
key is shown once, in the answer to its creation or rotation, and only its digest is kept.
"""

from django import forms
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ..admin import StockLocationForm
from ..models import ApiClient, DeliveryMethod, FailureReason, Lane, ServiceLevel, StockLocation
from .access import admin_required


class DeliveryMethodForm(forms.ModelForm):
    class Meta:
        model = DeliveryMethod
        fields = ["code", "name", "depot", "active"]


class ServiceLevelForm(forms.ModelForm):
    class Meta:
        model = ServiceLevel
        fields = ["code", "name", "description", "default_unload_minutes", "active"]


class FailureReasonForm(forms.ModelForm):
    class Meta:
        model = FailureReason
        fields = ["code", "description", "active"]


class LaneForm(forms.ModelForm):
    class Meta:
        model = Lane
        fields = ["from_location", "to_location", "transit_days"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("from_location") and cleaned.get("from_location") == cleaned.get("to_location"):
            self.add_error("to_location", "A lane joins two different depots.")
        return cleaned


class ApiClientForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=ApiClient.Scope.choices, widget=forms.CheckboxSelectMultiple, required=False
    )

    class Meta:
        model = ApiClient
        fields = ["name", "scopes"]


# kind in the URL: (model, form, title, columns shown)
KINDS = {
    "depots": (StockLocation, StockLocationForm, "Depots (stock locations)", ["code", "name", "town", "postal_code"]),
    "fleets": (DeliveryMethod, DeliveryMethodForm, "Fleets (delivery methods)", ["code", "name", "depot"]),
    "service-levels": (
        ServiceLevel,
        ServiceLevelForm,
        "Service levels",
        ["code", "name", "default_unload_minutes"],
    ),
    "failure-reasons": (FailureReason, FailureReasonForm, "Failure reasons", ["code", "description"]),
    "lanes": (Lane, LaneForm, "Lanes", ["from_location", "to_location", "transit_days"]),
}


def _kind(kind):
    if kind not in KINDS:
        raise Http404("No such settings section.")
    return KINDS[kind]


def _sections():
    sections = []
    for kind, (model, _form, title, columns) in KINDS.items():
        queryset = model.objects.all()
        if model is DeliveryMethod:
            queryset = queryset.select_related("depot")
        if model is Lane:
            queryset = queryset.select_related("from_location", "to_location")
        rows = [
            {"obj": obj, "cells": [getattr(obj, c) for c in columns], "retirable": hasattr(obj, "active")}
            for obj in queryset
        ]
        headers = [model._meta.get_field(c).verbose_name for c in columns]
        sections.append({"kind": kind, "title": title, "headers": headers, "rows": rows})
    return sections


def _page(request, *, new_key=None, status=200):
    context = {
        "section": "settings",
        "sections": _sections(),
        "clients": ApiClient.objects.all(),
        "client_form": ApiClientForm(),
        "new_key": new_key,
    }
    return render(request, "orders/settings.html", context, status=status)


@require_GET
@admin_required
def settings_home(request):
    return _page(request)


@require_http_methods(["GET", "POST"])
@admin_required
def reference_edit(request, kind, pk=None):
    model, form_class, title, _columns = _kind(kind)
    instance = get_object_or_404(model, pk=pk) if pk is not None else None
    form = form_class(request.POST or None, instance=instance)
    if request.method == "POST":
        if form.is_valid():
            form.save()
            return redirect("orders:settings")
        status = 422
    else:
        status = 200
    context = {"section": "settings", "form": form, "title": title, "kind": kind, "instance": instance}
    return render(request, "orders/settings_edit.html", context, status=status)


@require_POST
@admin_required
def reference_active(request, kind, pk):
    """Retire (or bring back) a code: retired codes stay on old orders and are not offered for new ones."""
    model, *_ = _kind(kind)
    if not hasattr(model, "active"):
        raise Http404("This kind of reference data is not retired.")
    obj = get_object_or_404(model, pk=pk)
    obj.active = request.POST.get("active") == "true"
    obj.save(update_fields=["active"])
    return redirect("orders:settings")


@require_POST
@admin_required
def api_client_new(request):
    form = ApiClientForm(request.POST)
    if not form.is_valid():
        context = {"section": "settings", "form": form, "title": "New API client", "kind": None}
        return render(request, "orders/settings_edit.html", context, status=422)
    client = form.save(commit=False)
    key = client.set_new_key()
    client.save()
    return _page(request, new_key={"client": client, "key": key})


@require_POST
@admin_required
def api_client_rotate(request, pk):
    """A new key; the old one stops working at once."""
    client = get_object_or_404(ApiClient, pk=pk)
    key = client.set_new_key()
    client.save(update_fields=["key_id", "key_hash"])
    return _page(request, new_key={"client": client, "key": key})


@require_POST
@admin_required
def api_client_active(request, pk):
    client = get_object_or_404(ApiClient, pk=pk)
    client.active = request.POST.get("active") == "true"
    client.save(update_fields=["active"])
    return redirect("orders:settings")
