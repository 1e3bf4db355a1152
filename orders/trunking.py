"""The trunking rule, in one place (docs/trunking.md).

For each line, the depot that must hold the stock is the depot of the line's delivery method. A
line whose stock sits elsewhere needs a stock movement from its stock location to that depot; an
order's lines on the same lane share one movement. `ship_date` is the later of the lines' on-hand
dates and the day the movement is made; `due_date` adds the lane's transit days.

`apply()` is idempotent: it compares what the lines need with the movements the order has and
changes only the difference. A pending movement whose content no longer matches is cancelled and
a new one made, so a warehouse never sees a movement change under it. Movements already
dispatched or received are frozen: a change that would alter one is refused.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from .domain import OrderError
from .instances import new
from .models import Lane, OrderGroup, OrderLine, StockMovement, StockMovementLine

MS = StockMovement.Status


def today():
    return timezone.localdate()


def transit_days(from_id, to_id, lanes=None):
    """Transit days between two depots; a pair without a lane takes Lane.DEFAULT_TRANSIT_DAYS."""
    if lanes is None:
        lanes = load_lanes([(from_id, to_id)])
    return lanes.get((from_id, to_id), Lane.DEFAULT_TRANSIT_DAYS)


def load_lanes(pairs):
    pairs = set(pairs)
    if not pairs:
        return {}
    from_ids = {a for a, _ in pairs}
    to_ids = {b for _, b in pairs}
    lanes = Lane.objects.filter(from_location_id__in=from_ids, to_location_id__in=to_ids)
    return {(lane.from_location_id, lane.to_location_id): lane.transit_days for lane in lanes}


def lane_of(line):
    """The (from, to) depot ids a line must travel, or None when its stock is already at its fleet's depot.

    Lines of a collection leg are picked up from the customer, so nothing moves to the depot first.
    """
    if line.group.group_type == OrderGroup.Type.COLLECTION:
        return None
    depot_id = line.delivery_method.depot_id
    if line.stock_location_id == depot_id:
        return None
    return (line.stock_location_id, depot_id)


def preview(stock_location, delivery_method, on_hand_date=None, *, on=None):
    """What one line would need, for showing the consequence while an office user chooses.

    Returns None when no movement is needed, else a dict with the lane and the dates.
    """
    if stock_location is None or delivery_method is None or stock_location.pk == delivery_method.depot_id:
        return None
    on = on or today()
    ship = max(on_hand_date or on, on)
    days = transit_days(stock_location.pk, delivery_method.depot_id)
    return {
        "from_location": stock_location.code,
        "to_location": delivery_method.depot.code,
        "transit_days": days,
        "ship_date": ship,
        "due_date": ship + timedelta(days=days),
    }


@dataclass
class Outcome:
    """What a run of the rule changed."""

    created: list = field(default_factory=list)
    cancelled: list = field(default_factory=list)


def apply(order, *, on=None):
    """Bring the order's movements in line with its lines; set its earliest_delivery_date.

    The caller holds the order's row lock and records history and events for the outcome
    (services.py). Raises OrderError when a dispatched or received movement would have to change.
    """
    on = on or today()
    lines = list(
        OrderLine.objects.filter(order=order)
        .select_related("delivery_method__depot", "stock_location", "group")
        .order_by("line_no")
    )
    movements = list(
        StockMovement.objects.select_for_update()
        .filter(order=order)
        .exclude(status=MS.CANCELLED)
        .prefetch_related("lines")
        .order_by("id")
    )
    lanes = load_lanes(filter(None, (lane_of(line) for line in lines)))
    frozen_cover = _frozen_cover(lines, movements)
    needed = _needed_lanes(lines, frozen_cover)
    outcome = Outcome()
    pending = _reconcile(movements, needed, lanes, outcome)
    _create_missing(order, needed, pending, lanes, on, outcome)
    order.earliest_delivery_date = _earliest_date(lines, frozen_cover, pending)
    return outcome


def _frozen_cover(lines, movements):
    """{line id: its dispatched or received movement}. A change to such a line is refused."""
    lines_by_id = {line.pk: line for line in lines}
    cover = {}
    for movement in movements:
        if not movement.frozen:
            continue
        for mline in movement.lines.all():
            line = lines_by_id.get(mline.order_line_id)
            if line is None:
                raise OrderError(
                    f"Line {mline.line_no} ({mline.sku}) is on stock movement {movement.reference}, "
                    f"which was already {movement.status}; the line cannot be removed.",
                    code="movement_dispatched",
                )
            if lane_of(line) != (movement.from_location_id, movement.to_location_id) or line.quantity != mline.quantity:
                raise OrderError(
                    f"Line {line.line_no} ({line.sku}) is on stock movement {movement.reference}, "
                    f"which was already {movement.status}; its quantity, stock location and delivery method "
                    "can no longer change.",
                    code="movement_dispatched",
                )
            cover[line.pk] = movement
    return cover


def _needed_lanes(lines, frozen_cover):
    """{lane: lines} for the lines whose stock must still move."""
    needed = {}
    for line in lines:
        lane = lane_of(line)
        if lane is not None and line.pk not in frozen_cover:
            needed.setdefault(lane, []).append(line)
    return needed


def _reconcile(movements, needed, lanes, outcome):
    """Keep each pending movement that is still exactly what its lane needs; cancel the others.

    Returns {lane: pending movement kept}. The database holds an order to one pending movement per
    lane (constraint `movement_one_pending_per_lane`), so each lane has at most one to weigh.
    """
    pending = {}
    for movement in movements:
        if movement.status != MS.PENDING:
            continue
        lane = (movement.from_location_id, movement.to_location_id)
        if _matches(movement, needed.get(lane), lanes):
            pending[lane] = movement
        else:
            _cancel(movement)
            outcome.cancelled.append(movement)
    return pending


def _create_missing(order, needed, pending, lanes, on, outcome):
    """A new movement for each lane that needs one and has none pending."""
    for lane, lane_lines in needed.items():
        if lane in pending:
            continue
        ship = max(max(line.on_hand_date for line in lane_lines), on)
        movement = StockMovement.objects.create(
            order=order,
            from_location=lane_lines[0].stock_location,
            to_location=lane_lines[0].delivery_method.depot,
            ship_date=ship,
            due_date=ship + timedelta(days=lanes.get(lane, Lane.DEFAULT_TRANSIT_DAYS)),
        )
        movement.reference = f"MV-{movement.pk:06d}"
        movement.save(update_fields=["reference"])
        StockMovementLine.objects.bulk_create(
            StockMovementLine(
                movement=movement, order_line=line, line_no=line.line_no, sku=line.sku, quantity=line.quantity
            )
            for line in lane_lines
        )
        pending[lane] = movement
        outcome.created.append(movement)


def _earliest_date(lines, frozen_cover, pending):
    """The earliest day every line can be at its fleet's depot: its movement's due date, or its on-hand date."""
    dates = []
    for line in lines:
        movement = frozen_cover.get(line.pk) or pending.get(lane_of(line))
        dates.append(movement.due_date if movement else line.on_hand_date)
    return max(dates) if dates else None


def _matches(movement, lane_lines, lanes):
    """Is a pending movement still exactly what these lines need?"""
    if not lane_lines:
        return False
    have = {m.order_line_id: m.quantity for m in movement.lines.all()}
    want = {line.pk: line.quantity for line in lane_lines}
    if have != want:
        return False
    # A movement made for an earlier day (`on=`, as the demo seeder does) shipped no later than that
    # day; its creation timestamp alone would re-date it to the day it was written.
    made_on = min(timezone.localdate(movement.created_at), movement.ship_date)
    ship = max(max(line.on_hand_date for line in lane_lines), made_on)
    lane = (movement.from_location_id, movement.to_location_id)
    due = ship + timedelta(days=lanes.get(lane, Lane.DEFAULT_TRANSIT_DAYS))
    return movement.ship_date == ship and movement.due_date == due


def _cancel(movement):
    movement.status = MS.CANCELLED
    movement.version += 1
    movement.save(update_fields=["status", "version", "updated_at"])


# --- A brand-new order: the same rule, from the lines in memory ---------------------------------


@dataclass
class Prepared:
    """What a caller has already read for the orders it is about to create: `lanes` ({(from, to):
    transit days}, None when not read) and a pool of `movement_ids` taken from the movements'
    sequence, so a movement is inserted with its id and its reference at once. Shared by the orders
    of one request; the pool is topped up from the sequence when it runs short."""

    lanes: dict | None = None
    movement_ids: list = field(default_factory=list)


# Called once per row (an uncorrelated sub-select would be evaluated once for all rows).
NEXT_MOVEMENT_ID = "nextval(pg_get_serial_sequence('orders_stockmovement', 'id'))"


def _lanes_and_ids(pairs, count):
    """Lanes between `pairs` and `count` new movement ids, in one round trip."""
    if connection.vendor != "postgresql":
        return _lanes_and_ids_portable(pairs, count)
    params = [count]
    sql = f"SELECT {NEXT_MOVEMENT_ID}, NULL, NULL FROM generate_series(1, %s)"  # noqa: S608 - constant text
    if pairs:
        froms, tos = zip(*sorted(pairs), strict=True)
        lanes_sql = (
            "SELECT from_location_id, to_location_id, transit_days FROM orders_lane "
            "WHERE (from_location_id, to_location_id) IN (SELECT * FROM unnest(%s::bigint[], %s::bigint[]))"
        )
        sql = f"{lanes_sql} UNION ALL {sql}"
        params = [list(froms), list(tos), count]
    lanes, ids = {}, []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for a, b, days in cursor.fetchall():
            if b is None:
                ids.append(a)
            else:
                lanes[(a, b)] = days
    return lanes, ids


def _lanes_and_ids_portable(pairs, count):
    """The same for SQLite (bin/run's database): lanes by the ORM, and ids reserved by moving the table's
    AUTOINCREMENT counter forward, which also takes SQLite's write lock so two writers never get one id."""
    lanes = load_lanes(pairs)
    if not count:
        return lanes, []
    table = StockMovement._meta.db_table
    with connection.cursor() as cursor:
        first_use = (
            f"INSERT INTO sqlite_sequence (name, seq) SELECT %s, COALESCE((SELECT MAX(id) FROM {table}), 0) "  # noqa: S608 - our table's name
            "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = %s)"
        )
        cursor.execute(first_use, [table, table])
        cursor.execute("UPDATE sqlite_sequence SET seq = seq + %s WHERE name = %s RETURNING seq", [count, table])
        last = cursor.fetchone()[0]
    return lanes, list(range(last - count + 1, last + 1))


def movement_reference(movement_id):
    return f"MV-{movement_id:06d}"


def plan_new(order, lines, *, on=None, prepared=None):
    """The movements a new order's lines need, built in memory (nothing is read back): returns
    ({lane: unsaved StockMovement with its id and reference}, {lane: lines}, the lines whose stock is
    not ready yet). Sets the order's earliest_delivery_date. Runs before anything is inserted, so the
    order and its groups are written once, with their status.

    The same rule as `apply` for an order that has no movements yet, so no row is locked or read:
    the caller inserts what this returns.
    """
    on = on or today()
    prepared = prepared if prepared is not None else Prepared()
    needed = {}
    for line in lines:
        lane = lane_of(line)
        if lane is not None:
            needed.setdefault(lane, []).append(line)
    if needed and (prepared.lanes is None or len(prepared.movement_ids) < len(needed)):
        short = len(needed) - len(prepared.movement_ids)
        lanes, ids = _lanes_and_ids(needed if prepared.lanes is None else (), max(short, 0))
        prepared.movement_ids.extend(ids)
        if prepared.lanes is None:
            prepared.lanes = lanes
    lanes = prepared.lanes or {}
    movements = {}
    for lane, lane_lines in needed.items():
        ship = max(max(line.on_hand_date for line in lane_lines), on)
        movement_id = prepared.movement_ids.pop(0)
        now = timezone.now()
        movements[lane] = new(
            StockMovement,
            id=movement_id,
            reference=movement_reference(movement_id),
            order=order,
            from_location=lane_lines[0].stock_location,
            to_location=lane_lines[0].delivery_method.depot,
            ship_date=ship,
            due_date=ship + timedelta(days=lanes.get(lane, Lane.DEFAULT_TRANSIT_DAYS)),
            created_at=now,
            updated_at=now,
        )
    waiting = []
    dates = []
    for line in lines:
        lane = lane_of(line)
        if lane is None:
            dates.append(line.on_hand_date)
            if line.group.group_type != OrderGroup.Type.COLLECTION and line.on_hand_date > on:
                waiting.append(line)
        else:
            # No movement of a new order has been received yet: its stock is still on the way.
            dates.append(movements[lane].due_date)
            waiting.append(line)
    order.earliest_delivery_date = max(dates) if dates else None
    return movements, needed, waiting


def stock_ready_lines(order, *, on=None):
    """Ids of the order's lines whose stock is at their fleet's depot today: the others keep it awaiting stock."""
    on = on or today()
    received = set(
        StockMovementLine.objects.filter(movement__order=order, movement__status=MS.RECEIVED).values_list(
            "order_line_id", flat=True
        )
    )
    ready = set()
    for line in OrderLine.objects.filter(order=order).select_related("delivery_method", "group"):
        if line.group.group_type == OrderGroup.Type.COLLECTION:
            ready.add(line.pk)
        elif lane_of(line) is None:
            if line.on_hand_date <= on:
                ready.add(line.pk)
        elif line.pk in received and line.on_hand_date <= on:
            # Stock received early still waits for its on-hand date.
            ready.add(line.pk)
    return ready
