"""Office pages for orders: the list, create and edit, the detail page and inline notes."""

import hashlib

from django.core.cache import cache
from django.db.models import Count, Max
from django.http import HttpResponse, HttpResponseNotModified
from django.shortcuts import render
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ..filters import OrderFilter
from ..models import Order
from ..templatetags.portal import ORDER_BADGES
from .access import office_required

PAGE_SIZES = (25, 50, 100)
DEFAULT_PAGE_SIZE = 50
# Per-status counts cover the whole table: computed at most this often, not on every request.
STATUS_COUNTS_SECONDS = 30
STATUS_COUNTS_KEY = "office:order-status-counts"


def _int(value, default, *, allowed=None, minimum=1):
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    if allowed is not None and number not in allowed:
        return default
    return max(number, minimum)


def status_counts():
    """{status: count} over every order, from the cache when it is fresh enough."""

    def compute():
        rows = Order.objects.order_by().values_list("status").annotate(n=Count("id"))
        return dict(rows)

    try:
        return cache.get_or_set(STATUS_COUNTS_KEY, compute, STATUS_COUNTS_SECONDS)
    except Exception:  # a cache outage costs one GROUP BY, not the page
        return compute()


def _list_etag(request):
    """Changes whenever any order changes: every service saves the order, which moves updated_at."""
    latest = Order.objects.aggregate(latest=Max("updated_at"))["latest"]
    raw = f"{latest.isoformat() if latest else '-'}|{request.GET.urlencode()}"
    return '"' + hashlib.sha256(raw.encode()).hexdigest()[:20] + '"'


@require_GET
@office_required
def order_list(request):
    etag = _list_etag(request)
    if request.htmx and request.headers.get("If-None-Match") == etag:
        response = HttpResponseNotModified()
        response["ETag"] = etag
        patch_vary_headers(response, ["HX-Request"])
        return response

    page = _int(request.GET.get("page"), 1)
    page_size = _int(request.GET.get("per_page"), DEFAULT_PAGE_SIZE, allowed=PAGE_SIZES)
    filterset = OrderFilter(request.GET or None, queryset=Order.objects.select_related("service_level"))
    valid = filterset.is_valid() if request.GET else True
    orders, has_next = [], False
    if valid:
        start = (page - 1) * page_size
        # One row more than the page tells whether there is a next page, without COUNT(*).
        orders = list(filterset.qs[start : start + page_size + 1])
        has_next = len(orders) > page_size
        orders = orders[:page_size]
    counts = status_counts()
    context = {
        "section": "orders",
        "filter": filterset,
        "orders": orders,
        "page": page,
        "page_size": page_size,
        "page_sizes": PAGE_SIZES,
        "has_next": has_next,
        "has_previous": page > 1,
        "status_counts": [
            {"value": value, "label": label, "count": counts.get(value, 0), "badge": ORDER_BADGES[value]}
            for value, label in Order.Status.choices
        ],
        "total": sum(counts.values()),
        "current_status": request.GET.get("status", ""),
        "etag": etag,
    }
    template = "orders/order_list.html"
    if request.htmx and not request.htmx.history_restore_request:
        template += "#results"
    response = render(request, template, context, status=200 if valid else 400)
    response["ETag"] = etag
    patch_vary_headers(response, ["HX-Request"])
    # Always asked again: the poller sends If-None-Match itself and gets 304 when nothing changed.
    patch_cache_control(response, no_store=True)
    return response


def _todo(request, *args, **kwargs):
    return HttpResponse("Not yet.", status=501)


order_new = require_http_methods(["GET", "POST"])(office_required(_todo))
line_row = require_GET(office_required(_todo))
group_row = require_GET(office_required(_todo))
trunking_hint = require_GET(office_required(_todo))
order_detail = require_GET(office_required(_todo))
order_edit = require_http_methods(["GET", "POST"])(office_required(_todo))
order_note = require_http_methods(["GET", "POST"])(office_required(_todo))
order_cancel = require_POST(office_required(_todo))
order_move_status = require_POST(office_required(_todo))
