"""Settings for administrators: reference data and API clients."""

from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .access import admin_required


@require_GET
@admin_required
def settings_home(request):
    return render(request, "orders/settings.html", {"section": "settings"})


@require_POST
@admin_required
def api_client_new(request):
    return render(request, "orders/settings.html", {"section": "settings"})


@require_POST
@admin_required
def api_client_rotate(request, pk):
    return render(request, "orders/settings.html", {"section": "settings"})


@require_POST
@admin_required
def api_client_active(request, pk):
    return render(request, "orders/settings.html", {"section": "settings"})


@require_http_methods(["GET", "POST"])
@admin_required
def reference_edit(request, kind, pk=None):
    return render(request, "orders/settings.html", {"section": "settings"})


@require_POST
@admin_required
def reference_active(request, kind, pk):
    return render(request, "orders/settings.html", {"section": "settings"})
