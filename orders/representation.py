"""The order and the stock movement as the outside world sees them: plain JSON-ready dicts.

One shape for every reader: the API answers with it, the outbox puts it in each event's `data`, and
the webhooks and pages show it (docs/api.md describes the fields). Related rows are read through
Django's prefetch cache: an order fetched with `with_related()` renders without a query, and an
order a service has just written fills its cache once, when the outbox renders it, so the API's
answer to the same write costs nothing more.
"""

import functools
from datetime import datetime

from django.db import connection
from django.db.models import Prefetch, prefetch_related_objects
from django.utils import timezone

from .db import prepared_cursor
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


def group_dict(group, lines=None):
    """A group (leg); `lines` are its line dicts where the caller has them rendered already."""
    return {
        "sequence": group.sequence,
        "group_type": group.group_type,
        "address": address_dict(group),
        "required_date": _date(group.required_date),
        "required_time_from": _time(group.required_time_from),
        "required_time_to": _time(group.required_time_to),
        "status": group.status,
        "plan": group.plan,
        "lines": [line_dict(line) for line in _related(group, "lines")] if lines is None else lines,
    }


def movement_dict(movement, *, instant=None):
    """A stock movement with its lines. `instant` is `_instants()` for a caller rendering many."""
    missing = _missing(movement, MOVEMENT_RELATED)
    if missing:
        prefetch_related_objects([movement], *missing)
    instant = instant or _instant
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
        "created_at": instant(movement.created_at),
        "updated_at": instant(movement.updated_at),
    }


def order_dict(order, *, instant=None, movements=None):
    """The whole order: header, lines, groups and movements.

    For a caller rendering many orders (the outbox of a bulk or an import batch): `instant` is
    `_instants()`, the time zone looked up once; `movements`, a dict, receives {id(movement): its
    dict} so the movements' own events reuse what was rendered here rather than render it again."""
    missing = _missing(order, ORDER_RELATED)
    if missing:
        prefetch_related_objects([order], *missing)
    lines = _related(order, "lines")
    groups = _related(order, "groups")
    for group in groups:
        # A group's lines are the order's lines on it: read once, not again per group.
        if "lines" not in getattr(group, "_prefetched_objects_cache", {}) and "lines" not in _fresh(group):
            _cache(group, "lines", [line for line in lines if line.group_id == group.pk])
    rendered = []
    for movement in _related(order, "movements"):
        data = movement_dict(movement, instant=instant)
        if movements is not None:
            movements[id(movement)] = data
        rendered.append(data)
    return {
        **_header(order, _code(order.service_level), order.source, instant),
        "lines": [line_dict(line) for line in lines],
        "groups": [group_dict(group) for group in groups],
        "movements": rendered,
    }


def _header(order, service_level, source, instant=None):
    """An order's own fields, as `order_dict` begins."""
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
        "service_level": service_level,
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
        "created_at": (instant or _instant)(order.created_at),
        "updated_at": (instant or _instant)(order.updated_at),
        "source": source,
    }


def order_dict_with(order, groups, related):
    """`order_dict` of an order a status move holds locked with its `groups` (changed in memory,
    perhaps not written yet), and `related`, what `read_related` read: nothing more is read."""
    lines = related["lines"]
    return {
        **_header(order, related["service_level"], related["source"]),
        "lines": lines,
        "groups": [group_dict(g, [line for line in lines if line["sequence"] == g.sequence]) for g in groups],
        "movements": related["movements"],
    }


# One statement: the order's lines and movements (with their lines) as `order_dict` renders them, and
# the labels of its service level and source. Built by PostgreSQL as json (its keys in order_dict's
# order; numbers, dates and text as order_dict writes them; instants converted below).
_RELATED_SQL = """
    SELECT
        (SELECT code FROM orders_servicelevel WHERE id = o.service_level_id),
        (SELECT name FROM orders_apiclient WHERE id = o.source_client_id),
        (SELECT {username} FROM {users} WHERE id = o.source_user_id),
        (SELECT json_agg(json_build_object(
                'line_no', l.line_no, 'sequence', g.sequence, 'sku', l.sku, 'description', l.description,
                'quantity', l.quantity, 'weight_kg', l.weight_kg, 'cube_m3', l.cube_m3, 'stock_location', sl.code,
                'on_hand_date', l.on_hand_date, 'delivery_method', dm.code, 'assembly_minutes', l.assembly_minutes,
                'notes', l.notes, 'delivered_quantity', l.delivered_quantity) ORDER BY l.line_no)
            FROM orders_orderline l
            JOIN orders_ordergroup g ON g.id = l.group_id
            JOIN orders_stocklocation sl ON sl.id = l.stock_location_id
            JOIN orders_deliverymethod dm ON dm.id = l.delivery_method_id
            WHERE l.order_id = o.id),
        (SELECT json_agg(json_build_object(
                'reference', m.reference, 'order_no', o.order_no, 'from_location', fl.code, 'to_location', tl.code,
                'status', m.status, 'ship_date', m.ship_date, 'due_date', m.due_date, 'version', m.version,
                'lines', COALESCE((
                    SELECT json_agg(json_build_object('line_no', ml.line_no, 'sku', ml.sku, 'quantity', ml.quantity)
                                    ORDER BY ml.line_no, ml.id)
                    FROM orders_stockmovementline ml WHERE ml.movement_id = m.id), '[]'::json),
                'created_at', m.created_at, 'updated_at', m.updated_at) ORDER BY m.id)
            FROM orders_stockmovement m
            JOIN orders_stocklocation fl ON fl.id = m.from_location_id
            JOIN orders_stocklocation tl ON tl.id = m.to_location_id
            WHERE m.order_id = o.id)
    FROM orders_order o WHERE {where}
"""


def _postgres():
    return connection.vendor == "postgresql"


@functools.cache
def related_sql(by="id"):
    """The statement of `read_related` on PostgreSQL, for an order given by its id (or `by="order_no"`:
    for a caller that sends it before it knows the id, in the same round trip as its lock)."""
    from django.contrib.auth import get_user_model

    users = get_user_model()
    username = users._meta.get_field(users.USERNAME_FIELD).column
    where = {"id": "o.id = %s", "order_no": "o.order_no = %s"}[by]
    return _RELATED_SQL.format(username=connection.ops.quote_name(username), users=users._meta.db_table, where=where)


def read_related(order):
    """What `order_dict_with` needs besides the order and its groups: {"lines", "movements",
    "service_level", "source"}. One statement on PostgreSQL; elsewhere the page renderer's reads."""
    if not _postgres():
        _, lines_of, movements_of = _related_of([order.pk], {order.pk: order.order_no})
        return {
            "lines": lines_of.get(order.pk, []),
            "movements": movements_of.get(order.pk, []),
            "service_level": _code(order.service_level),
            "source": order.source,
        }
    with prepared_cursor() as cursor:  # planned once per connection (its planning cost more than running it)
        cursor.execute(related_sql(), [order.pk])
        return related_from_row(cursor.fetchone())


def related_from_row(row):
    """`read_related`'s answer from the row of `related_sql`."""
    from .models import StatusChange, actor_label

    service_level, client, user, lines, movements = row
    if client is not None:
        source = actor_label(StatusChange.ActorKind.API_CLIENT, client)
    elif user is not None:
        source = actor_label(StatusChange.ActorKind.USER, user)
    else:
        source = actor_label(StatusChange.ActorKind.SYSTEM)
    lines, movements = lines or [], movements or []
    for line in lines:
        line["weight_kg"], line["cube_m3"] = _number(line["weight_kg"]), _number(line["cube_m3"])
    instant = _instants()
    for movement in movements:
        for key in ("created_at", "updated_at"):
            movement[key] = instant(datetime.fromisoformat(movement[key]))
    return {"lines": lines, "movements": movements, "service_level": service_level, "source": source}


def keep_created(order, data):
    """Remember `data`, the new order just rendered by `order_dict` for its order.created event, so
    the answer to the same create does not render it again (`created_dict`)."""
    order._created_dict = (order.version, order.updated_at, data)


def created_dict(order):
    """`order_dict(order)`, taken from its order.created event when the order is unchanged since
    (same version and updated_at, the same object); rendered afresh otherwise. Used once."""
    kept = order.__dict__.pop("_created_dict", None)
    if kept is not None and kept[:2] == (order.version, order.updated_at):
        return kept[2]
    return order_dict(order)


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


_LOOKUP_FIELDS = {}


def _lookup_fields(model, lookups):
    """[(lookup, name, the foreign key field or None)] for `lookups` on `model`, worked out once."""
    key = (model, lookups)
    if key not in _LOOKUP_FIELDS:
        plan = []
        for lookup in lookups:
            name = lookup.prefetch_through if isinstance(lookup, Prefetch) else lookup
            field = model._meta.get_field(name)
            plan.append((lookup, name, field if field.is_relation and field.many_to_one else None))
        _LOOKUP_FIELDS[key] = plan
    return _LOOKUP_FIELDS[key]


def _missing(obj, lookups):
    """The lookups not yet loaded on `obj`, so rendering twice reads nothing twice."""
    values = obj.__dict__
    prefetched = values.get("_prefetched_objects_cache", {})
    fresh = values.get("_fresh_related", {})
    missing = []
    for lookup, name, foreign_key in _lookup_fields(type(obj), lookups):
        if foreign_key is not None:
            if getattr(obj, foreign_key.attname) is not None and not foreign_key.is_cached(obj):
                missing.append(lookup)
        elif name not in prefetched and name not in fresh:
            missing.append(lookup)
    return missing


def with_related(queryset=None):
    """Orders with everything `order_dict` reads."""
    queryset = Order.objects.all() if queryset is None else queryset
    return queryset.select_related("service_level", "source_client", "source_user").prefetch_related(*ORDER_RELATED[3:])


def movements_with_related():
    return StockMovement.objects.select_related("from_location", "to_location", "order").prefetch_related("lines")


# --- A page of orders, rendered from a few set-based reads ---------------------------------------
#
# The API's order list renders whole pages: `order_dicts` reads the header columns of the page with
# one query (a `values()` row per order, as `ORDER_VALUES` names them), then every group with its
# lines in one more, every movement with its lines in another, and builds the same dicts as
# `order_dict` — no model instances, no prefetch querysets. tests/orders/test_representation_page.py
# holds the two to the same JSON, key order included.

ORDER_VALUES = (
    "id", "order_no", "order_date", "order_type", "customer_name", "customer_mobile", "customer_email",
    "customer_phone", *ADDRESS_TEXT_FIELDS, "lat", "lng", "customer_reference", "customer_address",
    "service_level__code", "unload_minutes", "required_date", "required_time_from", "required_time_to",
    "order_notes", "location_instructions", "driver_notes", "status", "version", "tracking_token",
    "earliest_delivery_date", "attempt_count", "created_at", "updated_at", "source_client_id",
    "source_client__name", "source_user_id",
)  # fmt: skip
_GROUP_VALUES = (
    "order_id", "id", "sequence", "group_type", *ADDRESS_TEXT_FIELDS, "lat", "lng", "required_date",
    "required_time_from", "required_time_to", "status", "plan",
    "lines__line_no", "lines__sku", "lines__description", "lines__quantity", "lines__weight_kg", "lines__cube_m3",
    "lines__stock_location__code", "lines__on_hand_date", "lines__delivery_method__code",
    "lines__assembly_minutes", "lines__notes", "lines__delivered_quantity",
)  # fmt: skip
_MOVEMENT_VALUES = (
    "order_id", "id", "reference", "from_location__code", "to_location__code", "status", "ship_date", "due_date",
    "version", "created_at", "updated_at", "lines__line_no", "lines__sku", "lines__quantity",
)  # fmt: skip


def order_values(queryset):
    """`queryset` as the rows `order_dicts` renders: one dict per order, the columns of `ORDER_VALUES`."""
    from django.contrib.auth import get_user_model

    return queryset.values(*ORDER_VALUES, f"source_user__{get_user_model().USERNAME_FIELD}")


def _address_of(row, start):
    """The address dict from 9 consecutive columns (ADDRESS_TEXT_FIELDS, lat, lng) of a values_list row."""
    end = start + len(ADDRESS_TEXT_FIELDS)
    return {
        **dict(zip(ADDRESS_TEXT_FIELDS, row[start:end], strict=True)),
        "lat": _number(row[end]),
        "lng": _number(row[end + 1]),
    }


def _instants():
    """`_instant` with the office's time zone looked up once (for a page of many instants)."""
    zone = timezone.get_current_timezone()

    def instant(value):
        if value is None:
            return None
        text = value.astimezone(zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return instant


def _related_queryset(kind, order_ids):
    if kind == "groups":
        queryset = OrderGroup.objects.order_by("order_id", "sequence", "lines__line_no")
        return queryset.filter(order_id__in=order_ids).values_list(*_GROUP_VALUES)
    queryset = StockMovement.objects.order_by("id", "lines__line_no", "lines__id")
    return queryset.filter(order_id__in=order_ids).values_list(*_MOVEMENT_VALUES)


@functools.lru_cache(maxsize=1024)
def _compiled(kind, vendor, count):
    """(SQL, converters) of `_related_queryset(kind, <count ids>)` as Django compiles it, or None if its
    parameters are not just the ids. Building and compiling the queryset cost more Python (~1-2 ms per
    page) than running it; a page has at most 200 orders, so there are at most 200 of each."""
    sentinels = list(range(-count, 0))  # no order has a negative id
    compiler = _related_queryset(kind, sentinels).query.get_compiler(connection=connection)
    sql, params = compiler.as_sql()
    if list(params) != sentinels:
        return None
    converters = compiler.get_converters([column[0] for column in compiler.select[: compiler.col_count]])
    return sql, tuple(converters.items())


def _rows_of_orders(kind, order_ids):
    """The rows of `_related_queryset(kind, order_ids)`, through its SQL compiled once per page size."""
    order_ids = list(dict.fromkeys(order_ids))
    if not order_ids:
        return []
    compiled = _compiled(kind, connection.vendor, len(order_ids))
    if compiled is None:
        return _related_queryset(kind, order_ids)
    sql, converters = compiled
    with connection.cursor() as cursor:
        cursor.execute(sql, order_ids)
        rows = cursor.fetchall()
    if converters:
        rows = [list(row) for row in rows]
        for row in rows:
            for position, (functions, expression) in converters:
                for convert in functions:
                    row[position] = convert(row[position], expression, connection)
    return rows


def _related_of(order_ids, order_nos):
    """({order id: groups}, {order id: lines}, {order id: movements}) as the order's dicts hold them,
    in 2 queries."""
    groups_of, lines_of, movements_of = {}, {}, {}
    instant = _instants()
    rows = _rows_of_orders("groups", order_ids)
    group = None
    for row in rows:
        if group is None or group[0] != row[1]:
            group = (
                row[1],
                {
                    "sequence": row[2],
                    "group_type": row[3],
                    "address": _address_of(row, 4),
                    "required_date": _date(row[13]),
                    "required_time_from": _time(row[14]),
                    "required_time_to": _time(row[15]),
                    "status": row[16],
                    "plan": row[17],
                    "lines": [],
                },
            )
            groups_of.setdefault(row[0], []).append(group[1])
        if row[18] is None:  # a group without lines
            continue
        line = {
            "line_no": row[18],
            "sequence": row[2],
            "sku": row[19],
            "description": row[20],
            "quantity": row[21],
            "weight_kg": _number(row[22]),
            "cube_m3": _number(row[23]),
            "stock_location": row[24],
            "on_hand_date": _date(row[25]),
            "delivery_method": row[26],
            "assembly_minutes": row[27],
            "notes": row[28],
            "delivered_quantity": row[29],
        }
        group[1]["lines"].append(line)
        lines_of.setdefault(row[0], []).append(line)
    for lines in lines_of.values():
        lines.sort(key=lambda line: line["line_no"])
    rows = _rows_of_orders("movements", order_ids)
    movement = None
    for row in rows:
        if movement is None or movement[0] != row[1]:
            movement = (
                row[1],
                {
                    "reference": row[2],
                    "order_no": order_nos[row[0]],
                    "from_location": row[3],
                    "to_location": row[4],
                    "status": row[5],
                    "ship_date": _date(row[6]),
                    "due_date": _date(row[7]),
                    "version": row[8],
                    "lines": [],
                    "created_at": instant(row[9]),
                    "updated_at": instant(row[10]),
                },
            )
            movements_of.setdefault(row[0], []).append(movement[1])
        if row[11] is not None:
            movement[1]["lines"].append({"line_no": row[11], "sku": row[12], "quantity": row[13]})
    return groups_of, lines_of, movements_of


def order_dicts(rows):
    """The dicts `order_dict` makes, for many orders at once, from `order_values` rows: 2 queries
    whatever their number (none for no rows)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from .models import StatusChange, actor_label

    rows = list(rows)
    if not rows:
        return []
    username = f"source_user__{get_user_model().USERNAME_FIELD}"
    groups_of, lines_of, movements_of = _related_of([r["id"] for r in rows], {r["id"]: r["order_no"] for r in rows})
    track = f"{settings.PUBLIC_BASE_URL}/track/"
    instant = _instants()
    out = []
    for r in rows:
        if r["source_client_id"]:
            source = actor_label(StatusChange.ActorKind.API_CLIENT, r["source_client__name"])
        elif r["source_user_id"]:
            source = actor_label(StatusChange.ActorKind.USER, r[username])
        else:
            source = actor_label(StatusChange.ActorKind.SYSTEM)
        order_id = r["id"]
        out.append(
            {
                "order_no": r["order_no"],
                "order_date": _date(r["order_date"]),
                "order_type": r["order_type"],
                "customer": {
                    "name": r["customer_name"],
                    "mobile": r["customer_mobile"],
                    "email": r["customer_email"],
                    "phone": r["customer_phone"],
                },
                "address": {
                    **{f: r[f] for f in ADDRESS_TEXT_FIELDS},
                    "lat": _number(r["lat"]),
                    "lng": _number(r["lng"]),
                },
                "customer_reference": r["customer_reference"],
                "customer_address": _stored_address(r["customer_address"]),
                "service_level": r["service_level__code"],
                "unload_minutes": r["unload_minutes"],
                "required_date": _date(r["required_date"]),
                "required_time_from": _time(r["required_time_from"]),
                "required_time_to": _time(r["required_time_to"]),
                "order_notes": r["order_notes"],
                "location_instructions": r["location_instructions"],
                "driver_notes": r["driver_notes"],
                "status": r["status"],
                "version": r["version"],
                "tracking_url": f"{track}{r['tracking_token']}/",
                "earliest_delivery_date": _date(r["earliest_delivery_date"]),
                "attempt_count": r["attempt_count"],
                "created_at": instant(r["created_at"]),
                "updated_at": instant(r["updated_at"]),
                "source": source,
                "lines": lines_of.get(order_id, []),
                "groups": groups_of.get(order_id, []),
                "movements": movements_of.get(order_id, []),
            }
        )
    return out
