"""A file of 100,000 rows is imported in bounded memory, with queries per order rather than per row."""

import time
import tracemalloc

import pytest
from django.db import connection

from orders import imports
from orders.domain import Actor
from orders.models import Order, OrderLine

from .importing import csv_file, row, upload

pytestmark = pytest.mark.django_db

ROWS = 100_000
LINES_PER_ORDER = 500  # the most an order may have
ORDERS = ROWS // LINES_PER_ORDER


def big_file(stock=None):
    """The file, written row by row (the test itself must not hold 100,000 rows either)."""
    header = csv_file([]).decode()
    template = csv_file([row("{order_no}", Item_Code="{sku}", Stock_Location="{stock}")]).decode()[len(header) :]
    parts = [header]
    for n in range(ROWS):
        order = n // LINES_PER_ORDER
        # Every tenth order keeps its stock at MAN, so the trunking rule runs as well.
        parts.append(
            template.format(
                order_no=f"BIG-{order}", sku=f"SKU-{n}", stock=stock or ("MAN" if order % 10 == 0 else "BHM")
            )
        )
    return "".join(parts).encode()


class QueryCounter:
    """Counts queries without keeping their text (a 500-row INSERT is long)."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def test_100000_rows_are_imported_with_queries_per_order_not_per_row(depots):
    data = big_file()
    assert len(data) > 10_000_000
    job = imports.start_import(upload(data), actor=Actor.system())
    del data
    assert job.total_rows == ROWS and len(job.file_gzip) < 1_000_000

    started = time.monotonic()
    queries = QueryCounter()
    with connection.execute_wrapper(queries):
        imports.run_job(job.pk)
    elapsed = time.monotonic() - started

    job.refresh_from_db()
    assert (job.state, job.errors, job.processed_rows) == ("done", [], ROWS)
    assert job.created == [f"BIG-{n}" for n in range(ORDERS)]
    assert Order.objects.count() == ORDERS and OrderLine.objects.count() == ROWS
    # Queries grow with orders (each created through the service layer), never with rows: the
    # reference codes are loaded once, not looked up per cell.
    assert queries.count < 40 * ORDERS, f"{queries.count} queries for {ORDERS} orders"
    assert elapsed < 900, f"took {elapsed:.0f} s"
    print(f"\n100,000 rows: {elapsed:.1f} s, {queries.count} queries")


def test_reading_100000_rows_keeps_memory_bounded(depots):
    # Every row names an unknown depot, so both passes read all 100,000 rows and every one is an
    # error: what grows with the file here is the reading and the error list, and neither may.
    job = imports.start_import(upload(big_file(stock="NOWHERE")), actor=Actor.system())

    queries = QueryCounter()
    tracemalloc.start()
    with connection.execute_wrapper(queries):
        imports.run_job(job.pk)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    job.refresh_from_db()
    assert (job.state, job.created, job.processed_rows, job.error_count) == ("done", [], ROWS, ROWS)
    # Three code tables loaded once, then only progress written every 1,000 rows: nothing per row.
    assert queries.count < 500, queries.count
    assert len(job.errors) == imports.MAX_ERRORS + 1
    assert job.errors[0] == {
        "row": 2,
        "column": "Stock_Location",
        "order_no": "BIG-0",
        "message": "Unknown or inactive stock location code 'NOWHERE'.",
    }
    assert job.errors[-1] == {
        "row": None,
        "column": None,
        "order_no": None,
        "message": f"… and {ROWS - imports.MAX_ERRORS} more errors not listed.",
    }
    # The file's rows as Python objects would take several hundred megabytes.
    assert peak < 20 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
