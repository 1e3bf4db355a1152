"""CSV export of the office's filtered order list, streamed row by row.

The filters are the list page's own (`orders.filters.OrderFilter`), so an export holds exactly the
orders the page shows. Every text cell that a spreadsheet would take for a formula (one starting
with =, +, -, @, a tab or a carriage return) is prefixed with an apostrophe, so opening the file
never runs anything an order's sender typed.
"""

import csv

from django.db.models import Prefetch

from .filters import OrderFilter
from .models import Order, OrderLine

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK = 1000  # orders per database round trip (and per prefetch of their lines)

COLUMNS = (
    "order_no",
    "status",
    "order_type",
    "order_date",
    "customer_name",
    "customer_reference",
    "customer_mobile",
    "customer_email",
    "line1",
    "town",
    "postal_code",
    "country",
    "service_level",
    "required_date",
    "required_time_from",
    "required_time_to",
    "earliest_delivery_date",
    "lines",
    "quantity",
    "stock_locations",
    "delivery_methods",
    "driver_notes",
    "created_at",
    "updated_at",
)


def spreadsheet_safe(value):
    """The cell as text a spreadsheet shows rather than evaluates."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def filtered_orders(params):
    """(queryset, None) for the list page's query parameters, or (None, {parameter: [messages]})."""
    filterset = OrderFilter(params or None, queryset=Order.objects.select_related("service_level"))
    if params and not filterset.is_valid():
        return None, {name: [str(m) for m in messages] for name, messages in filterset.errors.items()}
    return filterset.qs, None


def _row(order):
    lines = list(order.lines.all())
    return [
        order.order_no,
        order.status,
        order.order_type,
        order.order_date,
        order.customer_name,
        order.customer_reference,
        order.customer_mobile,
        order.customer_email,
        order.line1,
        order.town,
        order.postal_code,
        order.country,
        order.service_level.code if order.service_level else "",
        order.required_date or "",
        order.required_time_from.strftime("%H:%M") if order.required_time_from else "",
        order.required_time_to.strftime("%H:%M") if order.required_time_to else "",
        order.earliest_delivery_date or "",
        len(lines),
        sum(line.quantity for line in lines),
        " ".join(sorted({line.stock_location.code for line in lines})),
        " ".join(sorted({line.delivery_method.code for line in lines})),
        order.driver_notes,
        order.created_at.isoformat(timespec="seconds"),
        order.updated_at.isoformat(timespec="seconds"),
    ]


class _Echo:
    """A file-like object whose write returns the line, for csv.writer in a generator."""

    def write(self, value):
        return value


def csv_lines(queryset):
    """The export as text, one CSV line at a time: a BOM (so Excel reads UTF-8), the header, the orders."""
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    yield "\ufeff" + writer.writerow(COLUMNS)
    lines = OrderLine.objects.select_related("stock_location", "delivery_method").only(
        "order_id", "quantity", "stock_location__code", "delivery_method__code"
    )
    orders = queryset.prefetch_related(Prefetch("lines", queryset=lines))
    for order in orders.iterator(chunk_size=CHUNK):
        yield writer.writerow([spreadsheet_safe(value) for value in _row(order)])
