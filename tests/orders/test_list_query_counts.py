"""Statement counts of the two order lists, pinned for every page, filter and search, and for 3 and
30 orders: a page costs the same whatever its size or position (docs/performance.md).

Counted inside the test's transaction, as tests/orders/test_query_counts.py explains.
"""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from orders.models import Order
from tests.conftest import ApiCaller, line, make_client

URL = "/api/v1/orders/"
HX = {"HX-Request": "true", "HX-Current-URL": "http://testserver/orders/"}

# API: the key (1), the page (1), its groups with their lines (1), its movements with their lines (1).
API_PAGE = 4
# The office list: user (1), the latest change for the ETag (1), the page (1); a full page reads the
# options of its three selects in the latest change's statement (one statement for the four); a select
# that is set adds the check of its value (1). The session and the per-status counts come from the
# cache (the session from the database only when Redis is down: orders/sessions.py).
OFFICE_FRAGMENT = 3
OFFICE_PAGE = OFFICE_FRAGMENT


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()


@pytest.fixture
def orders(request, make_order, alice):
    """`request.param` orders of alice's, a third trunked (a movement), their postal codes B12 ..."""
    for n in range(request.param):
        lines = [line(1, stock_location="MAN"), line(2)] if n % 3 == 1 else [line(1)]
        make_order(
            f"QC-{n:03d}",
            client=alice[0],
            lines=lines,
            address={"line1": "1 High Street", "town": "Birmingham", "postal_code": f"B12 {n % 9}AA", "country": "GB"},
        )
    Order.objects.filter(order_no__endswith="1").update(status="ready")
    return request.param


SIZES = pytest.mark.parametrize("orders", [3, 30], indirect=True)
API_QUERIES = [
    {},
    {"status": "awaiting_stock,ready"},
    {"updated_since": "2000-01-01T00:00:00Z", "ordering": "updated_at"},
    {"ordering": "-updated_at"},
    {"ordering": "created_at", "required_date_from": "2000-01-01"},
    {"order_type": "delivery"},
]


@SIZES
@pytest.mark.parametrize("params", API_QUERIES)
def test_an_api_list_page_first_or_later_costs_the_same_whatever_its_size_and_filters(
    alice_api, orders, params, django_assert_num_queries
):
    alice_api.get(URL)  # the key's first use writes last_used_at once
    with django_assert_num_queries(API_PAGE):
        first = alice_api.get(URL, {**params, "page_size": 2})
    assert first.status_code == 200, first.json()
    assert first.json()["results"]
    nxt = first.json()["next"]
    if nxt is None:
        return
    with django_assert_num_queries(API_PAGE):
        later = alice_api.get(nxt.split("testserver", 1)[1])
    assert later.status_code == 200
    assert later.json()["results"]


@SIZES
def test_an_api_list_page_for_a_client_that_sees_only_its_own_orders_costs_the_same(
    orders, make_order, django_assert_num_queries
):
    carol, key = make_client("carol", ["orders:read", "orders:write"])
    other = ApiCaller(key)
    make_order("QC-CAROL", client=carol)
    other.get(URL)
    with django_assert_num_queries(API_PAGE):
        page = other.get(URL, {"page_size": 50})
    assert [o["order_no"] for o in page.json()["results"]] == ["QC-CAROL"]


@SIZES
def test_an_api_list_filtered_by_a_code_adds_one_query_for_each_code(alice_api, orders, django_assert_num_queries):
    alice_api.get(URL)
    with django_assert_num_queries(API_PAGE + 2):
        page = alice_api.get(URL, {"stock_location": "MAN", "delivery_method": "BHM-VANS"})
    assert page.status_code == 200
    assert {o["lines"][0]["stock_location"] for o in page.json()["results"]} == {"MAN"}


OFFICE_QUERIES = [
    ({}, 0),
    ({"status": "ready", "sort": "required_date"}, 0),
    ({"q": "QC-0"}, 0),
    ({"q": "b12"}, 0),
    ({"q": "B12 1AA"}, 0),
    ({"order_type": "delivery", "sort": "-customer"}, 0),
    ({"required_from": "2000-01-01", "required_to": "2100-01-01", "sort": "status"}, 0),
    ({"stock_location": "MAN", "sort": "-updated"}, 1),
    ({"delivery_method": "BHM-VANS", "service_level": "2MAN-ROC", "sort": "order_no"}, 2),
]


@SIZES
@pytest.mark.parametrize(("params", "checks"), OFFICE_QUERIES)
def test_an_office_list_page_costs_the_same_whatever_its_size_position_filters_and_search(
    office, orders, params, checks, django_assert_num_queries
):
    office.get("/orders/")  # the per-status counts into the cache
    for page in (1, 2):
        query = {**params, "per_page": 25, "page": page}
        with django_assert_num_queries(OFFICE_PAGE + checks):
            full = office.get("/orders/", query)
        assert full.status_code == 200
        with django_assert_num_queries(OFFICE_FRAGMENT + checks):
            fragment = office.get("/orders/", query, headers=HX)
        assert fragment.status_code == 200
    if orders == 30 and not params:
        assert fragment.content.decode().count("<tr>") == 5 + 1  # page 2: 5 rows and the header


@SIZES
def test_the_office_search_finds_by_order_number_prefix_postal_code_and_name(office, orders):
    def found(q):
        return sorted(o for o in Order.objects.values_list("order_no", flat=True) if f">{o}</a>" in page(q))

    def page(q):
        return office.get("/orders/", {"q": q, "per_page": 100}).content.decode()

    assert found("qc-00") == [f"QC-{n:03d}" for n in range(min(orders, 10))]
    assert found("b12 4aa") == [f"QC-{n:03d}" for n in range(orders) if n % 9 == 4]
    # Typed without its space, as people often do.
    assert found("B124AA") == found("b12 4aa")
    assert found("smith") == sorted(Order.objects.values_list("order_no", flat=True))
    assert found("nobody") == []


def test_the_filter_fields_follow_reference_data_at_once(office, depots):
    from orders.models import StockLocation

    assert ">GLA<" not in office.get("/orders/").content.decode()
    StockLocation.objects.create(code="GLA", name="Glasgow", postal_code="G1 1AA", country="GB")
    assert ">GLA<" in office.get("/orders/").content.decode()
    # The same query twice: the second page is the first's, fields and all.
    first = office.get("/orders/", {"status": "ready"}).content.decode()
    second = office.get("/orders/", {"status": "ready"}).content.decode()

    def form(page):
        return page.split('<form class="panel filters"', 1)[1].split("</form>", 1)[0]

    assert form(first) == form(second)
    assert 'value="ready" selected' in form(first)


def test_a_filter_with_a_bad_value_is_shown_with_its_error_every_time(office, depots):
    for _ in range(2):
        response = office.get("/orders/", {"stock_location": "NOPE"})
        assert response.status_code == 400
        assert 'id="id_stock_location-errors"' in response.content.decode()
    assert 'id="id_stock_location-errors"' not in office.get("/orders/").content.decode()


def test_dates_used_in_the_list_are_the_required_dates(office, make_order):
    make_order("QC-DATE", required_date=(timezone.localdate() + timedelta(days=3)).isoformat())
    body = office.get("/orders/").content.decode()
    assert (timezone.localdate() + timedelta(days=3)).strftime("%a %-d %b %Y") in body


@pytest.mark.parametrize("orders", [30], indirect=True)
@pytest.mark.parametrize("sort", ["-created", "created", "-order_no"])
def test_a_search_pages_its_matches_in_the_chosen_order_with_the_other_filters(office, orders, sort):
    # On PostgreSQL the search reads its matches first (id = ANY(ARRAY(...))) and then sorts them:
    # the page must still be every match, in the sort asked for, narrowed by the other filters.
    from orders.filters import SORTS

    Order.objects.filter(order_no__in=["QC-011", "QC-014"]).update(status="cancelled")
    page = office.get("/orders/", {"q": "qc-01", "sort": sort, "status": "ready", "per_page": 100})
    html = page.content.decode()
    listed = sorted(
        (html.index(f">{o}</a>"), o) for o in Order.objects.values_list("order_no", flat=True) if f">{o}</a>" in html
    )

    expected = Order.objects.filter(order_no__startswith="QC-01", status="ready").order_by(*SORTS[sort])
    assert [o for _, o in listed] == list(expected.values_list("order_no", flat=True))
    # QC-010 ... QC-019, less the two cancelled and the trunked ones still waiting for their stock.
    assert [o for _, o in sorted(listed, key=lambda x: x[1])] == ["QC-012", "QC-015", "QC-017", "QC-018"]


@pytest.mark.parametrize("orders", [30], indirect=True)
@pytest.mark.parametrize(
    "sort", ["-created", "created", "order_no", "-required_date", "customer", "-status", "-updated"]
)
def test_a_search_alone_pages_exactly_the_rows_the_plain_filter_would(office, orders, sort):
    # With the search the only filter, the subquery picks the rows up to the end of the page itself
    # (sorted, limited); every page must still be the plain filter's, ties and all, with its next link.
    from orders.filters import SORTS

    Order.objects.filter(order_no__in=["QC-003", "QC-007", "QC-021"]).update(customer_name="Aaron Smith")
    expected = list(
        Order.objects.filter(customer_name__icontains="smith").order_by(*SORTS[sort]).values_list("order_no", flat=True)
    )
    assert len(expected) == 30
    for page, rows in ((1, expected[:25]), (2, expected[25:])):
        html = office.get("/orders/", {"q": "smith", "sort": sort, "per_page": 25, "page": page}).content.decode()
        listed = sorted((html.index(f">{o}</a>"), o) for o in expected if f">{o}</a>" in html)
        assert [o for _, o in listed] == rows
        assert ('rel="next"' in html) == (page == 1)
