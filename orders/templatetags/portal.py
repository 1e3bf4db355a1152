"""Small template helpers of the office pages."""

from django import template
from django.utils.html import format_html

from ..models import Order, StockMovement

register = template.Library()

# A badge says its status in words; the colour only helps the eye (netbox keeps them together too).
ORDER_BADGES = {
    Order.Status.AWAITING_STOCK: "amber",
    Order.Status.READY: "green",
    Order.Status.PLANNED: "blue",
    Order.Status.IN_PROGRESS: "purple",
    Order.Status.COMPLETED: "grey",
    Order.Status.FAILED: "red",
    Order.Status.CANCELLED: "grey",
}
MOVEMENT_BADGES = {
    StockMovement.Status.PENDING: "amber",
    StockMovement.Status.DISPATCHED: "blue",
    StockMovement.Status.RECEIVED: "green",
    StockMovement.Status.CANCELLED: "grey",
}


@register.simple_tag
def status_badge(status):
    """An order's (or group's) status as a coloured badge with its words."""
    try:
        value = Order.Status(status)
    except ValueError:
        return format_html('<span class="badge badge-grey">{}</span>', status or "—")
    return format_html('<span class="badge badge-{}">{}</span>', ORDER_BADGES[value], value.label)


@register.simple_tag
def movement_badge(status):
    try:
        value = StockMovement.Status(status)
    except ValueError:
        return format_html('<span class="badge badge-grey">{}</span>', status or "—")
    return format_html('<span class="badge badge-{}">{}</span>', MOVEMENT_BADGES[value], value.label)


@register.filter
def address(obj):
    """An address on one line: its parts, or its position when it has only lat/lng."""
    parts = [getattr(obj, f) for f in ("line1", "line2", "line3", "town", "county", "postal_code", "country")]
    text = ", ".join(str(p) for p in parts if p)
    if not text and obj.lat is not None:
        text = f"{obj.lat}, {obj.lng}"
    return text or "—"


@register.filter
def status_label(value):
    """The words for an order or movement status value."""
    for choices in (Order.Status, StockMovement.Status):
        try:
            return choices(value).label
        except ValueError:
            continue
    return value
