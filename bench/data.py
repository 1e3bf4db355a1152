"""The bench's data: reference data, then N orders with their groups, lines, movements and history,
written with psycopg `COPY` (text format, rows made as strings in large chunks).

The same generator feeds the raw-COPY baseline, which copies the same rows into scratch tables
shaped like ours (`CREATE TABLE ... (LIKE ... INCLUDING ALL)`: same columns, defaults and indexes,
no foreign keys) and times nothing but the COPY.
"""

import random
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import psycopg
from psycopg import sql

# Four depots; each has a fleet. Lanes between every ordered pair except two (they take the default).
DEPOTS = [("BHM", "Birmingham"), ("MAN", "Manchester"), ("LDS", "Leeds"), ("BRS", "Bristol")]
SERVICE_LEVELS = [("2MAN-ROC", "Two-man room of choice", 20), ("1MAN-KERB", "One-man kerbside", 5)]
STATUSES = ["awaiting_stock", "ready", "planned", "in_progress", "completed", "failed", "cancelled"]
# Weights: most of a big table is finished work; the live part is what lists filter for.
STATUS_WEIGHTS = [8, 10, 6, 1, 60, 5, 10]
TOWNS = [("Birmingham", "B"), ("Manchester", "M"), ("Leeds", "LS"), ("Bristol", "BS"), ("Coventry", "CV")]
SKUS = ["SOFA-3", "SOFA-2", "BED-KING", "WARDROBE-2D", "FRIDGE-FF", "WASHER-8KG", "TABLE-6", "CHAIR-DINING"]
CHUNK = 20_000  # orders per COPY chunk: big enough to amortise, small enough to keep memory flat

ORDER_COLUMNS = [
    "id", "order_no", "order_date", "order_type", "customer_name", "customer_mobile", "customer_email",
    "customer_phone", "customer_reference", "customer_address", "service_level_id", "unload_minutes",
    "required_date", "required_time_from", "required_time_to", "order_notes", "location_instructions",
    "driver_notes", "status", "status_changed_at", "version", "tracking_token", "earliest_delivery_date",
    "attempt_count", "failure_reason_id", "pod", "created_at", "updated_at", "source_client_id", "source_user_id",
    "line1", "line2", "line3", "town", "county", "postal_code", "country", "lat", "lng",
]  # fmt: skip
GROUP_COLUMNS = [
    "id", "order_id", "sequence", "group_type", "required_date", "required_time_from", "required_time_to",
    "status", "status_changed_at", "plan",
    "line1", "line2", "line3", "town", "county", "postal_code", "country", "lat", "lng",
]  # fmt: skip
LINE_COLUMNS = [
    "id", "order_id", "group_id", "line_no", "sku", "description", "quantity", "weight_kg", "cube_m3",
    "stock_location_id", "on_hand_date", "delivery_method_id", "assembly_minutes", "notes", "delivered_quantity",
]  # fmt: skip
MOVEMENT_COLUMNS = [
    "id", "reference", "order_id", "from_location_id", "to_location_id", "status", "ship_date", "due_date",
    "version", "created_at", "updated_at",
]  # fmt: skip
MOVEMENT_LINE_COLUMNS = ["id", "movement_id", "order_line_id", "line_no", "sku", "quantity"]
HISTORY_COLUMNS = [
    "id", "order_id", "subject", "group_id", "movement_id", "previous_status", "status", "at", "actor_kind",
    "actor_label", "note",
]  # fmt: skip

TABLES = {
    "orders_order": ORDER_COLUMNS,
    "orders_ordergroup": GROUP_COLUMNS,
    "orders_orderline": LINE_COLUMNS,
    "orders_stockmovement": MOVEMENT_COLUMNS,
    "orders_stockmovementline": MOVEMENT_LINE_COLUMNS,
    "orders_statuschange": HISTORY_COLUMNS,
}
NULL = "\\N"


def seed_reference(conn):
    """Depots, fleets (one per depot), lanes, service levels, a failure reason. Returns the ids by code."""
    ids = {"depot": {}, "fleet": {}, "service_level": {}}
    for n, (code, name) in enumerate(DEPOTS):
        row = conn.execute(
            "INSERT INTO orders_stocklocation (code, name, active, line1, line2, line3, town, county, postal_code,"
            " country) VALUES (%s, %s, true, %s, '', '', %s, '', %s, 'GB') RETURNING id",
            [code, name, f"{n + 1} Depot Way", name, f"{TOWNS[n][1]}1 1AA"],
        ).fetchone()
        ids["depot"][code] = row[0]
    for code, depot_id in ids["depot"].items():
        row = conn.execute(
            "INSERT INTO orders_deliverymethod (code, name, depot_id, active) VALUES (%s, %s, %s, true) RETURNING id",
            [f"{code}-2MAN", f"{code} two-man vans", depot_id],
        ).fetchone()
        ids["fleet"][f"{code}-2MAN"] = row[0]
    codes = list(ids["depot"])
    for a in codes:
        for b in codes:
            if a != b and (a, b) not in (("BRS", "LDS"), ("LDS", "BRS")):
                conn.execute(
                    "INSERT INTO orders_lane (from_location_id, to_location_id, transit_days) VALUES (%s, %s, %s)",
                    [ids["depot"][a], ids["depot"][b], 1 + (len(a + b) % 3)],
                )
    for code, name, minutes in SERVICE_LEVELS:
        row = conn.execute(
            "INSERT INTO orders_servicelevel (code, name, description, default_unload_minutes, active)"
            " VALUES (%s, %s, '', %s, true) RETURNING id",
            [code, name, minutes],
        ).fetchone()
        ids["service_level"][code] = row[0]
    conn.execute(
        "INSERT INTO orders_failurereason (code, description, active) VALUES ('NOT-HOME', 'Customer not at home', true)"
    )
    return ids


def _cell(value):
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "t" if value else "f"
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    return text


def _line(values):
    return "\t".join(_cell(v) for v in values) + "\n"


class RowMaker:
    """Makes the rows of orders first_id..first_id+count-1, deterministic for a seed."""

    def __init__(self, ref, *, seed=7, today=None, prefix="BN"):
        self.ref = ref
        self.rng = random.Random(seed)
        self.today = today or date.today()
        self.prefix = prefix
        self.depot_codes = list(ref["depot"])
        self.now = datetime.now(UTC)
        self.service_level_ids = list(ref["service_level"].values())

    def chunk(self, first_id, count, ids):
        """Rows of `count` orders as text per table; `ids` holds the next id of every child table."""
        rng = self.rng
        out = {table: [] for table in TABLES}
        for order_id in range(first_id, first_id + count):
            status = rng.choices(STATUSES, STATUS_WEIGHTS)[0]
            age_days = rng.randrange(0, 365)
            created = self.now - timedelta(days=age_days, seconds=rng.randrange(86400))
            required = self.today + timedelta(days=rng.randrange(-age_days, 21))
            town, area = rng.choice(TOWNS)
            postal = f"{area}{rng.randrange(1, 40)} {rng.randrange(1, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}A"
            fleet_depot = rng.choice(self.depot_codes)
            n_lines = rng.choice((1, 1, 2, 2, 3))
            # A third of the orders have stock at another depot and so a movement.
            trunked = rng.random() < 0.33
            stock_depot = rng.choice([d for d in self.depot_codes if d != fleet_depot]) if trunked else fleet_depot
            address = ["1 High Street", "", "", town, "", postal, "GB", None, None]
            out["orders_order"].append(
                _line(
                    [
                        order_id,
                        f"{self.prefix}-{order_id:07d}",
                        created.date(),
                        "delivery",
                        f"Customer {order_id}",
                        f"07700{order_id % 1000000:06d}",
                        f"c{order_id}@example.com",
                        "",
                        f"REF-{order_id}",
                        None,
                        rng.choice(self.service_level_ids),
                        20,
                        required,
                        None,
                        None,
                        "",
                        "",
                        "",
                        status,
                        created,
                        1,
                        secrets.token_urlsafe(24),
                        None,
                        0,
                        None,
                        None,
                        created,
                        created,
                        None,
                        None,
                        *address,
                    ]
                )  # fmt: skip
            )
            group_id = ids["orders_ordergroup"]
            ids["orders_ordergroup"] += 1
            out["orders_ordergroup"].append(
                _line([group_id, order_id, 1, "delivery", required, None, None, status, created, None, *address])
            )
            line_ids = []
            for line_no in range(1, n_lines + 1):
                line_id = ids["orders_orderline"]
                ids["orders_orderline"] += 1
                line_ids.append((line_id, line_no))
                out["orders_orderline"].append(
                    _line(
                        [
                            line_id,
                            order_id,
                            group_id,
                            line_no,
                            SKUS[(order_id + line_no) % len(SKUS)],
                            "",
                            1 + line_no % 2,
                            "25.500",
                            "0.8000",
                            self.ref["depot"][stock_depot],
                            created.date(),
                            self.ref["fleet"][f"{fleet_depot}-2MAN"],
                            0,
                            "",
                            None,
                        ]
                    )  # fmt: skip
                )
            history_id = ids["orders_statuschange"]
            ids["orders_statuschange"] += 1
            out["orders_statuschange"].append(
                _line(
                    [
                        history_id,
                        order_id,
                        "order",
                        None,
                        None,
                        "",
                        status,
                        created,
                        "system",
                        "system",
                        "Order created.",
                    ]
                )  # fmt: skip
            )
            if trunked:
                movement_id = ids["orders_stockmovement"]
                ids["orders_stockmovement"] += 1
                movement_status = "pending" if status == "awaiting_stock" else "received"
                if status == "cancelled":
                    movement_status = "cancelled"
                ship = created.date()
                out["orders_stockmovement"].append(
                    _line(
                        [
                            movement_id,
                            f"BMV-{movement_id:08d}",
                            order_id,
                            self.ref["depot"][stock_depot],
                            self.ref["depot"][fleet_depot],
                            movement_status,
                            ship,
                            ship + timedelta(days=2),
                            1,
                            created,
                            created,
                        ]
                    )  # fmt: skip
                )
                for line_id, line_no in line_ids:
                    ml_id = ids["orders_stockmovementline"]
                    ids["orders_stockmovementline"] += 1
                    out["orders_stockmovementline"].append(
                        _line([ml_id, movement_id, line_id, line_no, SKUS[(order_id + line_no) % len(SKUS)], 1])
                    )
        return {table: "".join(lines) for table, lines in out.items()}


def copy_orders(conn, ref, count, *, schema="public", first_id=1, seed=7, prefix="BN", overlap=False):
    """COPY `count` orders with everything that hangs off them into `schema`'s tables.

    Returns (seconds spent in COPY, rows written per table). Making the text is not timed: the
    baseline is what PostgreSQL and the driver can take, the floor any import is measured against.
    With `overlap` (the bench's own data, not the raw-COPY baseline, whose COPY time must not share
    the CPU with anything) the next chunk's text is made in a thread while the server takes the
    current one, so a big load costs about the larger of the two, not their sum.
    """
    maker = RowMaker(ref, seed=seed, prefix=prefix)
    ids = {table: first_id for table in TABLES}
    rows = dict.fromkeys(TABLES, 0)
    copy_seconds = 0.0
    starts = list(range(first_id, first_id + count, CHUNK))

    def make(start):
        return maker.chunk(start, min(CHUNK, first_id + count - start), ids)

    pool = ThreadPoolExecutor(1) if overlap else None
    submit = pool.submit if pool else _Now
    try:
        pending = submit(make, starts[0]) if starts else None
        for index in range(len(starts)):
            chunk = pending.result()
            pending = submit(make, starts[index + 1]) if index + 1 < len(starts) else None
            started = time.perf_counter()
            with conn.transaction():
                for table, columns in TABLES.items():
                    if not chunk[table]:
                        continue
                    statement = sql.SQL("COPY {}.{} ({}) FROM STDIN").format(
                        sql.Identifier(schema), sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
                    )
                    with conn.cursor().copy(statement) as copy:
                        copy.write(chunk[table])
                    rows[table] += chunk[table].count("\n")
            copy_seconds += time.perf_counter() - started
    finally:
        if pool:
            pool.shutdown()
    return copy_seconds, rows


class _Now:
    """`pool.submit` run in the caller's thread: the same loop, nothing overlapped."""

    def __init__(self, fn, *args):
        self.value = fn(*args)

    def result(self):
        return self.value


def drop_secondary_indexes(conn):
    """Drop the indexes of the tables COPY fills that back no constraint; return their definitions.

    Building an index once over a full table is several times faster than keeping it up to date row
    by row (the trigram index of the order search most of all), so the bench loads without them and
    builds them afterwards (`create_indexes`). Unique and primary keys stay: they are constraints."""
    found = conn.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public' AND i.tablename = ANY(%s)"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
        [list(TABLES)],
    ).fetchall()
    for name, _ in found:
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    return [definition for _, definition in found]


def create_indexes(conn, definitions):
    conn.execute("SET maintenance_work_mem = '256MB'")
    for definition in definitions:
        conn.execute(definition)


def reset_sequences(conn):
    """Move every identity sequence past the ids COPY wrote, so the app's inserts do not collide."""
    for table in TABLES:
        conn.execute(
            sql.SQL("SELECT setval(pg_get_serial_sequence(%s, 'id'), COALESCE((SELECT max(id) FROM {}), 1))").format(
                sql.Identifier(table)
            ),
            [table],
        )


def load(database_url, count, *, log=print):
    """Fill a freshly migrated database: reference data, then `count` orders by COPY. Returns timings."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        # Foreign-key triggers off for the load only: the rows are made consistent by construction.
        conn.execute("SET session_replication_role = replica")
        with conn.transaction():
            ref = seed_reference(conn)
        indexes = drop_secondary_indexes(conn)
        seconds, rows = copy_orders(conn, ref, count, overlap=True)
        conn.execute("SET session_replication_role = DEFAULT")
        started = time.perf_counter()
        create_indexes(conn, indexes)
        index_seconds = time.perf_counter() - started
        reset_sequences(conn)
        started = time.perf_counter()
        conn.execute("VACUUM (ANALYZE)")
        vacuum_seconds = time.perf_counter() - started
    log(f"   loaded {count:,} orders ({sum(rows.values()):,} rows) by COPY in {seconds:.1f} s; {len(indexes)} "
        f"indexes built after it in {index_seconds:.1f} s; VACUUM ANALYZE {vacuum_seconds:.1f} s")  # fmt: skip
    return {
        "ref": ref,
        "copy_seconds": seconds,
        "rows": rows,
        "index_seconds": index_seconds,
        "vacuum_seconds": vacuum_seconds,
    }


def settle(database_url, *, log=print):
    """VACUUM (ANALYZE) before a read figure, after the write figures have added tens of thousands of
    orders: what PostgreSQL's autovacuum does on its own on a production server. Without it the
    trigram index's pending list (GIN `fastupdate`) grows with every insert and every search reads
    it whole: 0.3 → 3 ms a search at 135,000 orders here, where autovacuum is off."""
    started = time.perf_counter()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
    log(f"   VACUUM ANALYZE (what autovacuum would have done by now) in {time.perf_counter() - started:.1f} s")


def raw_copy_rate(database_url, ref, count, *, seed=11):
    """The baseline: orders per second that a bare COPY of the same rows reaches, into scratch tables
    with our columns, defaults and indexes (no foreign keys, no application)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS bench_copy CASCADE")
        conn.execute("CREATE SCHEMA bench_copy")
        for table in TABLES:
            conn.execute(
                sql.SQL("CREATE TABLE bench_copy.{} (LIKE public.{} INCLUDING ALL)").format(
                    sql.Identifier(table), sql.Identifier(table)
                )
            )
        try:
            seconds, rows = copy_orders(conn, ref, count, schema="bench_copy", seed=seed, prefix="BC")
        finally:
            conn.execute("DROP SCHEMA bench_copy CASCADE")
    return count / seconds, rows
