"""An integrator's whole flow through a typed client generated from /api/schema/ by openapi-python-client.

If the schema tells a lie (a list declared as a bare array, an undocumented status, a field of the
wrong type), the generated client fails to parse the answer and this test fails with it. The client
is generated afresh from the running code's schema, into a temporary directory, and talks real HTTP
to the live test server.
"""

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from tests.conftest import line, make_client, order_body

GENERATOR = shutil.which("openapi-python-client") or str(Path(sys.executable).with_name("openapi-python-client"))


@pytest.fixture
def sp_client(tmp_path, db):
    """The package generated from the schema, imported."""
    schema = Client().get("/api/schema/", {"format": "json"})
    assert schema.status_code == 200
    (tmp_path / "schema.json").write_bytes(schema.content)
    (tmp_path / "config.yml").write_text(
        "post_hooks: []\nproject_name_override: sp_client\npackage_name_override: sp_client\n"
    )
    subprocess.run(
        [
            GENERATOR,
            "generate",
            "--path",
            str(tmp_path / "schema.json"),
            "--config",
            str(tmp_path / "config.yml"),
            "--meta",
            "none",
            "--output-path",
            str(tmp_path / "sp_client"),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module("sp_client")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == "sp_client" or n.startswith("sp_client.")]:
            del sys.modules[name]


def test_an_integrator_creates_reads_lists_moves_and_bulk_creates_through_a_generated_client(
    live_server, depots, sp_client
):
    from sp_client import AuthenticatedClient
    from sp_client.api.v1 import (
        orders_bulk_create,
        orders_create,
        orders_list,
        orders_partial_update,
        orders_retrieve,
        orders_status,
        stock_movements_dispatch,
        stock_movements_list,
        stock_movements_receive,
    )
    from sp_client.models import (
        BulkResponse,
        Movement,
        Order,
        OrderRequest,
        OrderStatus,
        PaginatedMovementList,
        PaginatedOrderList,
        PatchedOrderUpdateRequest,
        ValidationError,
    )

    _client, key = make_client("typed-erp", ["orders:read", "orders:write"])
    api = AuthenticatedClient(base_url=live_server.url, token=key, raise_on_unexpected_status=True)

    # Create: stock at MAN for a Birmingham fleet, so a movement is made.
    body = order_body("SO-GEN-1", lines=[line(1, "MAN", "BHM-VANS", quantity=2)])
    created = orders_create.sync_detailed(client=api, body=OrderRequest.from_dict(body), idempotency_key="gen-1")
    assert created.status_code == 201
    assert isinstance(created.parsed, Order)
    assert (created.parsed.order_no, created.parsed.status.value) == ("SO-GEN-1", "awaiting_stock")
    assert created.headers["Location"] == "/api/v1/orders/SO-GEN-1/"

    # Read and change it.
    read = orders_retrieve.sync_detailed("SO-GEN-1", client=api)
    assert (read.status_code, read.parsed.version) == (200, 1)
    patched = orders_partial_update.sync_detailed(
        "SO-GEN-1", client=api, body=PatchedOrderUpdateRequest.from_dict({"driver_notes": "Ring twice"}), if_match='"1"'
    )
    assert (patched.status_code, patched.parsed.driver_notes, patched.parsed.version) == (200, "Ring twice", 2)

    # List: a page of {next, previous, results}.
    listed = orders_list.sync_detailed(client=api, page_size=10)
    assert listed.status_code == 200
    assert isinstance(listed.parsed, PaginatedOrderList)
    assert [order.order_no for order in listed.parsed.results] == ["SO-GEN-1"]

    # Movements: list, dispatch, receive; the order becomes ready.
    movements = stock_movements_list.sync_detailed(client=api)
    assert isinstance(movements.parsed, PaginatedMovementList)
    (movement,) = movements.parsed.results
    dispatched = stock_movements_dispatch.sync_detailed(movement.reference, client=api)
    assert isinstance(dispatched.parsed, Movement)
    assert dispatched.parsed.status.value == "dispatched"
    received = stock_movements_receive.sync_detailed(movement.reference, client=api)
    assert received.parsed.status.value == "received"
    status = orders_status.sync_detailed("SO-GEN-1", client=api)
    assert isinstance(status.parsed, OrderStatus)
    assert status.parsed.status.value == "ready"
    assert [entry.status for entry in status.parsed.history] == ["awaiting_stock", "ready"]

    # Bulk: one created, one refused, each answered.
    bulk = orders_bulk_create.sync_detailed(
        client=api,
        body=[OrderRequest.from_dict(order_body("SO-GEN-2")), OrderRequest.from_dict(order_body("SO-GEN-1"))],
    )
    assert isinstance(bulk.parsed, BulkResponse)
    assert [(r.order_no, r.result.value) for r in bulk.parsed.results] == [
        ("SO-GEN-2", "created"),
        ("SO-GEN-1", "error"),
    ]

    # A refused create is a typed validation error naming the field.
    refused = orders_create.sync_detailed(
        client=api, body=OrderRequest.from_dict(order_body("SO-GEN-3", lines=[line(1, "NOPE")]))
    )
    assert refused.status_code == 400
    assert isinstance(refused.parsed, ValidationError)
    assert refused.parsed.errors.to_dict() == {
        "lines.0.stock_location": ["Unknown or inactive stock location code 'NOPE'."]
    }
