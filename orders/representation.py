"""The order and the stock movement as the outside world sees them: plain JSON-ready dicts.

One shape for every reader: the API answers with it, the outbox puts it in each event's `data`, and
the webhooks and pages show it (docs/api.md describes the fields). Related rows are read through
Django's prefetch cache: an order fetched with `with_related()` renders without a query, and an
order a service has just written fills its cache once, when the outbox renders it, so the API's
answer to the same write costs nothing more.
"""

from django.db.models import Prefetch, prefetch_related_objects
from django.utils import timezone

from .models import Order, OrderGroup, OrderLine, StatusChange, StockMovement

ADDRESS_TEXT_FIELDS = ("line1", "line2", "line3", "town", "county", "postal_code", "country")


def _date(value):
    return None if value is None else value.isoformat()


def _time(value):
    return None if value is None else value.strftime("%H:%M:%S")


def _instant(value):
    """ISO 8601 in the office's time zone, `Z` for UTC (as Django REST framework writes instants)."""
    if value is None:
        return None
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _number(value):
    return None if value is None else float(value)


def _code(obj):
    return None if obj is None else obj.code


def address_dict(obj):
    """The address of an order, a group or a depot."""
    return {
        **{f: getattr(obj, f) for f in ADDRESS_TEXT_FIELDS},
        "lat": _number(obj.lat),
        "lng": _number(obj.lng),
    }


def _stored_address(data):
    # customer_address is kept as JSON: text fields as given, lat/lng as strings.
    if data is None:
        return None
    out = {f: data[f] for f in ADDRESS_TEXT_FIELDS if f in data}
    for f in ("lat", "lng"):
        out[f] = None if data.get(f) in (None, "") else float(data[f])
    return out


def line_dict(line):
    return {
        "line_no": line.line_no,
        "sequence": line.group.sequence,
        "sku": line.sku,
        "description": line.description,
        "quantity": line.quantity,
        "weight_kg": _number(line.weight_kg),
        "cube_m3": _number(line.cube_m3),
        "stock_location": line.stock_location.code,
        "on_hand_date": _date(line.on_hand_date),
        "delivery_method": line.delivery_method.code,
        "assembly_minutes": line.assembly_minutes,
        "notes": line.notes,
        "delivered_quantity": line.delivered_quantity,
    }


def group_dict(group):
    return {
        "sequence": group.sequence,
        "group_type": group.group_type,
        "address": address_dict(group),
        "required_date": _date(group.required_date),
        "required_time_from": _time(group.required_time_from),
        "required_time_to": _time(group.required_time_to),
        "status": group.status,
        "plan": group.plan,
        "lines": [line_dict(line) for line in _related(group, "lines")],
    }


def movement_dict(movement):
    """A stock movement with its lines."""
    prefetch_related_objects([movement], *_missing(movement, MOVEMENT_RELATED))
    return {
        "reference": movement.reference,
        "order_no": movement.order.order_no,
        "from_location": movement.from_location.code,
        "to_location": movement.to_location.code,
        "status": movement.status,
        "ship_date": _date(movement.ship_date),
        "due_date": _date(movement.due_date),
        "version": movement.version,
        "lines": [
            {"line_no": ml.line_no, "sku": ml.sku, "quantity": ml.quantity} for ml in _related(movement, "lines")
        ],
        "created_at": _instant(movement.created_at),
        "updated_at": _instant(movement.updated_at),
    }


def order_dict(order):
    """The whole order: header, lines, groups and movements."""
    prefetch_related_objects([order], *_missing(order, ORDER_RELATED))
    lines = _related(order, "lines")
    groups = _related(order, "groups")
    for group in groups:
        # A group's lines are the order's lines on it: read once, not again per group.
        if "lines" not in getattr(group, "_prefetched_objects_cache", {}) and "lines" not in _fresh(group):
            _cache(group, "lines", [line for line in lines if line.group_id == group.pk])
    return {
        "order_no": order.order_no,
        "order_date": _date(order.order_date),
        "order_type": order.order_type,
        "customer": {
            "name": order.customer_name,
            "mobile": order.customer_mobile,
            "email": order.customer_email,
            "phone": order.customer_phone,
        },
        "address": address_dict(order),
        "customer_reference": order.customer_reference,
        "customer_address": _stored_address(order.customer_address),
        "service_level": _code(order.service_level),
        "unload_minutes": order.unload_minutes,
        "required_date": _date(order.required_date),
        "required_time_from": _time(order.required_time_from),
        "required_time_to": _time(order.required_time_to),
        "order_notes": order.order_notes,
        "location_instructions": order.location_instructions,
        "driver_notes": order.driver_notes,
        "status": order.status,
        "version": order.version,
        "tracking_url": order.tracking_url,
        "earliest_delivery_date": _date(order.earliest_delivery_date),
        "attempt_count": order.attempt_count,
        "created_at": _instant(order.created_at),
        "updated_at": _instant(order.updated_at),
        "source": order.source,
        "lines": [line_dict(line) for line in lines],
        "groups": [group_dict(group) for group in groups],
        "movements": [movement_dict(movement) for movement in _related(order, "movements")],
    }


def history_dicts(order):
    """The order's own status changes (not its legs' or movements'), oldest first."""
    rows = StatusChange.objects.filter(order=order, subject=StatusChange.Subject.ORDER).order_by("at", "id")
    return [
        {
            "status": row.status,
            "previous_status": row.previous_status or None,
            "at": _instant(row.at),
            "actor": row.actor,
            "note": row.note,
        }
        for row in rows
    ]


def status_dict(order):
    """An order's status, history, movements and proof of delivery."""
    return {
        "order_no": order.order_no,
        "status": order.status,
        "tracking_url": order.tracking_url,
        "history": history_dicts(order),
        "movements": [movement_dict(m) for m in movements_with_related().filter(order=order).order_by("id")],
        "pod": order.pod if order.status == Order.Status.COMPLETED else None,
    }


# --- Reading what the representation needs in a fixed number of queries -------------------------

_LINES = OrderLine.objects.select_related("stock_location", "delivery_method", "group").order_by("line_no")
MOVEMENT_RELATED = ("from_location", "to_location", "order", "lines")
ORDER_RELATED = (
    "service_level",
    "source_client",
    "source_user",
    Prefetch("lines", queryset=_LINES),
    # The groups' lines are the order's lines, given to each group by order_dict (not read twice).
    Prefetch("groups", queryset=OrderGroup.objects.order_by("sequence")),
    Prefetch(
        "movements",
        queryset=StockMovement.objects.select_related("from_location", "to_location")
        .prefetch_related("lines")
        .order_by("id"),
    ),
)


def _cache(obj, name, items):
    """Fill `obj.<name>.all()` with `items`, as a prefetch would, without a query."""
    queryset = getattr(obj, name).all()
    queryset._result_cache = list(items)
    queryset._prefetch_done = True
    obj.__dict__.setdefault("_prefetched_objects_cache", {})[name] = queryset


def _fresh(obj):
    return obj.__dict__.get("_fresh_related", {})


def _related(obj, name):
    """`obj.<name>.all()` as a list, or what `attach` gave an order not inserted yet."""
    fresh = _fresh(obj)
    return fresh[name] if name in fresh else list(getattr(obj, name).all())


def attach(order, groups, lines, movements, movement_lines):
    """Give a just-created order everything `order_dict` and `movement_dict` read, from the objects
    the create writes (its groups, lines, movements and their lines), so rendering it reads nothing.

    Before the rows are inserted (an order without a pk has no related managers) they are kept as
    plain lists, so the outbox events can be rendered and inserted in the same statement as the
    order (services._write); once inserted, a second call fills Django's prefetch cache instead."""
    lines = sorted(lines, key=lambda line: line.line_no)
    groups = sorted(groups, key=lambda group: group.sequence)
    movements = sorted(movements, key=lambda movement: movement.pk)
    related = [(order, "lines", lines), (order, "groups", groups), (order, "movements", movements)]
    related += [(group, "lines", [line for line in lines if line.group is group]) for group in groups]
    related += [(m, "lines", [ml for ml in movement_lines if ml.movement is m]) for m in movements]
    saved = order.pk is not None
    for obj, name, items in related:
        if saved:
            _cache(obj, name, items)
            obj.__dict__.pop("_fresh_related", None)
        else:
            obj.__dict__.setdefault("_fresh_related", {})[name] = items


def _missing(obj, lookups):
    """The lookups not yet loaded on `obj`, so rendering twice reads nothing twice."""
    cache = {**getattr(obj, "_prefetched_objects_cache", {}), **_fresh(obj)}
    missing = []
    for lookup in lookups:
        name = lookup.prefetch_through if isinstance(lookup, Prefetch) else lookup
        field = obj._meta.get_field(name)
        if field.is_relation and field.many_to_one:
            if getattr(obj, field.attname) is not None and not field.is_cached(obj):
                missing.append(lookup)
        elif name not in cache:
            missing.append(lookup)
    return missing


def with_related(queryset=None):
    """Orders with everything `order_dict` reads."""
    queryset = Order.objects.all() if queryset is None else queryset
    return queryset.select_related("service_level", "source_client", "source_user").prefetch_related(*ORDER_RELATED[3:])


def movements_with_related():
    return StockMovement.objects.select_related("from_location", "to_location", "order").prefetch_related("lines")
