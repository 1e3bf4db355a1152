"""The stock movement board: movements by lane and ship date, dispatched and received in bulk."""

from datetime import timedelta
from itertools import groupby

from django.db.models import Q
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from .. import services
from ..domain import Actor, OrderError
from ..models import Order, StockMovement
from .access import office_required

MS = StockMovement.Status
# The board shows at most this many movements; narrow it with the filters to see others.
BOARD_LIMIT = 500
VIEWS = {
    "open": "To dispatch or receive (and received in the last day)",
    "pending": "Pending only",
    "dispatched": "Dispatched only",
    "received": "Received",
    "all": "All, cancelled included",
}


def _movements(view):
    queryset = StockMovement.objects.select_related("from_location", "to_location", "order").prefetch_related("lines")
    if view == "open":
        since = timezone.now() - timedelta(days=1)
        queryset = queryset.filter(
            Q(status__in=[MS.PENDING, MS.DISPATCHED]) | Q(status=MS.RECEIVED, updated_at__gte=since)
        )
    elif view in (MS.PENDING, MS.DISPATCHED, MS.RECEIVED):
        queryset = queryset.filter(status=view)
    queryset = queryset.order_by("from_location__code", "to_location__code", "ship_date", "id")
    return list(queryset[:BOARD_LIMIT])


def _board(movements):
    """[{lane, from, to, dates: [{ship_date, movements}]}] in lane, then ship-date order."""
    lanes = []
    for (origin, destination), lane_items in groupby(movements, key=lambda m: (m.from_location, m.to_location)):
        dates = [
            {"ship_date": ship_date, "movements": list(items)}
            for ship_date, items in groupby(lane_items, key=lambda m: m.ship_date)
        ]
        lanes.append({"from": origin, "to": destination, "dates": dates})
    return lanes


def _render(request, view, *, results=None, status=200):
    movements = _movements(view)
    context = {
        "section": "movements",
        "lanes": _board(movements),
        "view": view,
        "views": VIEWS,
        "limited": len(movements) >= BOARD_LIMIT,
        "results": results or [],
    }
    template = "orders/movement_board.html"
    if request.htmx and not request.htmx.history_restore_request:
        template += "#board"
    response = render(request, template, context, status=status)
    response["Vary"] = "HX-Request"
    return response


@require_GET
@office_required
def movement_board(request):
    view = request.GET.get("view") if request.GET.get("view") in VIEWS else "open"
    return _render(request, view)


@require_POST
@office_required
def movement_action(request):
    view = request.POST.get("view") if request.POST.get("view") in VIEWS else "open"
    action = request.POST.get("action")
    references = [r for r in request.POST.getlist("reference") if r][:BOARD_LIMIT]
    if action not in ("dispatch", "receive") or not references:
        message = "Tick one or more movements, then choose Dispatch or Receive."
        return _render(request, view, results=[{"ok": False, "text": message}], status=400)
    service = services.dispatch_movement if action == "dispatch" else services.receive_movement
    actor = Actor.for_user(request.user)
    results = []
    for reference in references:
        # Each movement on its own: one that cannot move does not hold the others back.
        try:
            movement = service(reference, actor=actor)
        except OrderError as exc:
            results.append({"ok": False, "text": f"{reference}: {exc.message}"})
            continue
        text = f"{reference} {'dispatched' if action == 'dispatch' else 'received'}."
        if action == "receive":
            order = Order.objects.only("order_no", "status").get(pk=movement.order_id)
            if order.status == Order.Status.READY:
                text += f" Order {order.order_no} is now ready to plan."
            else:
                text += f" Order {order.order_no} is {order.get_status_display().lower()}."
        results.append({"ok": True, "text": text})
    status = 200 if all(r["ok"] for r in results) else 409
    return _render(request, view, results=results, status=status)
