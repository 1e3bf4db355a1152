"""GET /api/v1/routes/?date=: the day's routes for picking, as JSON and as a CSV pick list."""

import csv
import io

import pytest

from orders import services
from orders.domain import Actor
from tests.conftest import line

PLANNER = Actor.for_inbound("route-planner")
DAY = "2030-03-05"


def plan(order, route="R-01", eta=("09:00", "11:00"), day=DAY, sequence=None, driver="Dee", vehicle="BX71 KTP"):
    services.plan_order(
        order,
        actor=PLANNER,
        sequence=sequence,
        plan={
            "planned_date": day,
            "route_ref": route,
            "eta_from": eta[0],
            "eta_to": eta[1],
            "driver": driver,
            "vehicle": vehicle,
        },
    )


@pytest.fixture
def day(make_order, alice, bob):
    """Route R-01: two of alice's stops, the later made first; R-02: bob's; one cancelled; one another day."""
    late = make_order("SO-LATE", client=alice[0], lines=[line(1), {**line(2, quantity=3), "description": "Chair"}])
    early = make_order("SO-EARLY", client=alice[0])
    plan(late, eta=("13:00", "15:00"))
    plan(early, eta=("08:00", "10:00"))
    plan(make_order("SO-BOB", client=bob[0]), route="R-02", driver="Sam", vehicle="BX70 LRD")
    cancelled = make_order("SO-CANCELLED", client=alice[0])
    plan(cancelled)
    services.cancel_order(cancelled, actor=PLANNER)
    plan(make_order("SO-OTHER-DAY", client=alice[0]), day="2030-03-06")
    make_order("SO-UNPLANNED", client=alice[0])


def stop(order_no, eta, lines, sequence=1):
    return {"order_no": order_no, "sequence": sequence, "eta_from": eta[0], "eta_to": eta[1], "lines": lines}


def pick(line_no=1, sku="SOFA-3", quantity=1, description=""):
    """A line to pick; the default is the one line of conftest's order_body."""
    return {"line_no": line_no, "sku": sku, "description": description, "quantity": quantity, "stock_location": "BHM"}


ALICE_R01 = {
    "route_ref": "R-01",
    "planned_date": DAY,
    "vehicle": "BX71 KTP",
    "driver": "Dee",
    "stops": [
        stop("SO-EARLY", ("08:00", "10:00"), [pick(1)]),
        stop(
            "SO-LATE",
            ("13:00", "15:00"),
            [pick(1, "SKU-1"), pick(2, "SKU-2", quantity=3, description="Chair")],
        ),
    ],
}
BOB_R02 = {
    "route_ref": "R-02",
    "planned_date": DAY,
    "vehicle": "BX70 LRD",
    "driver": "Sam",
    "stops": [stop("SO-BOB", ("09:00", "11:00"), [pick(1)])],
}


def test_a_client_sees_its_own_stops_in_eta_order(day, alice_api):
    response = alice_api.get("/api/v1/routes/", {"date": DAY})
    assert response.status_code == 200
    assert response.json() == {"next": None, "previous": None, "results": [ALICE_R01]}


def test_another_client_sees_only_its_own_route(day, bob_api):
    assert bob_api.get("/api/v1/routes/", {"date": DAY}).json()["results"] == [BOB_R02]


def test_orders_all_sees_every_route(day, ops_api):
    assert ops_api.get("/api/v1/routes/", {"date": DAY}).json()["results"] == [ALICE_R01, BOB_R02]


def test_a_day_without_routes_is_an_empty_list(day, ops_api):
    assert ops_api.get("/api/v1/routes/", {"date": "2030-01-01"}).json() == {
        "next": None,
        "previous": None,
        "results": [],
    }


def test_the_pick_list_is_csv_with_one_row_per_line(day, alice_api):
    response = alice_api.get("/api/v1/routes/", {"date": DAY}, headers={"Accept": "text/csv"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="pick-list-{DAY}.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [
        [
            "route_ref",
            "planned_date",
            "vehicle",
            "driver",
            "stop",
            "order_no",
            "sequence",
            "eta_from",
            "eta_to",
            "line_no",
            "sku",
            "description",
            "quantity",
            "stock_location",
        ],
        ["R-01", DAY, "BX71 KTP", "Dee", "1", "SO-EARLY", "1", "08:00", "10:00", "1", "SOFA-3", "", "1", "BHM"],
        ["R-01", DAY, "BX71 KTP", "Dee", "2", "SO-LATE", "1", "13:00", "15:00", "1", "SKU-1", "", "1", "BHM"],
        ["R-01", DAY, "BX71 KTP", "Dee", "2", "SO-LATE", "1", "13:00", "15:00", "2", "SKU-2", "Chair", "3", "BHM"],
    ]


def test_the_pick_list_does_not_let_a_spreadsheet_run_formulas(make_order, alice, alice_api):
    order = make_order("SO-1", client=alice[0], lines=[{**line(1), "sku": "=HYPERLINK(1)", "description": "@cmd"}])
    plan(order, route="+R", driver="-Dee")
    rows = list(
        csv.reader(
            io.StringIO(
                alice_api.get("/api/v1/routes/", {"date": DAY}, headers={"Accept": "text/csv"}).content.decode()
            )
        )
    )
    assert rows[1] == [
        "'+R",
        DAY,
        "BX71 KTP",
        "'-Dee",
        "1",
        "SO-1",
        "1",
        "09:00",
        "11:00",
        "1",
        "'=HYPERLINK(1)",
        "'@cmd",
        "1",
        "BHM",
    ]


def test_the_legs_of_a_multi_order_are_separate_stops(make_order, ops_api):
    def leg(sequence, lines):
        address = {"line1": f"{sequence} Leg Road", "postal_code": "B2 4QA", "country": "GB"}
        return {"sequence": sequence, "group_type": "delivery", "lines": lines, "address": address}

    order = make_order("SO-M", order_type="multi", lines=[], groups=[leg(1, [line(1)]), leg(2, [line(2)])])
    plan(order, sequence=2, eta=("10:00", "11:00"))
    plan(order, sequence=1, eta=("14:00", "15:00"))
    stops = ops_api.get("/api/v1/routes/", {"date": DAY}).json()["results"][0]["stops"]
    assert [(s["order_no"], s["sequence"], [x["line_no"] for x in s["lines"]]) for s in stops] == [
        ("SO-M", 2, [2]),
        ("SO-M", 1, [1]),
    ]


def test_a_leg_taken_off_its_plan_leaves_the_route(make_order, alice, alice_api):
    order = make_order("SO-1", client=alice[0])
    plan(order)
    services.update_order(order, actor=PLANNER, fields={"required_date": None, "postal_code": "B3 3AA"})
    assert alice_api.get("/api/v1/routes/", {"date": DAY}).json()["results"] == []


@pytest.mark.parametrize(
    ("params", "errors"),
    [
        ({}, {"date": ["This field is required."]}),
        ({"date": "05/03/2030"}, {"date": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]}),
        ({"date": "2030-02-30"}, {"date": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]}),
    ],
)
def test_a_missing_or_bad_date_is_400_even_for_csv(alice_api, params, errors):
    for accept in ("application/json", "text/csv"):
        response = alice_api.get("/api/v1/routes/", params, headers={"Accept": accept})
        assert response.status_code == 400
        assert response["Content-Type"] == "application/json"
        assert response.json() == {"errors": errors}


def test_routes_need_a_key_with_orders_read(anon_api, db):
    from tests.conftest import ApiCaller, make_client

    assert anon_api.get("/api/v1/routes/", {"date": DAY}).status_code == 401
    hooks = ApiCaller(make_client("hooks", ["webhooks:manage"])[1])
    response = hooks.get("/api/v1/routes/", {"date": DAY}, headers={"Accept": "text/csv"})
    assert response.status_code == 403
    assert response.json() == {"detail": "This API key lacks the scope orders:read."}


def plan_many(make_order, routes, stops_per_route, prefix):
    for r in range(routes):
        for s in range(stops_per_route):
            order = make_order(f"{prefix}-{r}-{s}", lines=[line(1), line(2), line(3)])
            plan(order, route=f"{prefix}-R{r}", eta=(f"{8 + s:02d}:00", f"{9 + s:02d}:00"))


@pytest.mark.parametrize(("routes", "stops"), [(1, 1), (4, 6)])
@pytest.mark.parametrize("accept", ["application/json", "text/csv"])
def test_the_number_of_queries_does_not_grow_with_the_stops(
    make_order, ops_api, django_assert_num_queries, routes, stops, accept
):
    plan_many(make_order, routes, stops, "SO")
    ops_api.get("/api/v1/routes/", {"date": DAY})  # records the key's last use once
    # The API key, the planned legs with their orders, and their lines.
    with django_assert_num_queries(3):
        response = ops_api.get("/api/v1/routes/", {"date": DAY}, headers={"Accept": accept})
    assert response.status_code == 200
    if accept == "application/json":
        results = response.json()["results"]
        assert [len(route["stops"]) for route in results] == [stops] * routes
        assert {len(stop["lines"]) for route in results for stop in route["stops"]} == {3}
    else:
        assert len(response.content.decode().strip().splitlines()) == 1 + routes * stops * 3


def test_format_csv_in_the_query_gives_the_pick_list_too(day, alice_api):
    by_header = alice_api.get("/api/v1/routes/", {"date": DAY}, headers={"Accept": "text/csv"})
    by_query = alice_api.get("/api/v1/routes/", {"date": DAY, "format": "csv"})
    assert by_query.status_code == 200
    assert by_query["Content-Type"] == "text/csv; charset=utf-8"
    assert by_query.content == by_header.content


def test_options_answers_json_even_when_csv_is_asked_for(alice_api):
    response = alice_api.client.options("/api/v1/routes/?format=csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json()["name"] == "Route List"


def test_a_hand_edited_plan_with_odd_values_still_lists(make_order, ops_api):
    plan(make_order("SO-1"), eta=("10:00", "11:00"))
    odd = make_order("SO-2")
    services.plan_order(odd, actor=PLANNER, plan={"planned_date": DAY, "route_ref": "R-01", "eta_from": 9})
    stops = ops_api.get("/api/v1/routes/", {"date": DAY}).json()["results"][0]["stops"]
    assert [(s["order_no"], s["eta_from"], s["eta_to"]) for s in stops] == [
        ("SO-1", "10:00", "11:00"),
        ("SO-2", 9, None),
    ]
