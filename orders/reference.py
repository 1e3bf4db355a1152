"""Reference data for the orders of one request, read in one round trip.

An order names its service level, and each line its stock location and fleet, by code; trunking
needs the fleets' depots, the lanes between depots and an id for each movement it makes. `load()`
reads all of that for a whole request (one order or a bulk of 500) in a single statement, before
any field is validated, so validation (`CodeField`) and the create (`services.create_order`) read
nothing more. Codes that are malformed or unknown are simply not found: the field refuses them
with its usual message.
"""

import json
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection

from .db import prepared_cursor
from .identifiers import code_problem
from .models import DeliveryMethod, Lane, ServiceLevel, StockLocation
from .trunking import NEXT_MOVEMENT_ID, Prepared


class CodeTable:
    """Just enough of a queryset for CodeField (`.filter(active=...)`, `.get(code=...)`, `.model`)."""

    def __init__(self, model, by_code):
        self.model = model
        self._by_code = by_code

    def filter(self, *, active):
        return CodeTable(self.model, {code: obj for code, obj in self._by_code.items() if obj.active == active})

    def get(self, *, code):
        try:
            return self._by_code[code]
        except KeyError:
            raise self.model.DoesNotExist

    def find(self, code, *, active_only=True):
        """The item with this code (and active, with `active_only`), or None: `.filter().get()` without copies."""
        obj = self._by_code.get(code)
        return obj if obj is not None and (obj.active or not active_only) else None


@dataclass
class Loaded:
    """`tables` for the serializers' context (`{"reference": tables}`), `prepared` for create_order."""

    tables: dict = field(default_factory=dict)
    prepared: Prepared = field(default_factory=Prepared)


def active_tables():
    """Every active service level, stock location and fleet (with its depot) as code tables: for a
    job that checks codes cell by cell (the CSV import's first pass). Reference data is a few rows."""
    return {
        ServiceLevel: CodeTable(ServiceLevel, {s.code: s for s in ServiceLevel.objects.filter(active=True)}),
        StockLocation: CodeTable(StockLocation, {s.code: s for s in StockLocation.objects.filter(active=True)}),
        DeliveryMethod: CodeTable(
            DeliveryMethod,
            {d.code: d for d in DeliveryMethod.objects.filter(active=True).select_related("depot")},
        ),
    }


def _code(value):
    return value if isinstance(value, str) and not code_problem(value) else None


def _named(items):
    """The codes the raw bodies name, and (order, stock location, fleet) for each line that may move."""
    levels, locations, methods, pairs = set(), set(), set(), []
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        if _code(item.get("service_level")):
            levels.add(item["service_level"])
        order_type = item.get("order_type")
        legs = [{"group_type": order_type, "lines": item.get("lines")}]
        if isinstance(item.get("groups"), list):
            legs += [g for g in item["groups"] if isinstance(g, dict)]
        for leg in legs:
            if not isinstance(leg.get("lines"), list):
                continue
            for line in leg["lines"]:
                if not isinstance(line, dict):
                    continue
                location, method = _code(line.get("stock_location")), _code(line.get("delivery_method"))
                if location:
                    locations.add(location)
                if method:
                    methods.add(method)
                if location and method and leg.get("group_type") != "collection":
                    pairs.append((n, location, method))
    return levels, locations, methods, pairs


def _instance(model, row):
    fields = model._meta.concrete_fields
    values = [None if row.get(f.column) is None else f.to_python(row[f.column]) for f in fields]
    return model.from_db(connection.alias, [f.attname for f in fields], values)


def load(items):
    """Read the reference data, lanes and movement ids the orders `items` (raw request bodies) need."""
    plan = plan_load(items)
    if plan.sql is None:
        return plan.loaded
    with prepared_cursor() as cursor:
        cursor.execute(plan.sql, plan.params)
        return plan.received(cursor.fetchall())


@dataclass
class Plan:
    """What `load` sends and how it reads the answer, for a caller that sends the statement itself
    (the idempotency claim sends it in its own statement: orders/api/idempotency.py). `sql` None:
    nothing to read (or read already, off PostgreSQL), `loaded` is the answer. The statement's rows
    are (kind, text); `received(rows)` turns them into the `Loaded`."""

    loaded: Loaded
    sql: str | None = None
    params: dict | None = None
    received: object = None


def plan_load(items):
    """`load`'s statement (named parameters, rows of (kind, text)) without sending it."""
    levels, locations, methods, pairs = _named(items)
    loaded = Loaded(prepared=Prepared(lanes={}))
    if not (levels or locations or methods):
        # Nothing named by a code (or only values that are not codes at all): empty tables, so each
        # code field answers "unknown" or its type error rather than finding no table.
        loaded.tables = {model: CodeTable(model, {}) for model in (ServiceLevel, StockLocation, DeliveryMethod)}
        return Plan(loaded)
    if connection.vendor != "postgresql":
        return Plan(_load_portable(loaded, levels, locations, methods, pairs))
    sl, loc, dm, lane = (m._meta.db_table for m in (ServiceLevel, StockLocation, DeliveryMethod, Lane))
    # One id per (order, lane) whose stock must move: an order's lines on one lane share a movement.
    # A prepared statement (the same text and parameter types every time): planning this UNION took
    # ~1.1 ms of the server's CPU per create, executing it ~0.2 ms.
    sql = f"""
        SELECT 'service_level', row_to_json(t)::text FROM {sl} t WHERE t.code = ANY(%(levels)s::text[])
        UNION ALL SELECT 'stock_location', row_to_json(t)::text FROM {loc} t
            WHERE t.code = ANY(%(locations)s::text[])
            OR t.id IN (SELECT depot_id FROM {dm} WHERE code = ANY(%(methods)s::text[]))
        UNION ALL SELECT 'delivery_method', row_to_json(t)::text FROM {dm} t WHERE t.code = ANY(%(methods)s::text[])
        UNION ALL SELECT 'lane', row_to_json(t)::text FROM {lane} t
            WHERE t.from_location_id IN (SELECT id FROM {loc} WHERE code = ANY(%(locations)s::text[]))
            AND t.to_location_id IN (SELECT depot_id FROM {dm} WHERE code = ANY(%(methods)s::text[]))
        UNION ALL SELECT 'movement_id', {NEXT_MOVEMENT_ID}::text FROM (
            SELECT DISTINCT p.n, l.id, d.depot_id
            FROM unnest(%(pair_orders)s::int[], %(pair_locations)s::text[], %(pair_methods)s::text[]) AS p(n, l, d)
            JOIN {loc} l ON l.code = p.l JOIN {dm} d ON d.code = p.d
            WHERE l.id <> d.depot_id
        ) needed
    """  # noqa: S608 - table names from the models, values as parameters
    params = {
        "levels": sorted(levels),
        "locations": sorted(locations),
        "methods": sorted(methods),
        "pair_orders": [n for n, _, _ in pairs],
        "pair_locations": [location for _, location, _ in pairs],
        "pair_methods": [method for _, _, method in pairs],
    }
    return Plan(loaded, sql, params, lambda fetched: _received(loaded, locations, fetched))


def _received(loaded, locations, fetched):
    rows = {"service_level": [], "stock_location": [], "delivery_method": [], "lane": [], "movement_id": []}
    for kind, text in fetched:
        rows[kind].append(text)
    by_id = {}
    tables = {ServiceLevel: {}, StockLocation: {}, DeliveryMethod: {}}
    for kind, model in (("service_level", ServiceLevel), ("stock_location", StockLocation)):
        for text in rows[kind]:
            obj = _instance(model, json.loads(text, parse_float=Decimal))
            tables[model][obj.code] = obj
            by_id[(model, obj.pk)] = obj
    for text in rows["delivery_method"]:
        method = _instance(DeliveryMethod, json.loads(text, parse_float=Decimal))
        method.depot = by_id[(StockLocation, method.depot_id)]
        tables[DeliveryMethod][method.code] = method
    for text in rows["lane"]:
        row = json.loads(text)
        loaded.prepared.lanes[(row["from_location_id"], row["to_location_id"])] = row["transit_days"]
    loaded.prepared.movement_ids = sorted(int(text) for text in rows["movement_id"])
    # Only the locations named by code are answers to a code; a depot read for its fleet is not.
    tables[StockLocation] = {code: obj for code, obj in tables[StockLocation].items() if code in locations}
    loaded.tables = {model: CodeTable(model, by_code) for model, by_code in tables.items()}
    return loaded


def _load_portable(loaded, levels, locations, methods, pairs):
    """`load` for SQLite (bin/run's database): the same tables, lanes and movement ids, by the ORM in
    a few queries (the statement above is PostgreSQL's)."""
    from .trunking import _lanes_and_ids_portable

    fleets = list(DeliveryMethod.objects.filter(code__in=methods).select_related("depot"))
    places = list(StockLocation.objects.filter(code__in=locations))
    tables = {
        ServiceLevel: {s.code: s for s in ServiceLevel.objects.filter(code__in=levels)},
        StockLocation: {s.code: s for s in places},
        DeliveryMethod: {d.code: d for d in fleets},
    }
    location_ids = {s.code: s.pk for s in places}
    depots = {d.code: d.depot_id for d in fleets}
    # One movement per (order, lane) whose stock must move, as the statement counts them.
    needed = {
        (n, location_ids[location], depots[method])
        for n, location, method in pairs
        if location in location_ids and method in depots and location_ids[location] != depots[method]
    }
    lanes, ids = _lanes_and_ids_portable({(a, b) for _, a, b in needed}, len(needed))
    loaded.prepared.lanes = lanes
    loaded.prepared.movement_ids = ids
    loaded.tables = {model: CodeTable(model, by_code) for model, by_code in tables.items()}
    return loaded
