"""reference.load's SQLite path (bin/run's database) reads what the PostgreSQL statement reads: the
same code tables, lanes and number of movement ids. Seen here on PostgreSQL, with the movement ids
taken from the sequence as the statement takes them (SQLite's counter is SQLite's own SQL)."""

import pytest
from django.db import connection

from orders import reference, trunking
from tests.conftest import line, order_body


def bodies():
    return [
        order_body("P-1", lines=[line(1, stock_location="MAN", delivery_method="BHM-VANS"), line(2, "LDS")]),
        order_body("P-2", lines=[line(1, "BHM"), line(2, stock_location="MAN", delivery_method="BHM-VANS")]),
        order_body("P-3", lines=[line(1, stock_location="NOPE", delivery_method="BHM-VANS")]),
        {"order_no": "P-4", "lines": "not a list"},
    ]


def test_the_portable_load_reads_what_the_statement_reads(depots, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("compares with the PostgreSQL statement")
    fast = reference.load(bodies())
    monkeypatch.setattr(connection, "vendor", "sqlite")
    monkeypatch.setattr(
        trunking, "_lanes_and_ids_portable", lambda pairs, count: (trunking.load_lanes(pairs), list(range(count)))
    )
    portable = reference.load(bodies())

    for model, table in fast.tables.items():
        assert {code: obj.pk for code, obj in table._by_code.items()} == {
            code: obj.pk for code, obj in portable.tables[model]._by_code.items()
        }
    assert portable.tables[reference.DeliveryMethod].find("BHM-VANS").depot.code == "BHM"
    needed = {lane: days for lane, days in fast.prepared.lanes.items() if lane in portable.prepared.lanes}
    assert portable.prepared.lanes == needed and needed
    assert len(portable.prepared.movement_ids) == len(fast.prepared.movement_ids) == 3  # P-1 two lanes, P-2 one
