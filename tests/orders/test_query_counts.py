"""Statement counts of the hot API paths, pinned so they cannot creep back up.

Counted as Django sends them inside the test's transaction: every `transaction.atomic` is a
SAVEPOINT/RELEASE pair here, and BEGIN, COMMIT and the connection health check are not seen.
`bin/bench` reports the production round trips (docs/performance.md has both). The numbers are
today's, measured; lower them as the create path gets faster, never raise them.
"""

import pytest

from orders.models import Order
from tests.conftest import line, order_body

URL = "/api/v1/orders/"
CREATE_STATEMENTS = 6
# The bulk's orders: their ids in one statement, then one COPY per table (7 with a movement each).
BULK_STATEMENTS_FOR_10 = 15
LIST_STATEMENTS = 4


def trunked_order(order_no):
    """One line whose stock is at MAN and whose fleet is BHM's: the create makes a stock movement."""
    return order_body(order_no, lines=[line(1, stock_location="MAN", delivery_method="BHM-VANS")])


@pytest.fixture
def warm(alice_api, depots):
    """One create first, so lazily loaded state (content types, caches) is not counted."""
    assert alice_api.post(URL, trunked_order("SO-WARM"), headers={"Idempotency-Key": "warm"}).status_code == 201
    return alice_api


def test_a_create_with_a_movement_and_an_idempotency_key_sends_a_fixed_number_of_statements(
    warm, django_assert_num_queries
):
    with django_assert_num_queries(CREATE_STATEMENTS):
        response = warm.post(URL, trunked_order("SO-1"), headers={"Idempotency-Key": "k-1"})

    assert response.status_code == 201, response.json()
    assert len(response.json()["movements"]) == 1


def test_a_bulk_create_of_ten_orders_sends_a_fixed_number_of_statements(warm, django_assert_num_queries):
    body = [trunked_order(f"SO-B{n}") for n in range(10)]

    with django_assert_num_queries(BULK_STATEMENTS_FOR_10):
        response = warm.post(f"{URL}bulk/", body)

    assert response.status_code == 200
    assert [r["result"] for r in response.json()["results"]] == ["created"] * 10


@pytest.mark.parametrize("orders", [3, 30])
def test_a_list_page_sends_the_same_number_of_statements_whatever_its_size(warm, orders, django_assert_num_queries):
    for n in range(orders):
        assert warm.post(URL, trunked_order(f"SO-L{n}")).status_code == 201

    with django_assert_num_queries(LIST_STATEMENTS):
        response = warm.get(URL, {"page_size": 50})

    assert response.status_code == 200
    assert len(response.json()["results"]) == orders + 1
    assert Order.objects.count() == orders + 1


def test_a_bulk_create_sends_the_same_statements_for_50_orders_as_for_10(warm, django_assert_num_queries):
    # Validation reads nothing (the reference data is one query for the whole request) and each
    # table gets one INSERT: the count does not grow with the orders.
    body = [trunked_order(f"SO-C{n}") for n in range(50)]

    with django_assert_num_queries(BULK_STATEMENTS_FOR_10):
        response = warm.post(f"{URL}bulk/", body)

    assert [r["result"] for r in response.json()["results"]] == ["created"] * 50


# The job: claim, read, the first pass's three code tables, its progress, the end.
IMPORT_STATEMENTS = 7
# Each batch (up to imports.BATCH_ROWS rows): its transaction (a savepoint here), the reference data,
# numbers taken already, the insert's savepoint, the rows' ids (one statement), one COPY per table
# (services._write: 7 when the orders move stock), its release, the progress, the release.
IMPORT_STATEMENTS_PER_BATCH = 15


@pytest.mark.parametrize("orders", [3, 30])
def test_a_csv_import_sends_a_fixed_number_of_statements_per_batch_whatever_its_orders(
    depots, orders, django_assert_num_queries
):
    from orders import imports
    from orders.domain import Actor

    from .importing import csv_file, row, upload

    rows = [row(f"IMP-{n}", Item_Code=f"SKU-{k}", Stock_Location="MAN") for n in range(orders) for k in range(2)]
    job = imports.start_import(upload(csv_file(rows)), actor=Actor.system())

    with django_assert_num_queries(IMPORT_STATEMENTS + IMPORT_STATEMENTS_PER_BATCH):
        assert imports.run_job(job.pk) == "done"

    job.refresh_from_db()
    assert (job.errors, len(job.created)) == ([], orders)
    assert Order.objects.filter(movements__isnull=False).distinct().count() == orders
