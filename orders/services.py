"""Every write to the order domain goes through a function here.

Each function is atomic, locks the order row first (then its movements), checks the version an
outside caller expected, writes status history for every status it changes, runs the trunking
rule where lines may have changed, raises `version` once, and records its events in the outbox in
the same transaction. Pages, the API, imports and inbound webhooks all call these, so no door
bypasses a rule. Refusals are `OrderError` (a state that forbids the change) or `InputError`
(a value the domain refuses, naming the field); each door words them its own way.
"""

import secrets
import time

import orjson
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, models, transaction
from django.db.models import Count
from django.utils import timezone

from . import events, instances, representation, trunking
from .db import prepared_cursor
from .domain import (
    Actor,
    InputError,
    OrderError,
    StaleEvent,
    TransitionNotAllowed,
    check_version,
    derive_order_status,
)
from .identifiers import order_no_problem
from .models import (
    AddressFields,
    FailureReason,
    Order,
    OrderGroup,
    OrderLine,
    OutboxEvent,
    StatusChange,
    StockMovement,
    StockMovementLine,
)

S = Order.Status
MS = StockMovement.Status
E = OutboxEvent.Type

# Work limits per order, whatever door the order comes through (docs/security.md).
MAX_LINES_PER_ORDER = 500
MAX_GROUPS_PER_ORDER = 20

ADDRESS_FIELDS = AddressFields.ADDRESS_FIELDS
WINDOW_FIELDS = ("required_date", "required_time_from", "required_time_to")
# Changing any of these on a planned order or leg takes it off its plan.
PLAN_FIELDS = ADDRESS_FIELDS + WINDOW_FIELDS
HEADER_FIELDS = (
    "order_date",
    "customer_name",
    "customer_mobile",
    "customer_email",
    "customer_phone",
    "customer_reference",
    "customer_address",
    "service_level",
    "unload_minutes",
    "order_notes",
    "location_instructions",
    "driver_notes",
    *PLAN_FIELDS,
)
LINE_FIELDS = (
    "sku",
    "description",
    "quantity",
    "weight_kg",
    "cube_m3",
    "stock_location",
    "on_hand_date",
    "delivery_method",
    "assembly_minutes",
    "notes",
)
NEW_LINE_REQUIRED = ("sku", "quantity", "stock_location", "delivery_method")
GROUP_FIELDS = ("group_type", *PLAN_FIELDS)
# What a status move (plan, start, complete, fail) may change on the order and on its groups.
ORDER_STATUS_FIELDS = ("status", "status_changed_at", "version", "updated_at", "failure_reason", "attempt_count", "pod")
GROUP_STATUS_FIELDS = ("status", "status_changed_at", "plan")


class _Change:
    """What one service call did to one order: collected, then written out by `_finish`.

    A `deferred` change (the status moves: plan, start, complete, fail) keeps its groups' new
    statuses and its history rows here instead of writing each at once; `_finish` writes them with
    the order and its events (one statement on PostgreSQL)."""

    def __init__(self, order, actor, *, deferred=False):
        self.order = order
        self.actor = actor
        self.dirty = False
        self.order_types = []
        self.movement_events = []
        self.deferred = deferred
        self.legs = []  # every group of the order, as a status move read them
        self.groups = []  # deferred: the groups changed
        self.history = []  # deferred: StatusChange rows
        self.related = None  # a status move: what representation.read_related reads, if read already

    def order_event(self, event_type):
        self.dirty = True
        if event_type not in self.order_types:
            self.order_types.append(event_type)

    def movement_event(self, event_type, movement):
        self.dirty = True
        self.movement_events.append((event_type, movement))

    def save_group(self, group):
        """Keep a group's status, status_changed_at and plan: now, or with the rest in `_finish`."""
        if not self.deferred:
            group.save(update_fields=GROUP_STATUS_FIELDS)
        elif all(g is not group for g in self.groups):
            self.groups.append(group)

    def note(self, actor, *, previous, **fields):
        """A status history row: written now, or with the rest in `_finish`."""
        if not self.deferred:
            _history(self.order, actor, previous=previous, **fields)
            return
        row = StatusChange(
            order=self.order,
            previous_status=previous,
            actor_kind=actor.kind,
            actor_label=actor.label[:150],
            at=timezone.now(),
            **fields,
        )
        self.history.append(row)


def _lock(order, expected_version=None):
    """Lock and reload an order (given as an Order or its order_no); refuse a stale expected version."""
    order_no = order.order_no if isinstance(order, Order) else order
    try:
        locked = Order.objects.select_for_update().get(order_no=order_no)
    except Order.DoesNotExist:
        raise OrderError(f"There is no order {order_no}.", code="not_found")
    check_version(locked, expected_version)
    return locked


def _history(order, actor, *, subject, previous, status, note="", group=None, movement=None):
    StatusChange.objects.create(
        order=order,
        subject=subject,
        group=group,
        movement=movement,
        previous_status=previous,
        status=status,
        actor_kind=actor.kind,
        actor_label=actor.label[:150],
        note=note,
    )


def _set_group_status(change, group, target, *, note, actor=None, occurred_at=None):
    """Move one group (leg) to `target`, refusing what the status machine forbids."""
    if occurred_at is not None and occurred_at < group.status_changed_at:
        raise StaleEvent(
            f"The event happened at {occurred_at.isoformat()}, before the last status change "
            f"({group.status_changed_at.isoformat()}); it is too old to apply."
        )
    if not group.can_become(target):
        raise TransitionNotAllowed(group.status, target, "leg" if change.order.is_multi else "order")
    if group.status == target:
        return
    previous = group.status
    group.status = target
    group.status_changed_at = timezone.now()
    change.save_group(group)
    if change.order.is_multi:
        change.note(actor or change.actor, subject="group", previous=previous, status=target, note=note, group=group)
    change.dirty = True


def _sync_order_status(change, groups, *, note, actor=None):
    """Derive the order's status from its groups; record history and events when it moves."""
    order = change.order
    target = derive_order_status(g.status for g in groups)
    if target == order.status:
        return
    previous = order.status
    order.status = target
    order.status_changed_at = timezone.now()
    change.note(actor or change.actor, subject="order", previous=previous, status=target, note=note)
    for event_type in events.status_event_types(previous, target):
        change.order_event(event_type)


def _finish(change):
    """Raise the version, save the order and record its events, if anything changed."""
    if not change.dirty:
        return change.order
    if change.deferred:
        return _finish_status(change)
    order = change.order
    order.version += 1
    order.save()
    events.record(order=order, order_types=change.order_types, movement_events=change.movement_events)
    return order


def _run_trunking(change, *, on=None):
    """Run the trunking rule and record what it did to the movements."""
    outcome = trunking.apply(change.order, on=on)
    for movement in outcome.created:
        _history(
            change.order,
            change.actor,
            subject="movement",
            previous="",
            status=movement.status,
            note=f"{movement.reference} created: stock to move {movement.from_location.code} → "
            f"{movement.to_location.code}.",
            movement=movement,
        )
        change.movement_event(E.MOVEMENT_CREATED, movement)
    for movement in outcome.cancelled:
        _history(
            change.order,
            change.actor,
            subject="movement",
            previous=MS.PENDING,
            status=MS.CANCELLED,
            note=f"{movement.reference} no longer needed after the order's lines changed.",
            movement=movement,
        )
        change.movement_event(E.MOVEMENT_STATUS_CHANGED, movement)
    return outcome


def _stock_ready_groups(order, groups, *, on=None):
    """The ids of the groups whose every line's stock is at its fleet's depot (an empty leg is ready)."""
    ready_lines = trunking.stock_ready_lines(order, on=on)
    waiting = set()
    for line_id, group_id in OrderLine.objects.filter(order=order).values_list("pk", "group_id"):
        if line_id not in ready_lines:
            waiting.add(group_id)
    return {group.pk for group in groups if group.pk not in waiting}


def _refresh_stock_status(change, *, changed_groups=(), trigger="", on=None):
    """Set each group's awaiting_stock/ready from where its stock is, then the order's status.

    Groups that are planned or failed and whose lines, address or window changed are taken off
    their plan. Moves caused by stock arriving are the system's, with a note of why.
    """
    order = change.order
    groups = list(OrderGroup.objects.filter(order=order).order_by("sequence"))
    ready = _stock_ready_groups(order, groups, on=on)
    notes = []
    for group in groups:
        stock_ready = group.pk in ready
        target = S.READY if stock_ready else S.AWAITING_STOCK
        if group.status in (S.AWAITING_STOCK, S.READY) and group.status != target:
            note = "All stock is at the delivering depot." if stock_ready else "Waiting for stock to reach the depot."
            if trigger:
                note = f"{note} ({trigger})"
            _set_group_status(change, group, target, note=note, actor=Actor.system())
            notes.append(note)
        elif group.status in (S.PLANNED, S.FAILED) and group.pk in changed_groups:
            was = "planned" if group.status == S.PLANNED else "failed"
            group.plan = None
            note = f"Taken off its plan: the {was} order was changed by {change.actor}."
            _set_group_status(change, group, target, note=note)
            notes.append(note)
    system_driven = not any(n.startswith("Taken off") for n in notes)
    _sync_order_status(
        change, groups, note=" ".join(dict.fromkeys(notes)), actor=Actor.system() if system_driven else None
    )
    return groups


def _check_line_shape(order_type, legs, *, field):
    """Every order keeps lines: a delivery or collection order at least one, a multi order one on
    every delivery leg; and no order has more than MAX_LINES_PER_ORDER across its legs.

    `legs` are (sequence, group_type, number of lines) triples. The same rule on create and on
    every change of lines (PATCH, PUT lines, imports, pages).
    """
    total = sum(count for _, _, count in legs)
    if total > MAX_LINES_PER_ORDER:
        raise InputError(
            (field,),
            f"An order has at most {MAX_LINES_PER_ORDER} lines across all its groups; this one would have {total}.",
        )
    if order_type != Order.Type.MULTI:
        if total == 0:
            raise InputError((field,), "An order needs at least one line.")
        return
    empty = [sequence for sequence, group_type, count in legs if group_type == OrderGroup.Type.DELIVERY and not count]
    if empty:
        raise InputError((field,), f"Every delivery group needs at least one line; group {empty[0]} would have none.")


# --- Orders -------------------------------------------------------------------------------------


def _single_group_fields(fields, group_type):
    return {"sequence": 1, "group_type": group_type, **{f: fields.get(f) for f in PLAN_FIELDS}}


def _stored(field, value):
    """The value as the column keeps it: address text fields hold "" rather than None."""
    if value is None and field in ADDRESS_FIELDS and field not in ("lat", "lng"):
        return ""
    return value


def _clean_address(values):
    return {f: _stored(f, values.get(f)) for f in ADDRESS_FIELDS}


def _duplicate(order_no):
    # Order numbers are unique across the whole business, so this names one another client may own
    # (docs/security.md says why that is accepted).
    return OrderError(f"An order with order_no {order_no} already exists.", code="duplicate")


def _group_specs(fields, order_type, lines, groups):
    """The legs to create, in sequence order, and the order's header fields with a multi order's
    own address and window defaulted to its first leg's."""
    if order_type != Order.Type.MULTI:
        return fields, [{**_single_group_fields(fields, order_type), "lines": lines or []}]
    specs = sorted(groups or [], key=lambda g: g["sequence"])
    if len(specs) < 2:
        raise InputError(("groups",), "A multi order needs two or more groups.")
    if len(specs) > MAX_GROUPS_PER_ORDER:
        raise InputError(("groups",), f"An order has at most {MAX_GROUPS_PER_ORDER} groups.")
    sequences = [spec["sequence"] for spec in specs]
    if len(set(sequences)) != len(sequences):
        raise InputError(("groups",), "Each group needs its own sequence.")
    first = specs[0]
    fields = {**fields}
    if not any(fields.get(f) for f in ADDRESS_FIELDS):
        fields.update({f: first.get(f) for f in ADDRESS_FIELDS})
    for f in WINDOW_FIELDS:
        if fields.get(f) is None:
            fields[f] = first.get(f)
    return fields, specs


def _check_line_numbers(line_specs, *, field="lines"):
    seen = set()
    for spec in line_specs:
        if spec["line_no"] in seen:
            raise InputError((field,), f"line_no {spec['line_no']} appears more than once.")
        seen.add(spec["line_no"])


_TYPED_FIELDS = (models.DateField, models.TimeField, models.DecimalField)


_TYPED = {}


def _as_stored(obj):
    """Dates, times and decimals given as text (pages, imports, tests) as the column returns them, so
    the order rendered from memory is the order a later read renders."""
    model = type(obj)
    if model not in _TYPED:
        _TYPED[model] = [f for f in model._meta.concrete_fields if isinstance(f, _TYPED_FIELDS) and not f.is_relation]
    values = obj.__dict__
    for f in _TYPED[model]:
        value = values[f.attname]
        if isinstance(value, (str, float, int)) and not isinstance(value, bool):
            values[f.attname] = f.to_python(value)


class _NewOrder:
    """One order built in memory by `_build`, with everything `_write` inserts."""

    def __init__(self, actor, order, groups, lines, movements, lane_lines):
        self.actor, self.order, self.groups, self.lines = actor, order, groups, lines
        self.movements, self.lane_lines = movements, lane_lines


def _build(*, actor, fields, lines=None, groups=None, on=None, prepared=None, today=None):
    """Create an order with its groups and lines, run the trunking rule, record order.created.

    `fields` are Order field values (reference data as instances). Delivery and collection orders
    take `lines` and get one group from their own address and window; a multi order takes
    `groups`, each with its own fields and `lines`. `prepared` (trunking.Prepared) carries the lanes
    and movement ids a caller has read already for this and other orders.

    Everything is decided in memory first (the trunking rule for lines that have no movements yet,
    the legs' and the order's status), then `_write` inserts it all: order, groups, lines,
    movements, movement lines, history, outbox. Nothing written is read back.
    """
    order_no = fields["order_no"]
    problem = order_no_problem(order_no)
    if problem:
        raise InputError(("order_no",), problem)
    order_type = fields.get("order_type", Order.Type.DELIVERY)
    fields, group_specs = _group_specs(fields, order_type, lines, groups)
    _check_line_shape(
        order_type,
        [(spec["sequence"], spec["group_type"], len(spec.get("lines") or [])) for spec in group_specs],
        field="groups" if order_type == Order.Type.MULTI else "lines",
    )
    _check_line_numbers([line for spec in group_specs for line in spec.get("lines") or []])

    header = {f: fields[f] for f in HEADER_FIELDS if f in fields}
    header.update(_clean_address(fields))
    # The columns' default (timezone.localdate) once per order rather than once per row (once per
    # batch: `create_orders` passes `today`).
    today = today or timezone.localdate()
    if "order_date" not in header:
        header["order_date"] = today
    order = instances.new(
        Order,
        order_no=order_no,
        order_type=order_type,
        source_client=actor.client,
        source_user=actor.user,
        **header,
    )
    if order.unload_minutes is None and order.service_level is not None:
        order.unload_minutes = order.service_level.default_unload_minutes
    groups_made = [
        instances.new(
            OrderGroup,
            order=order,
            sequence=spec["sequence"],
            group_type=spec["group_type"],
            **{f: spec.get(f) for f in WINDOW_FIELDS},
            **_clean_address(spec),
        )
        for spec in group_specs
    ]
    lines_made = [
        instances.new(
            OrderLine,
            order=order,
            group=group,
            on_hand_date=line.get("on_hand_date", today),
            **{f: line[f] for f in ("line_no", *LINE_FIELDS) if f in line and f != "on_hand_date"},
        )
        for group, spec in zip(groups_made, group_specs, strict=True)
        for line in spec.get("lines") or []
    ]

    for obj in (order, *groups_made, *lines_made):
        _as_stored(obj)

    # A new order's legs start ready or awaiting stock: the trunking rule, decided before any insert.
    movements, lane_lines, waiting = trunking.plan_new(order, lines_made, on=on or today, prepared=prepared)
    waiting_groups = {id(line.group) for line in waiting}
    for group in groups_made:
        group.status = S.AWAITING_STOCK if id(group) in waiting_groups else S.READY
    order.status = derive_order_status(g.status for g in groups_made)
    return _NewOrder(actor, order, groups_made, lines_made, movements, lane_lines)


# --- The create's single INSERT statement (PostgreSQL) ---------------------------------------------
#
# One statement of data-modifying CTEs inserts the orders, their groups, lines, movements, movement
# lines, history and outbox rows. Rows that point at rows inserted in the same statement name them by
# key (an order by order_no, a group by (order_no, sequence), a line by (order_no, line_no)) and take
# their ids by joining the CTE that inserted them; movements come with their ids already (trunking).
# Foreign keys are checked at the end of the statement. The final SELECT returns every new id with
# its key, so each object gets its pk as bulk_create would give it.


def _one_statement():
    """Whether `_write` inserts in one statement (PostgreSQL) or with one bulk_create per table."""
    return transaction.get_connection().vendor == "postgresql"


_AUTO_TIME_FIELDS = {}


def _stamp(objs):
    """Set auto_now/auto_now_add fields (created_at, updated_at, at, status_changed_at) as an INSERT
    by bulk_create would, before the rows are rendered and written: one instant for the whole write."""
    now = timezone.now()
    for obj in objs:
        model = type(obj)
        if model not in _AUTO_TIME_FIELDS:
            _AUTO_TIME_FIELDS[model] = [
                f.attname
                for f in model._meta.concrete_fields
                if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
            ]
        values = obj.__dict__
        for attname in _AUTO_TIME_FIELDS[model]:
            values[attname] = now


_INSERT_COLUMNS = {}


def _insert_columns(model, joined):
    """(fields written from the object's values, their SQL casts) for `model`, without its pk (unless a
    movement, whose id is given) and without the foreign keys in `joined` (taken from another CTE)."""
    key = (model, joined)
    if key not in _INSERT_COLUMNS:
        connection = transaction.get_connection()
        fields = [
            f
            for f in model._meta.concrete_fields
            if f.attname not in joined and not (f.primary_key and model is not StockMovement)
        ]
        # The base type without its length or precision: an explicit cast to varchar(n) would cut a
        # long value silently, where the column's own assignment refuses it (DataError) as bulk_create's does.
        casts = [f.db_type(connection).split("(")[0].split(" CHECK")[0] for f in fields]
        _INSERT_COLUMNS[key] = (fields, casts)
    return _INSERT_COLUMNS[key]


def _values(rows, keys, casts):
    """`VALUES (...), (...)`: for each row its key values (text) then its column values, cast."""
    placeholders = "(" + ", ".join(["%s::text"] * keys + [f"%s::{cast}" for cast in casts]) + ")"
    return "VALUES " + ", ".join([placeholders] * rows)


# Each CTE's text by its shape (table, joins, rows): the same on every create of the same shape, so
# it is written once per process (building it was ~5 % of a web worker's CPU per create, py-spy,
# session 6). Bounded: bulk writes and imports of any size have shapes of their own.
_CTE_SQL = {}
_CTE_SQL_MAX = 512


def _cte(name, model, objs, *, joined=(), keys=None, join="", select=(), returning="id"):
    """One `name AS (INSERT INTO … SELECT … FROM (VALUES …) v … RETURNING …)` and its params."""
    connection = transaction.get_connection()
    fields, casts = _insert_columns(model, tuple(joined))
    key_count = len(keys(objs[0])) if keys else 0
    params = []
    for obj in objs:
        if keys:
            params.extend(keys(obj))
        params.extend(f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields)
    shape = (connection.vendor, name, model, tuple(joined), key_count, len(objs), join, tuple(select), returning)
    sql = _CTE_SQL.get(shape)
    if sql is None:
        values = _values(len(objs), key_count, casts)
        columns = [*joined, *(f.column for f in fields)]
        aliases = [f"k{i}" for i in range(key_count)] + [f"c{i}" for i in range(len(fields))]
        chosen = [*select, *(f"v.c{i}" for i in range(len(fields)))]
        quote = connection.ops.quote_name
        # Only our tables' and columns' names and placeholders: every value is a parameter.
        table, names = quote(model._meta.db_table), ", ".join(quote(c) for c in columns)
        sql = f"{name} AS (INSERT INTO {table} ({names}) SELECT {', '.join(chosen)} "  # noqa: S608
        sql += f"FROM ({values}) AS v({', '.join(aliases)}) {join} RETURNING {returning})"
        if len(_CTE_SQL) >= _CTE_SQL_MAX:
            _CTE_SQL.clear()
        _CTE_SQL[shape] = sql
    return sql, params


def _event_order(row):
    # A movement's event names its order through the movement (events._rows), unsaved until now.
    return row.order if row.order_id is not None or row.movement is None else row.movement.order


def _insert_together(news, movement_lines, history, outbox):
    """Insert everything `_write` built in one statement (see above) and give each object its pk."""
    orders = [new.order for new in news]
    groups = [group for new in news for group in new.groups]
    lines = [line for new in news for line in new.lines]
    movements = [movement for new in news for movement in new.movements.values()]
    parts = [
        _cte("o", Order, orders, returning="id, order_no"),
        _cte(
            "g", OrderGroup, groups, joined=("order_id",), keys=lambda g: (g.order.order_no,),
            join="JOIN o ON o.order_no = v.k0", select=("o.id",), returning="id, order_id, sequence",
        ),
    ]  # fmt: skip
    if lines:
        parts.append(
            _cte(
                "l", OrderLine, lines, joined=("order_id", "group_id"),
                keys=lambda line: (line.order.order_no, str(line.group.sequence)),
                join="JOIN o ON o.order_no = v.k0 JOIN g ON g.order_id = o.id AND g.sequence = v.k1::integer",
                select=("o.id", "g.id"), returning="id, order_id, line_no",
            )
        )  # fmt: skip
    if movements:
        parts.append(
            _cte(
                "m", StockMovement, movements, joined=("order_id",), keys=lambda m: (m.order.order_no,),
                join="JOIN o ON o.order_no = v.k0", select=("o.id",),
            )
        )  # fmt: skip
    if movement_lines:
        parts.append(
            _cte(
                "ml", StockMovementLine, movement_lines, joined=("order_line_id",),
                keys=lambda ml: (ml.order_line.order.order_no, str(ml.line_no)),
                join="JOIN o ON o.order_no = v.k0 JOIN l ON l.order_id = o.id AND l.line_no = v.k1::integer",
                select=("l.id",), returning="id, movement_id, order_line_id",
            )
        )  # fmt: skip
    parts.append(
        _cte(
            "h", StatusChange, history, joined=("order_id",), keys=lambda h: (h.order.order_no,),
            join="JOIN o ON o.order_no = v.k0", select=("o.id",), returning="id, order_id, subject, movement_id",
        )
    )  # fmt: skip
    if outbox:
        parts.append(
            _cte(
                "e", OutboxEvent, outbox, joined=("order_id",), keys=lambda e: (_event_order(e).order_no,),
                join="JOIN o ON o.order_no = v.k0", select=("o.id",), returning="id, order_id, type, movement_id",
            )
        )  # fmt: skip
    selects = [
        "SELECT 'o', id, NULL::bigint, order_no FROM o",
        "SELECT 'g', id, order_id, sequence::text FROM g",
        "SELECT 'h', id, order_id, concat(subject, '/', movement_id) FROM h",
    ]
    if lines:
        selects.append("SELECT 'l', id, order_id, line_no::text FROM l")
    if movement_lines:
        selects.append("SELECT 'ml', id, movement_id, order_line_id::text FROM ml")
    if outbox:
        selects.append("SELECT 'e', id, order_id, concat(type, '/', movement_id) FROM e")
    sql = "WITH " + ", ".join(part for part, _ in parts) + " " + " UNION ALL ".join(selects)
    params = [param for _, part_params in parts for param in part_params]
    # Prepared (orders.db): its text repeats for every create of the same shape, and PostgreSQL
    # planning this statement afresh cost more of its CPU than running it (docs/performance.md).
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        returned = cursor.fetchall()
    ids = {(kind, a, b): pk for kind, pk, a, b in returned}
    order_ids = {b: pk for kind, pk, a, b in returned if kind == "o"}
    # Each pk, then each foreign key from its related object (as bulk_create does, keeping the cache).
    for order in orders:
        order.pk = order_ids[order.order_no]
    for group in groups:
        group.pk = ids[("g", group.order.pk, str(group.sequence))]
    for line in lines:
        line.pk = ids[("l", line.order.pk, str(line.line_no))]
    for ml in movement_lines:
        ml.pk = ids[("ml", ml.movement.pk, str(ml.order_line.pk))]
    for row in history:
        row.pk = ids[("h", row.order.pk, f"{row.subject}/{row.movement.pk if row.movement else ''}")]
    for row in outbox:
        if row.order_id is None:
            row.order = _event_order(row)
        row.pk = ids[("e", row.order.pk, f"{row.type}/{row.movement.pk if row.movement else ''}")]
    for obj in (*groups, *lines, *movements, *movement_lines, *history, *outbox):
        obj._prepare_related_fields_for_save(operation_name="bulk_create")
    for obj in (*orders, *groups, *lines, *movements, *movement_lines, *history, *outbox):
        obj._state.adding, obj._state.db = False, "default"


# --- Many orders at once (PostgreSQL): ids reserved, then COPY per table ------------------------------
#
# A batch of orders (a bulk request, an import batch) takes the ids of every row it writes in one
# statement (a `nextval` series per table), sets each row's id and foreign keys in memory, and sends
# each table's rows with COPY (psycopg's `cursor.copy`): nothing to join, and no statement text growing
# with the rows. Each COPY is noted in Django's query log, so the statement counts in the tests see it.

_WRITTEN = (Order, OrderGroup, OrderLine, StockMovement, StockMovementLine, StatusChange, OutboxEvent)
_COPY_COLUMNS = {}


def _copy_columns(model):
    """(the COPY statement, the fields' attnames, {position: JSONField}) for `model`, every concrete field."""
    if model not in _COPY_COLUMNS:
        fields = model._meta.concrete_fields
        quote = transaction.get_connection().ops.quote_name
        sql = f"COPY {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) FROM STDIN"
        json_fields = {i: f for i, f in enumerate(fields) if isinstance(f, models.JSONField)}
        _COPY_COLUMNS[model] = (sql, [f.attname for f in fields], json_fields)
    return _COPY_COLUMNS[model]


def _reserve_ids(counts):
    """`counts` new ids from each model's sequence ({model: n}), in one statement; {model: [ids]}, ascending."""
    parts, params = [], []
    for index, (model, count) in enumerate(counts.items()):
        # The sequence named once per table (pg_get_serial_sequence per row costs ~13 µs a row).
        parts.append(
            f"SELECT {index}, nextval(s.seq) FROM (SELECT pg_get_serial_sequence(%s, 'id')::regclass AS seq "  # noqa: S608 - an int
            "OFFSET 0) s, generate_series(1, %s)"
        )
        params += [model._meta.db_table, count]
    ids = {model: [] for model in counts}
    models_ = list(counts)
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        for index, pk in cursor.fetchall():
            ids[models_[index]].append(pk)
    for values in ids.values():
        values.sort()
    return ids


def _copy(cursor, model, objs):
    """COPY `objs` (with their ids and foreign keys set) into `model`'s table."""
    sql, attnames, json_fields = _copy_columns(model)
    connection = transaction.get_connection()
    started = time.monotonic()
    with cursor.cursor.copy(sql) as copy:
        for obj in objs:
            values = obj.__dict__
            row = [values[a] for a in attnames]
            for position, field in json_fields.items():
                row[position] = _json_text(field, row[position], connection)
            copy.write_row(row)
    if connection.queries_logged:
        connection.queries_log.append(
            {"sql": f"{sql} -- {len(objs)} rows", "time": f"{time.monotonic() - started:.3f}"}
        )


def _json_text(field, value, connection):
    """A JSON column's value for COPY. A dict or list for a field without its own encoder is written as
    orjson's text (the outbox payloads: json.dumps was ~0.2 s of an import of 5,000 orders, and the
    column, jsonb, keeps the same value whatever the spacing); anything orjson refuses (a key that is
    not text, a number or type JSON has no exact form for) and everything else takes the field's own
    path, as before."""
    if field.encoder is None and type(value) in (dict, list):
        try:
            return orjson.dumps(value).decode()
        except orjson.JSONEncodeError:
            pass
    return field.get_db_prep_save(value, connection)


def _set(obj, attname, value):
    # Straight into the instance: the foreign key's descriptor would drop the cached related object.
    obj.__dict__[attname] = value


def _copy_together(news, movement_lines, history, outbox):
    """Insert everything `_write` built for many orders: ids reserved in one statement, then one COPY
    per table. A taken order_no or a value the column refuses raises IntegrityError or DataError as an
    INSERT would (foreign keys are checked at commit, so the tables may be filled in any order)."""
    orders = [new.order for new in news]
    groups = [group for new in news for group in new.groups]
    lines = [line for new in news for line in new.lines]
    movements = [movement for new in news for movement in new.movements.values()]
    rows = {Order: orders, OrderGroup: groups, OrderLine: lines, StockMovementLine: movement_lines}
    rows.update({StatusChange: history, OutboxEvent: outbox})
    ids = _reserve_ids({model: len(objs) for model, objs in rows.items() if objs})
    for model, objs in rows.items():
        for obj, pk in zip(objs, ids.get(model, ()), strict=True):
            _set(obj, "id", pk)
    # Each foreign key from the related object the row holds (Django's cache of it, as bulk_create reads it).
    for objs, keys in (
        (groups, ("order",)),
        (lines, ("order", "group")),
        (movements, ("order",)),
        (movement_lines, ("movement", "order_line")),
        (history, ("order", "movement")),
    ):
        for obj in objs:
            cached = obj._state.fields_cache
            for key in keys:
                related = cached.get(key)
                if related is not None:
                    obj.__dict__[f"{key}_id"] = related.pk
    for row in outbox:
        if row.order_id is None:
            row.order = _event_order(row)
        _set(row, "order_id", row.order.pk)
        if row.movement is not None:
            _set(row, "movement_id", row.movement.pk)
    connection = transaction.get_connection()
    with connection.cursor() as cursor, connection.wrap_database_errors:
        for model in _WRITTEN:
            objs = movements if model is StockMovement else rows[model]
            if objs:
                _copy(cursor, model, objs)
    for objs in (orders, groups, lines, movements, movement_lines, history, outbox):
        for obj in objs:
            obj._state.adding, obj._state.db = False, "default"


def _write(news):
    """Insert orders built by `_build`, nothing read back; with their history and their events
    (order.created, stock_movement.created), rendered from memory before anything is written.

    On PostgreSQL every row of every table goes in one statement (`_insert_together`): one round
    trip. Elsewhere (SQLite, bin/run) one `bulk_create` per table. A unique order_no taken meanwhile
    raises IntegrityError: the caller's savepoint rolls it all back."""
    for new in news:
        if not new.order.tracking_token:
            new.order.tracking_token = secrets.token_urlsafe(24)  # as Order.save does
    movement_lines = [
        instances.new(
            StockMovementLine,
            movement=new.movements[lane],
            order_line=line,
            line_no=line.line_no,
            sku=line.sku,
            quantity=line.quantity,
        )
        for new in news
        for lane, lines_on_lane in new.lane_lines.items()
        for line in lines_on_lane
    ]
    history = []
    for new in news:
        order, actor = new.order, new.actor
        label = actor.label[:150]
        history += [
            instances.new(
                StatusChange,
                order=order,
                subject="movement",
                movement=movement,
                previous_status="",
                status=movement.status,
                actor_kind=actor.kind,
                actor_label=label,
                note=f"{movement.reference} created: stock to move {movement.from_location.code} → "
                f"{movement.to_location.code}.",
            )
            for movement in new.movements.values()
        ]
        history.append(
            instances.new(
                StatusChange,
                order=order,
                subject="order",
                previous_status="",
                status=order.status,
                actor_kind=actor.kind,
                actor_label=label,
                note="Order created.",
            )
        )
    together = _one_statement()
    if together:
        # Timestamps as bulk_create would set them, before the events render the order.
        _stamp(obj for new in news for obj in (new.order, *new.groups, *new.lines, *new.movements.values()))
        _stamp([*movement_lines, *history])
    else:
        Order.objects.bulk_create([new.order for new in news])
        OrderGroup.objects.bulk_create([group for new in news for group in new.groups])
        OrderLine.objects.bulk_create([line for new in news for line in new.lines])
        StockMovement.objects.bulk_create([movement for new in news for movement in new.movements.values()])
        StockMovementLine.objects.bulk_create(movement_lines)
        StatusChange.objects.bulk_create(history)
    by_movement = {}
    for movement_line in movement_lines:
        by_movement.setdefault(id(movement_line.movement), []).append(movement_line)
    changes, attached = [], []
    for new in news:
        mls = [ml for movement in new.movements.values() for ml in by_movement.get(id(movement), [])]
        attached.append(mls)
        representation.attach(new.order, new.groups, new.lines, new.movements.values(), mls)
        changes.append(
            (new.order, [E.ORDER_CREATED], [(E.MOVEMENT_CREATED, movement) for movement in new.movements.values()])
        )
    outbox = events.build_many(changes)
    if together and len(news) > 1:
        # The orders keep what `attach` gave them before the insert: they render without a query.
        _copy_together(news, movement_lines, history, outbox)
    elif together:
        _insert_together(news, movement_lines, history, outbox)
        for new, mls in zip(news, attached, strict=True):
            representation.attach(new.order, new.groups, new.lines, new.movements.values(), mls)
    else:
        OutboxEvent.objects.bulk_create(outbox)
    events.announce(outbox)


def create_order(*, actor, fields, lines=None, groups=None, on=None, prepared=None, savepoint=True):
    """Create an order with its groups and lines, run the trunking rule, record order.created.

    `fields` are Order field values (reference data as instances). Delivery and collection orders
    take `lines` and get one group from their own address and window; a multi order takes
    `groups`, each with its own fields and `lines`. `prepared` (trunking.Prepared) carries the lanes
    and movement ids a caller has read already for this and other orders.

    Everything is decided in memory first (the trunking rule for lines that have no movements yet,
    the legs' and the order's status), then `_write` inserts it all: order, groups, lines,
    movements, movement lines, history, outbox. Nothing written is read back.

    Atomic, in a savepoint when called inside a transaction; `savepoint=False` is for a caller that
    rolls its whole transaction back when this refuses (the API's create with an Idempotency-Key).
    """
    with transaction.atomic(savepoint=savepoint):
        new = _build(actor=actor, fields=fields, lines=lines, groups=groups, on=on, prepared=prepared)
        # The unique order_no decides a duplicate: no look-up first; this call's transaction (or its
        # savepoint) is rolled back with everything it wrote.
        try:
            _write([new])
        except IntegrityError as exc:
            if "order_no" not in str(exc):
                raise
            raise _duplicate(new.order.order_no)
        return new.order


# What a bulk create answers for an order it could not make (the API words each one).
CREATE_REFUSALS = (OrderError, ValidationError, DataError, IntegrityError)


def create_orders(*, actor, orders, on=None, prepared=None):
    """Create many orders, each checked on its own, all written together.

    `orders` are (fields, lines, groups) triples as `create_order` takes them. Returns one outcome
    per order, in the order given: the Order created, or the refusal (one of CREATE_REFUSALS). Every
    order is built and checked first; numbers already taken (in the database or earlier in the same
    request) are found with one query; the rest are inserted together (`_write`: on PostgreSQL their
    ids in one statement, then one COPY per table; elsewhere one bulk_create per table). Should that
    insert fail (a number taken meanwhile, a value the database refuses), it is rolled back and the
    orders are created one by one, each in its own savepoint, so each still gets its own answer.
    """
    outcomes = []
    today = timezone.localdate()  # one day for the whole call, as `_stamp` gives its rows one instant
    for fields, lines, groups in orders:
        try:
            outcomes.append(
                _build(actor=actor, fields=fields, lines=lines, groups=groups, on=on, prepared=prepared, today=today)
            )
        except (OrderError, ValidationError) as exc:
            outcomes.append(exc)
    built = [o for o in outcomes if isinstance(o, _NewOrder)]
    taken = set(Order.objects.filter(order_no__in=[n.order.order_no for n in built]).values_list("order_no", flat=True))
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, _NewOrder):
            if outcome.order.order_no in taken:
                outcomes[index] = _duplicate(outcome.order.order_no)
            taken.add(outcome.order.order_no)
    news = [o for o in outcomes if isinstance(o, _NewOrder)]
    if not news:
        return outcomes
    try:
        with transaction.atomic():
            _write(news)
    except (IntegrityError, DataError):
        return [
            _one_by_one(actor, spec, on, prepared) if isinstance(outcome, _NewOrder) else outcome
            for spec, outcome in zip(orders, outcomes, strict=True)
        ]
    return [outcome.order if isinstance(outcome, _NewOrder) else outcome for outcome in outcomes]


def _one_by_one(actor, spec, on, prepared):
    fields, lines, groups = spec
    try:
        return create_order(actor=actor, fields=fields, lines=lines, groups=groups, on=on, prepared=prepared)
    except CREATE_REFUSALS as exc:
        return exc


def _apply_lines(order, line_specs, *, replace):
    """Add, change and (with replace) remove lines matched by line_no; return the groups touched."""
    existing = {line.line_no: line for line in OrderLine.objects.filter(order=order)}
    groups = {g.sequence: g for g in OrderGroup.objects.filter(order=order)}
    single = None if order.is_multi else next(iter(groups.values()))
    touched = set()
    given = set()
    for index, spec in enumerate(line_specs):
        line_no = spec["line_no"]
        given.add(line_no)
        group = single
        if order.is_multi and spec.get("sequence") is not None:
            group = groups.get(spec["sequence"])
            if group is None:
                raise InputError(("lines", index, "sequence"), f"The order has no group {spec['sequence']}.")
        line = existing.get(line_no)
        if line is None:
            missing = [f for f in NEW_LINE_REQUIRED if spec.get(f) is None]
            if group is None:
                missing.append("sequence")
            if missing:
                raise InputError.at({("lines", index, f): "This field is required for a new line." for f in missing})
            line = OrderLine(
                order=order, group=group, line_no=line_no, **{f: spec[f] for f in LINE_FIELDS if f in spec}
            )
            line.save()
            touched.add(group.pk)
            continue
        changed = [f for f in LINE_FIELDS if f in spec and getattr(line, f) != spec[f]]
        if group is not None and group.pk != line.group_id:
            touched.add(line.group_id)
            line.group = group
            changed.append("group")
        for f in changed:
            if f != "group":
                setattr(line, f, spec[f])
        if changed:
            line.save()
            touched.add(line.group_id)
    if replace:
        for line_no, line in existing.items():
            if line_no not in given:
                touched.add(line.group_id)
                line.delete()
    if touched:
        _check_line_shape(order.order_type, _legs_of(order), field="lines")
    return touched


def _legs_of(order):
    """(sequence, group_type, number of lines) of each of the order's groups, as stored now."""
    return [
        (group.sequence, group.group_type, group.line_count)
        for group in OrderGroup.objects.filter(order=order).annotate(line_count=Count("lines")).order_by("sequence")
    ]


@transaction.atomic
def update_order(order, *, actor, fields=None, lines=None, replace_lines=False, expected_version=None, on=None):
    """Change an order's header and, where `lines` is given, its lines (matched by line_no).

    Lines not given are kept unless `replace_lines`. Nothing changed means no new version and no event.
    """
    order = _lock(order, expected_version)
    change = _Change(order, actor)
    fields = fields or {}
    if "order_type" in fields and fields["order_type"] != order.order_type:
        raise InputError(("order_type",), "The order type cannot change once an order exists.")
    if "customer_name" in fields and not fields["customer_name"]:
        raise InputError(("customer_name",), "The customer's name is required.")
    if lines is not None:
        _check_line_numbers(lines)

    fields = {f: _stored(f, value) for f, value in fields.items()}
    changed = [f for f in HEADER_FIELDS if f in fields and getattr(order, f) != fields[f]]
    plan_changed = [f for f in changed if f in PLAN_FIELDS]
    if (plan_changed or lines is not None) and not order.is_editable():
        raise OrderError(
            f"The order is {order.get_status_display().lower()}; its lines, address and time window "
            "can no longer change.",
            code="not_editable",
        )
    for f in changed:
        setattr(order, f, fields[f])
    changed_groups = set()
    if plan_changed:
        # The order's address and window are its single group's, or a multi order's first leg's.
        group = OrderGroup.objects.filter(order=order).order_by("sequence").first()
        for f in plan_changed:
            setattr(group, f, getattr(order, f))
        group.save()
        changed_groups.add(group.pk)
    if lines is not None:
        changed_groups |= _apply_lines(order, lines, replace=replace_lines)
    if not changed and not changed_groups:
        return order

    change.order_event(E.ORDER_UPDATED)
    if lines is not None:
        _run_trunking(change, on=on)
    _refresh_stock_status(change, changed_groups=changed_groups, on=on)
    return _finish(change)


def replace_lines(order, *, actor, lines, expected_version=None, on=None):
    """PUT lines: the given lines become the order's lines."""
    return update_order(order, actor=actor, lines=lines, replace_lines=True, expected_version=expected_version, on=on)


@transaction.atomic
def update_group(order, sequence, *, actor, fields, expected_version=None, on=None):
    """Change one group (leg): its type, address or time window."""
    order = _lock(order, expected_version)
    try:
        group = OrderGroup.objects.get(order=order, sequence=sequence)
    except OrderGroup.DoesNotExist:
        raise OrderError(f"Order {order.order_no} has no group {sequence}.", code="not_found")
    if "group_type" in fields and not order.is_multi and fields["group_type"] != group.group_type:
        raise InputError(("group_type",), "Only a multi order's groups can change type.")
    fields = {f: _stored(f, value) for f, value in fields.items()}
    changed = [f for f in GROUP_FIELDS if f in fields and getattr(group, f) != fields[f]]
    if not changed:
        return order
    if not group.is_editable():
        raise OrderError(
            f"This leg is {group.get_status_display().lower()}; it can no longer change.", code="not_editable"
        )
    for f in changed:
        setattr(group, f, fields[f])
    group.save()
    if "group_type" in changed:
        _check_line_shape(order.order_type, _legs_of(order), field="group_type")
    first = OrderGroup.objects.filter(order=order).order_by("sequence").first()
    if first.pk == group.pk:
        for f in changed:
            if f in PLAN_FIELDS:
                setattr(order, f, getattr(group, f))
    change = _Change(order, actor)
    change.order_event(E.ORDER_UPDATED)
    plan_changed = any(f in PLAN_FIELDS for f in changed)
    _refresh_stock_status(change, changed_groups={group.pk} if plan_changed else set(), on=on)
    return _finish(change)


# --- Status: plan, start, complete, fail, cancel -----------------------------------------------
#
# The status moves the field sends (plan, start, complete, fail: the inbound webhooks and the office)
# read and write as little as they can: the order and its groups are locked and read with one
# statement, the change is decided in memory (`_Change(deferred=True)`), and `_finish_status`
# reads the lines and movements the event shows once, renders the order once from what it holds,
# and on PostgreSQL writes the order, its groups, the history and the events with one statement.


def _postgres():
    return transaction.get_connection().vendor == "postgresql"


_LOCK_LEGS_SQL = {}


def _lock_legs_sql():
    """The order and its groups, locked together (`FOR UPDATE OF` both: after waiting for another
    writer, PostgreSQL re-reads the newest version of every locked row, so no group is read stale).
    Every writer locks the order first, so this waits on the order before it holds any group."""
    if not _LOCK_LEGS_SQL:
        quote = transaction.get_connection().ops.quote_name
        columns = [f"o.{quote(f.column)}" for f in Order._meta.concrete_fields]
        columns += [f"g.{quote(f.column)}" for f in OrderGroup._meta.concrete_fields]
        _LOCK_LEGS_SQL["sql"] = (
            f"SELECT {', '.join(columns)} FROM {Order._meta.db_table} o "  # noqa: S608 - our own names only
            f"JOIN {OrderGroup._meta.db_table} g ON g.order_id = o.id "
            "WHERE o.order_no = %s ORDER BY g.sequence FOR UPDATE OF o, g"
        )
    return _LOCK_LEGS_SQL["sql"]


def _from_row(model, values):
    """A model instance from a row of all its concrete columns (as `Model.from_db`, with the
    columns' converters: a jsonb column arrives as text)."""
    connection = transaction.get_connection()
    fields = model._meta.concrete_fields
    values = [
        f.from_db_value(v, None, connection) if v is not None and hasattr(f, "from_db_value") else v
        for f, v in zip(fields, values, strict=True)
    ]
    return model.from_db(connection.alias, [f.attname for f in fields], values)


def _lock_legs(order, expected_version=None, *, related=False):
    """Lock and read an order (given as an Order or its order_no) and its groups, in sequence order;
    refuse a stale expected version. One statement on PostgreSQL, two elsewhere. With `related`, on
    PostgreSQL, also what `representation.read_related` reads (else None), by a second statement in
    the same round trip: PostgreSQL runs it after the lock is held, with a snapshot of its own, so it
    sees every change committed by a writer the lock waited for (for moves that write no line or
    movement themselves)."""
    if not _postgres():
        locked = _lock(order, expected_version)
        return locked, list(OrderGroup.objects.filter(order=locked).order_by("sequence")), None
    order_no = order.order_no if isinstance(order, Order) else order
    connection = transaction.get_connection()
    with prepared_cursor() as cursor:  # planned once per connection
        if related:
            with prepared_cursor() as other:
                # A pipeline: both statements go out together and their results come back together.
                with connection.wrap_database_errors, connection.connection.pipeline():
                    cursor.execute(_lock_legs_sql(), [order_no])
                    other.execute(representation.related_sql(by="order_no"), [order_no])
                rows, read = cursor.fetchall(), other.fetchone()
        else:
            cursor.execute(_lock_legs_sql(), [order_no])
            rows, read = cursor.fetchall(), None
    if not rows:
        raise OrderError(f"There is no order {order_no}.", code="not_found")
    width = len(Order._meta.concrete_fields)
    locked = _from_row(Order, rows[0][:width])
    check_version(locked, expected_version)
    groups = []
    for row in rows:
        group = _from_row(OrderGroup, row[width:])
        group.order = locked
        groups.append(group)
    return locked, groups, None if read is None else representation.related_from_row(read)


def _legs_to_move(order, target, sequence, groups):
    """The ones of the order's `groups` this status change moves: the named leg, or every leg
    (a multi order named as a whole moves the legs that can move; the rest keep their status)."""
    if sequence is not None:
        chosen = [g for g in groups if g.sequence == sequence]
        if not chosen:
            raise OrderError(f"Order {order.order_no} has no group {sequence}.", code="not_found")
        return chosen
    if not order.is_multi:
        return groups
    movable = [g for g in groups if g.can_become(target)]
    if not movable:
        raise TransitionNotAllowed(order.status, target)
    return movable


def _move_legs(change, groups, chosen, target, *, note, occurred_at):
    """Move the chosen legs to `target`, then the order; any change is at least an order.updated."""
    for group in chosen:
        _set_group_status(change, group, target, note=note, occurred_at=occurred_at)
    _sync_order_status(change, groups, note=note)
    if change.dirty and not change.order_types:
        change.order_event(E.ORDER_UPDATED)
    return _finish(change)


def _finish_status(change):
    """`_finish` for a status move: the version, then the order rendered once for its events from
    the locked order and groups this change holds (the lines and movements read once, after its
    own writes), then the order, groups, history and events written together."""
    assert not change.movement_events, "a status move changes no movement"
    order = change.order
    order.version += 1
    order.updated_at = timezone.now()
    related = change.related if change.related is not None else representation.read_related(order)
    data = representation.order_dict_with(order, change.legs, related)
    rows = events.build_status(order, change.order_types, data)
    if _postgres():
        _write_status(change, rows)
    else:
        Order.objects.filter(pk=order.pk).update(**{f: getattr(order, f) for f in ORDER_STATUS_FIELDS})
        for group in change.groups:
            OrderGroup.objects.filter(pk=group.pk).update(**{f: getattr(group, f) for f in GROUP_STATUS_FIELDS})
        StatusChange.objects.bulk_create(change.history)
        OutboxEvent.objects.bulk_create(rows)
    events.announce(rows)
    return order


def _write_status(change, rows):
    """UPDATE the order and its changed groups, INSERT the history and the events: one statement."""
    connection = transaction.get_connection()
    order = change.order
    params = []

    def prep(model, name, obj):
        field = model._meta.get_field(name)
        return field.get_db_prep_save(getattr(obj, field.attname), connection)

    # Only our tables' and columns' names and placeholders: every value is a parameter.
    sets = ", ".join(f"{Order._meta.get_field(f).column} = %s" for f in ORDER_STATUS_FIELDS)
    params += [prep(Order, f, order) for f in ORDER_STATUS_FIELDS] + [order.pk]
    parts = [f"o AS (UPDATE orders_order SET {sets} WHERE id = %s)"]  # noqa: S608
    if change.groups:
        values = ", ".join(["(%s::bigint, %s::text, %s::timestamptz, %s::jsonb)"] * len(change.groups))
        for group in change.groups:
            params += [group.pk, group.status, group.status_changed_at, prep(OrderGroup, "plan", group)]
        parts.append(
            "g AS (UPDATE orders_ordergroup t SET status = v.status, status_changed_at = v.at, plan = v.plan "  # noqa: S608
            f"FROM (VALUES {values}) v(id, status, at, plan) WHERE t.id = v.id)"  # noqa: S608
        )
    if change.history:
        columns = ("order_id", "subject", "group_id", "movement_id", "previous_status", "status", "at")
        columns += ("actor_kind", "actor_label", "note")
        values = ", ".join([f"({', '.join(['%s'] * len(columns))})"] * len(change.history))
        for row in change.history:
            params += [prep(StatusChange, c.removesuffix("_id"), row) for c in columns]
        parts.append(f"h AS (INSERT INTO orders_statuschange ({', '.join(columns)}) VALUES {values})")  # noqa: S608
    columns = ("type", "occurred_at", "order_id", "movement_id", "payload")
    values = ", ".join(["(%s, %s, %s, %s, %s::jsonb)"] * len(rows)) if rows else ""
    for row in rows:
        params += [prep(OutboxEvent, c.removesuffix("_id"), row) for c in columns]
    if rows:
        parts.append(f"e AS (INSERT INTO orders_outboxevent ({', '.join(columns)}) VALUES {values} RETURNING id)")  # noqa: S608
        select = "SELECT id FROM e ORDER BY id"
    else:
        select = "SELECT NULL"
    # Prepared: the text is the same for every move of the same shape (one group, one history row and
    # one event for a single order), so PostgreSQL plans it once per connection.
    with prepared_cursor() as cursor:
        cursor.execute("WITH " + ", ".join(parts) + " " + select, params)  # noqa: S608 - see above
        ids = [r[0] for r in cursor.fetchall()] if rows else []
    for row, pk in zip(rows, ids, strict=True):
        row.pk = row.id = pk
        row._state.adding, row._state.db = False, connection.alias


def _status_change(order, actor, target, sequence, expected_version, *, related=True):
    """Lock the order with its legs for a move to `target`: (change, groups, chosen legs). With
    `related` (a move that writes no line or movement), what its events need besides is read in the
    same round trip as the lock."""
    order, groups, read = _lock_legs(order, expected_version, related=related)
    chosen = _legs_to_move(order, target, sequence, groups)
    change = _Change(order, actor, deferred=True)
    change.legs = groups
    change.related = read
    return change, groups, chosen


def plan_order(
    order, *, actor, plan=None, sequence=None, occurred_at=None, expected_version=None, note="", savepoint=True
):
    """Put an order (or one leg) on a route: planned_date, route_ref, eta_from/eta_to, driver, vehicle.

    Atomic, in a savepoint when called inside a transaction, as every status move here;
    `savepoint=False` is for a caller that rolls its whole transaction back when this refuses (the
    inbound webhooks: webhooks/inbound.py)."""
    with transaction.atomic(savepoint=savepoint):
        change, groups, chosen = _status_change(order, actor, S.PLANNED, sequence, expected_version)
        change.order.failure_reason = None
        for group in chosen:
            # A re-plan keeps the status, but a new route is still a change; the same plan again is a no-op.
            replan = group.status == S.PLANNED and group.plan != (plan or {})
            group.plan = plan or {}
            if replan:
                change.save_group(group)
                change.order_event(E.ORDER_UPDATED)
        return _move_legs(change, groups, chosen, S.PLANNED, note=note or "Planned.", occurred_at=occurred_at)


def start_order(order, *, actor, sequence=None, occurred_at=None, expected_version=None, note="", savepoint=True):
    """The driver is on the way or on site."""
    with transaction.atomic(savepoint=savepoint):
        change, groups, chosen = _status_change(order, actor, S.IN_PROGRESS, sequence, expected_version)
        note = note or "Driver on the way."
        return _move_legs(change, groups, chosen, S.IN_PROGRESS, note=note, occurred_at=occurred_at)


def _record_delivery(order, chosen, pod, delivered_lines, *, whole):
    """Keep the proof of delivery (per leg for a multi order) and each line's delivered quantity."""
    known = {line.line_no: line for line in OrderLine.objects.filter(order=order)}
    # A whole (multi) order completed at once names lines of any of its legs.
    allowed = set(known) if whole else {n for n, line in known.items() if line.group_id == chosen[0].pk}
    unknown = sorted(set(delivered_lines) - allowed)
    if unknown:
        raise InputError(("lines",), f"Line {unknown[0]} is not on this order or leg.")
    for group in chosen:
        if order.is_multi:
            # A multi order keeps each leg's proof: {"legs": [{"sequence": 1, ...}, ...]}.
            legs = [leg for leg in (order.pod or {}).get("legs", []) if leg.get("sequence") != group.sequence]
            order.pod = {
                "legs": sorted([*legs, {**(pod or {}), "sequence": group.sequence}], key=lambda p: p["sequence"])
            }
        else:
            order.pod = pod or {}
        for line_no, line in known.items():
            if line.group_id != group.pk:
                continue
            line.delivered_quantity = delivered_lines.get(line_no, line.quantity)
            if line.delivered_quantity > line.quantity:
                raise InputError(("lines",), f"Line {line_no}: more delivered than ordered.")
            line.save(update_fields=["delivered_quantity"])


def complete_order(
    order,
    *,
    actor,
    pod=None,
    delivered_lines=None,
    sequence=None,
    occurred_at=None,
    expected_version=None,
    note="",
    savepoint=True,
):
    """Done, with proof of delivery; `delivered_lines` maps line_no to the quantity delivered.

    One call is one attempt, however many legs it completes.
    """
    with transaction.atomic(savepoint=savepoint):
        # The delivered quantities are written first: lines are read for the events after that.
        change, groups, chosen = _status_change(order, actor, S.COMPLETED, sequence, expected_version, related=False)
        order = change.order
        order.attempt_count += 1
        order.failure_reason = None
        _record_delivery(order, chosen, pod, delivered_lines or {}, whole=sequence is None)
        return _move_legs(change, groups, chosen, S.COMPLETED, note=note or "Delivered.", occurred_at=occurred_at)


def fail_order(
    order, *, actor, reason_code, notes="", sequence=None, occurred_at=None, expected_version=None, savepoint=True
):
    """Attempted and not done, with a failure reason; the order can be planned again."""
    with transaction.atomic(savepoint=savepoint):
        try:
            reason = FailureReason.objects.active().get(code=reason_code)
        except FailureReason.DoesNotExist:
            raise InputError(("reason_code",), f"{reason_code!r} is not an active failure reason.")
        change, groups, chosen = _status_change(order, actor, S.FAILED, sequence, expected_version)
        order = change.order
        order.attempt_count += 1
        order.failure_reason = reason
        note = f"{reason.code}: {reason.description}" + (f" — {notes}" if notes else "")
        return _move_legs(change, groups, chosen, S.FAILED, note=note, occurred_at=occurred_at)


@transaction.atomic
def cancel_order(order, *, actor, note="", expected_version=None):
    """Cancel an order and its pending movements. An order under way or finished cannot be cancelled."""
    order = _lock(order, expected_version)
    if not order.cancel_allowed():
        raise TransitionNotAllowed(order.status, S.CANCELLED)
    change = _Change(order, actor)
    note = note or "Cancelled."
    groups = list(OrderGroup.objects.filter(order=order).order_by("sequence"))
    for group in groups:
        if group.status not in (S.COMPLETED, S.CANCELLED):
            _set_group_status(change, group, S.CANCELLED, note=note)
    for movement in StockMovement.objects.select_for_update().filter(order=order, status=MS.PENDING):
        _set_movement_status(change, movement, MS.CANCELLED, note=f"Order cancelled. {note}".strip())
    _sync_order_status(change, groups, note=note)
    return _finish(change)


# --- Stock movements ----------------------------------------------------------------------------


def _set_movement_status(change, movement, target, *, note):
    if not movement.can_become(target):
        if target == MS.RECEIVED and movement.status == MS.PENDING:
            message = f"{movement.reference} has not been dispatched yet; it can only be received after dispatch."
        else:
            message = f"{movement.reference} is {movement.status}; it cannot become {target}."
        raise OrderError(message, code="transition_not_allowed")
    previous = movement.status
    movement.status = target
    movement.version += 1
    movement.save(update_fields=["status", "version", "updated_at"])
    _history(
        change.order, change.actor, subject="movement", previous=previous, status=target, note=note, movement=movement
    )
    change.movement_event(E.MOVEMENT_STATUS_CHANGED, movement)


def _lock_movement(reference):
    """Lock a movement's order, then the movement: always in that order, as every service does."""
    try:
        order_no = StockMovement.objects.values_list("order__order_no", flat=True).get(reference=reference)
    except StockMovement.DoesNotExist:
        raise OrderError(f"There is no stock movement {reference}.", code="not_found")
    order = _lock(order_no)
    return order, StockMovement.objects.select_for_update().select_related("from_location", "to_location").get(
        reference=reference
    )


@transaction.atomic
def dispatch_movement(reference, *, actor, expected_version=None, note=""):
    """The stock has left its depot."""
    order, movement = _lock_movement(reference)
    check_version(movement, expected_version)
    change = _Change(order, actor)
    _set_movement_status(change, movement, MS.DISPATCHED, note=note or f"{movement.reference} dispatched.")
    _finish(change)
    return movement


@transaction.atomic
def receive_movement(reference, *, actor, expected_version=None, note="", on=None):
    """The stock has arrived at the fleet's depot; the order becomes ready when it was the last."""
    order, movement = _lock_movement(reference)
    check_version(movement, expected_version)
    change = _Change(order, actor)
    _set_movement_status(change, movement, MS.RECEIVED, note=note or f"{movement.reference} received.")
    _refresh_stock_status(change, trigger=f"{movement.reference} received by {actor}", on=on)
    _finish(change)
    return movement


def release_due_orders(*, on=None):
    """Periodic job: orders awaiting stock whose dates have all arrived become ready.

    Returns the order numbers released. Each order is handled in its own transaction.
    """
    on = on or trunking.today()
    released = []
    candidates = Order.objects.filter(status=S.AWAITING_STOCK, earliest_delivery_date__lte=on).values_list(
        "order_no", flat=True
    )
    for order_no in candidates:
        with transaction.atomic():
            order = _lock(order_no)
            if order.status != S.AWAITING_STOCK:
                continue
            change = _Change(order, Actor.system())
            _refresh_stock_status(change, trigger="on-hand date reached", on=on)
            _finish(change)
            if order.status != S.AWAITING_STOCK:
                released.append(order_no)
    return released


# --- Office notes (dashboard) -------------------------------------------------------------------

NOTE_FIELDS = ("driver_notes", "location_instructions")


@transaction.atomic
def update_notes(order, *, actor, field, value, expected_value=None):
    """Change an order's driver notes or location instructions and keep who did it and when.

    `expected_value` is the text the editor started from: when someone else has changed the note
    since, the change is refused (the office sees the newer text) rather than overwriting it.
    """
    from .models import NoteChange

    if field not in NOTE_FIELDS:
        raise InputError(("field",), f"{field} is not a note that can be edited here.")
    current = _lock(order)
    previous = getattr(current, field)
    if expected_value is not None and expected_value != previous:
        raise OrderError(
            "Someone else changed this note while you were editing it; their text is shown now.",
            code="note_changed",
        )
    if value == previous:
        return current
    current = update_order(current, actor=actor, fields={field: value})
    NoteChange.objects.create(
        order=current,
        field=field,
        previous_value=previous,
        value=value,
        actor_kind=actor.kind,
        actor_label=actor.label[:150],
    )
    return current
