"""The public tracking page: no login, found by the order's random token only (never its number).

It shows what a customer needs and nothing a stranger holding the link should learn: status, a
timeline, the time window and ETA once planned, proof of delivery once completed, and of the
address only the town and postal code. Search engines are told not to index it, and a client
address that keeps guessing tokens is refused for a while.
"""

import ipaddress

from django.shortcuts import render
from django.utils.dateparse import parse_date, parse_datetime
from django.views.decorators.http import require_safe

from ..models import Order, StatusChange
from . import counters

# At most this many unknown tokens per client address (an IPv6 /64) in a window; then 429 until it ends.
MISSES_ALLOWED = 20
MISS_WINDOW_SECONDS = 10 * 60
PURPOSE = "tracking rate limit"
MAX_TOKEN_LENGTH = 64

S = Order.Status
# What the customer reads for each status: (headline, one line of explanation).
CUSTOMER_STATUS = {
    S.AWAITING_STOCK: ("Order received", "We are getting your items ready."),
    S.READY: ("Ready to schedule", "Your items are ready; we will plan your delivery soon."),
    S.PLANNED: ("Scheduled", "Your delivery is planned."),
    S.IN_PROGRESS: ("On the way", "Our team is on the way or with you now."),
    S.COMPLETED: ("Delivered", "Your order has been delivered."),
    S.FAILED: ("Attempted", "We could not complete the delivery; we will be in touch to arrange another day."),
    S.CANCELLED: ("Cancelled", "This order has been cancelled."),
}
COLLECTION_HEADLINE = {S.COMPLETED: ("Collected", "Your items have been collected.")}


def client_key(request):
    """The address a guesser is counted under: the IPv4 address, or the IPv6 /64 (one household)."""
    raw = request.META.get("REMOTE_ADDR", "")
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return f"tracking-miss:{raw[:64]}"
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return f"tracking-miss:{address.ipv4_mapped}"
        return f"tracking-miss:{ipaddress.ip_network(f'{address}/64', strict=False)}"
    return f"tracking-miss:{address}"


def _private(response):
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Cache-Control"] = "no-store, private"
    response["Referrer-Policy"] = "no-referrer"
    return response


def _message(request, status, title, text):
    response = render(request, "tracking/message.html", {"title": title, "text": text}, status=status)
    if status == 429:
        response["Retry-After"] = str(MISS_WINDOW_SECONDS)
    return _private(response)


def _leg(order, group):
    """What the page shows of one leg (the only one, for a delivery or collection order)."""
    headline, text = CUSTOMER_STATUS[group.status]
    if group.group_type == "collection" and group.status in COLLECTION_HEADLINE:
        headline, text = COLLECTION_HEADLINE[group.status]
    plan = group.plan or {}
    pod = order.pod or {}
    if order.is_multi:
        pod = next((leg for leg in pod.get("legs", []) if leg.get("sequence") == group.sequence), {})
    return {
        "sequence": group.sequence,
        "kind": group.get_group_type_display(),
        "status": group.status,
        "headline": headline,
        "text": text,
        "town": group.town,
        "postal_code": group.postal_code,
        "required_date": group.required_date,
        "required_time_from": group.required_time_from,
        "required_time_to": group.required_time_to,
        "plan": plan if group.status in (S.PLANNED, S.IN_PROGRESS) else None,
        "planned_date": _parsed(parse_date, plan.get("planned_date")),
        "pod": pod if group.status == S.COMPLETED else None,
        "delivered_at": _parsed(parse_datetime, pod.get("completed_at")),
    }


def _parsed(parse, value):
    """A date or time kept as text in a plan or proof of delivery, as an object the template can format."""
    try:
        return parse(value) if isinstance(value, str) else None
    except ValueError:
        return None


@require_safe
def tracking_page(request, token):
    key = client_key(request)
    if counters.read([key], purpose=PURPOSE)[0] >= MISSES_ALLOWED:
        return _message(
            request, 429, "Too many attempts", "Too many tracking links were tried from here. Try again later."
        )
    order = None
    if len(token) <= MAX_TOKEN_LENGTH:
        order = Order.objects.filter(tracking_token=token).first()
    if order is None:
        counters.bump([key], MISS_WINDOW_SECONDS, purpose=PURPOSE)
        return _message(
            request, 404, "Tracking link not found", "Check the link in your message; it may have been mistyped."
        )

    legs = [_leg(order, group) for group in order.groups.order_by("sequence")]
    timeline = [
        {"status": change.status, "label": CUSTOMER_STATUS[change.status][0], "at": change.at}
        for change in StatusChange.objects.filter(order=order, subject=StatusChange.Subject.ORDER).order_by("at", "id")
        if change.status in CUSTOMER_STATUS
    ]
    headline, text = CUSTOMER_STATUS[order.status]
    if len(legs) == 1:
        headline, text = legs[0]["headline"], legs[0]["text"]
    context = {
        "order": order,
        "headline": headline,
        "text": text,
        "legs": legs,
        "multi": order.is_multi,
        "timeline": timeline,
    }
    return _private(render(request, "tracking/page.html", context))
