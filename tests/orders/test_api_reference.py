"""Reference data over the API (docs/api.md): stock locations, delivery methods, service levels and
failure reasons addressed by code, lanes by id. Read with any key; written with reference:write."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orders.models import DeliveryMethod, FailureReason, Lane, ServiceLevel, StockLocation
from tests.conftest import line, order_body

DEPOT_ADDRESS = {
    "line1": "",
    "line2": "",
    "line3": "",
    "town": "",
    "county": "",
    "postal_code": "",
    "country": "",
    "lat": None,
    "lng": None,
}


def depot(code, name, line1, postal_code):
    return {
        "code": code,
        "name": name,
        "address": {**DEPOT_ADDRESS, "line1": line1, "postal_code": postal_code, "country": "GB"},
        "active": True,
    }


BHM = depot("BHM", "Birmingham", "1 Depot Way", "B1 1AA")
LDS = depot("LDS", "Leeds", "3 Depot Way", "LS1 1AA")
MAN = depot("MAN", "Manchester", "2 Depot Way", "M1 1AA")
BHM_VANS = {"code": "BHM-VANS", "name": "Birmingham vans", "depot": "BHM", "active": True}
LDS_VANS = {"code": "LDS-VANS", "name": "Leeds vans", "depot": "LDS", "active": True}
MAN_VANS = {"code": "MAN-VANS", "name": "Manchester vans", "depot": "MAN", "active": True}
ROC = {
    "code": "2MAN-ROC",
    "name": "Two-man room of choice",
    "description": "",
    "default_unload_minutes": 20,
    "active": True,
}
NOT_HOME = {"code": "NOT-HOME", "description": "Customer not at home", "active": True}
OLD = {"code": "OLD", "description": "Retired reason", "active": False}

BY_CODE = [
    ("stock-locations", [BHM, LDS, MAN]),
    ("delivery-methods", [BHM_VANS, LDS_VANS, MAN_VANS]),
    ("service-levels", [ROC]),
    ("failure-reasons", [NOT_HOME, OLD]),
]


def lanes_json():
    return [
        {
            "id": lane.pk,
            "from_location": lane.from_location.code,
            "to_location": lane.to_location.code,
            "transit_days": lane.transit_days,
        }
        for lane in Lane.objects.order_by("id")
    ]


# --- Read ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("resource", "expected"), BY_CODE, ids=[r for r, _ in BY_CODE])
def test_each_reference_list_is_a_page_of_every_code_in_code_order(alice_api, depots, resource, expected):
    response = alice_api.get(f"/api/v1/{resource}/")

    assert response.status_code == 200
    assert response.json() == {"next": None, "previous": None, "results": expected}


@pytest.mark.parametrize(("resource", "expected"), BY_CODE, ids=[r for r, _ in BY_CODE])
def test_each_reference_item_is_read_by_its_code(alice_api, depots, resource, expected):
    for item in expected:
        response = alice_api.get(f"/api/v1/{resource}/{item['code']}/")

        assert response.status_code == 200
        assert response.json() == item


def test_the_lane_list_shows_each_lane_with_its_depot_codes(alice_api, depots):
    man_bhm, lds_bhm = Lane.objects.order_by("id")

    response = alice_api.get("/api/v1/lanes/")

    assert response.status_code == 200
    assert response.json() == {
        "next": None,
        "previous": None,
        "results": [
            {"id": man_bhm.pk, "from_location": "MAN", "to_location": "BHM", "transit_days": 2},
            {"id": lds_bhm.pk, "from_location": "LDS", "to_location": "BHM", "transit_days": 3},
        ],
    }
    assert alice_api.get(f"/api/v1/lanes/{lds_bhm.pk}/").json() == response.json()["results"][1]


def test_reference_lists_page_with_a_cursor(alice_api, depots):
    first = alice_api.get("/api/v1/stock-locations/", {"page_size": 2}).json()
    second = alice_api.get(first["next"]).json()

    assert [d["code"] for d in first["results"]] == ["BHM", "LDS"]
    assert [d["code"] for d in second["results"]] == ["MAN"]
    assert second["next"] is None


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/stock-locations/NOPE/",
        "/api/v1/delivery-methods/NOPE/",
        "/api/v1/service-levels/NOPE/",
        "/api/v1/failure-reasons/NOPE/",
        "/api/v1/lanes/999999999/",
    ],
)
def test_an_unknown_code_or_lane_answers_404(alice_api, depots, path):
    response = alice_api.get(path)

    assert response.status_code == 404
    assert list(response.json()) == ["detail"]


def test_the_delivery_method_list_takes_a_fixed_number_of_queries(ops_api, depots, django_assert_num_queries):
    ops_api.get("/api/v1/delivery-methods/")
    for n in range(10):
        DeliveryMethod.objects.create(code=f"X-{n}", name="Extra", depot=StockLocation.objects.get(code="MAN"))

    # Authentication and one query for the fleets with their depots.
    with django_assert_num_queries(2):
        response = ops_api.get("/api/v1/delivery-methods/")

    assert len(response.json()["results"]) == 13


# --- Create and update --------------------------------------------------------------------------

CREATES = [
    (
        "stock-locations",
        {
            "code": "GLA",
            "name": "Glasgow",
            "address": {"line1": "4 Depot Way", "postal_code": "g1 1aa", "country": "gb"},
        },
        depot("GLA", "Glasgow", "4 Depot Way", "G1 1AA"),
    ),
    (
        "delivery-methods",
        {"code": "BHM-TRUCKS", "name": "Birmingham trucks", "depot": "BHM"},
        {"code": "BHM-TRUCKS", "name": "Birmingham trucks", "depot": "BHM", "active": True},
    ),
    (
        "service-levels",
        {"code": "1MAN-KERB", "name": "One-man kerbside", "description": "To the door.", "default_unload_minutes": 5},
        {
            "code": "1MAN-KERB",
            "name": "One-man kerbside",
            "description": "To the door.",
            "default_unload_minutes": 5,
            "active": True,
        },
    ),
    (
        "failure-reasons",
        {"code": "DAMAGED", "description": "Item damaged in transit"},
        {"code": "DAMAGED", "description": "Item damaged in transit", "active": True},
    ),
]


@pytest.mark.parametrize(("resource", "body", "expected"), CREATES, ids=[c[0] for c in CREATES])
def test_a_reference_writer_creates_reference_data(ops_api, alice_api, depots, resource, body, expected):
    response = ops_api.post(f"/api/v1/{resource}/", body)

    assert response.status_code == 201
    assert response.json() == expected
    assert alice_api.get(f"/api/v1/{resource}/{expected['code']}/").json() == expected


UPDATES = [
    ("stock-locations", "BHM", {"name": "Birmingham Central"}, {**BHM, "name": "Birmingham Central"}),
    (
        "stock-locations",
        "BHM",
        {"address": {"postal_code": "b1 2aa"}},
        {**BHM, "address": {**BHM["address"], "postal_code": "B1 2AA"}},
    ),
    ("delivery-methods", "BHM-VANS", {"name": "Luton vans", "depot": "BHM"}, {**BHM_VANS, "name": "Luton vans"}),
    (
        "service-levels",
        "2MAN-ROC",
        {"description": "Into any room.", "default_unload_minutes": 30},
        {**ROC, "description": "Into any room.", "default_unload_minutes": 30},
    ),
    ("failure-reasons", "OLD", {"active": True}, {**OLD, "active": True}),
]


@pytest.mark.parametrize(("resource", "code", "body", "expected"), UPDATES)
def test_a_reference_writer_changes_reference_data(ops_api, alice_api, depots, resource, code, body, expected):
    response = ops_api.patch(f"/api/v1/{resource}/{code}/", body)

    assert response.status_code == 200
    assert response.json() == expected
    assert alice_api.get(f"/api/v1/{resource}/{code}/").json() == expected


def test_a_reference_writer_replaces_an_item_with_put(ops_api, depots):
    response = ops_api.put("/api/v1/service-levels/2MAN-ROC/", {"code": "2MAN-ROC", "name": "Room of choice"})

    assert response.status_code == 200
    assert response.json() == {**ROC, "name": "Room of choice"}


def test_a_reference_writer_creates_and_changes_lanes(ops_api, alice_api, depots):
    created = ops_api.post("/api/v1/lanes/", {"from_location": "BHM", "to_location": "LDS", "transit_days": 4})
    lane_id = created.json()["id"]
    changed = ops_api.patch(f"/api/v1/lanes/{lane_id}/", {"transit_days": 5})

    assert created.status_code == 201
    assert created.json() == {"id": lane_id, "from_location": "BHM", "to_location": "LDS", "transit_days": 4}
    assert changed.status_code == 200
    assert changed.json() == {"id": lane_id, "from_location": "BHM", "to_location": "LDS", "transit_days": 5}
    assert alice_api.get(f"/api/v1/lanes/{lane_id}/").json() == changed.json()


def test_a_new_lane_sets_the_transit_days_of_new_movements(ops_api, alice_api, depots):
    ops_api.post("/api/v1/lanes/", {"from_location": "BHM", "to_location": "LDS", "transit_days": 4})

    order = alice_api.post("/api/v1/orders/", order_body(lines=[line(1, "BHM", "LDS-VANS", sku="SOFA")])).json()

    today = timezone.localdate()
    movement = order["movements"][0]
    assert (movement["from_location"], movement["to_location"]) == ("BHM", "LDS")
    assert (movement["ship_date"], movement["due_date"]) == (today.isoformat(), (today + timedelta(days=4)).isoformat())


# --- Refused writes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "body", "label"),
    [
        ("stock-locations", {"code": "BHM", "name": "Second Birmingham"}, "stock location"),
        ("delivery-methods", {"code": "BHM-VANS", "name": "Again", "depot": "MAN"}, "delivery method"),
        ("service-levels", {"code": "2MAN-ROC", "name": "Again"}, "service level"),
        ("failure-reasons", {"code": "OLD", "description": "An inactive code is still taken"}, "failure reason"),
    ],
)
def test_a_code_that_exists_is_refused_with_400(ops_api, depots, resource, body, label):
    listing = ops_api.get(f"/api/v1/{resource}/").json()

    response = ops_api.post(f"/api/v1/{resource}/", body)

    assert response.status_code == 400
    assert response.json() == {"errors": {"code": [f"A {label} with this code exists already."]}}
    assert ops_api.get(f"/api/v1/{resource}/").json() == listing


@pytest.mark.parametrize(
    ("resource", "body", "errors"),
    [
        (
            "delivery-methods",
            {"code": "GLA-VANS", "name": "Glasgow vans", "depot": "GLA"},
            {"depot": ["Unknown or inactive stock location code 'GLA'."]},
        ),
        ("delivery-methods", {"code": "GLA-VANS", "name": "Glasgow vans"}, {"depot": ["This field is required."]}),
        (
            "stock-locations",
            {"code": "X" * 21, "name": "Long"},
            {"code": ["Ensure this field has no more than 20 characters."]},
        ),
        ("stock-locations", {"code": "GLA"}, {"name": ["This field is required."]}),
        (
            "stock-locations",
            {
                "code": "GLA",
                "name": "Glasgow",
                "address": {"line1": "4 Depot Way", "postal_code": "1234", "country": "GB"},
            },
            {"address.postal_code": ["'1234' is not a valid postal code for GB."]},
        ),
        (
            "service-levels",
            {"code": "1MAN", "name": "One man", "default_unload_minutes": -5},
            {"default_unload_minutes": ["Ensure this value is greater than or equal to 0."]},
        ),
        (
            "service-levels",
            {"code": "1MAN", "name": "One man", "active": "perhaps"},
            {"active": ["Must be a valid boolean."]},
        ),
        ("failure-reasons", {"code": "", "description": "Blank"}, {"code": ["This field may not be blank."]}),
        (
            "failure-reasons",
            [{"code": "X", "description": "A list"}],
            {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]},
        ),
    ],
)
def test_bad_reference_data_is_refused_with_400(ops_api, depots, resource, body, errors):
    listing = ops_api.get(f"/api/v1/{resource}/").json()

    response = ops_api.post(f"/api/v1/{resource}/", body)

    assert response.status_code == 400
    assert response.json() == {"errors": errors}
    assert ops_api.get(f"/api/v1/{resource}/").json() == listing


def test_a_delivery_method_cannot_move_to_another_depot(ops_api, depots):
    response = ops_api.patch("/api/v1/delivery-methods/BHM-VANS/", {"depot": "MAN"})

    assert response.status_code == 400
    assert response.json() == {
        "errors": {
            "depot": ["A fleet's depot cannot change: open orders were trunked to it. Create a new delivery method."]
        }
    }
    assert ops_api.get("/api/v1/delivery-methods/BHM-VANS/").json() == BHM_VANS


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {"from_location": "BHM", "to_location": "BHM", "transit_days": 1},
            {"to_location": ["A lane joins two different depots."]},
        ),
        (
            {"from_location": "MAN", "to_location": "BHM", "transit_days": 1},
            {"to_location": ["A lane between these depots exists already."]},
        ),
        (
            {"from_location": "BHM", "to_location": "NOPE", "transit_days": 1},
            {"to_location": ["Unknown or inactive stock location code 'NOPE'."]},
        ),
        (
            {"from_location": "BHM", "to_location": "LDS", "transit_days": -1},
            {"transit_days": ["Ensure this value is greater than or equal to 0."]},
        ),
        (
            {"from_location": "BHM", "to_location": "LDS", "transit_days": "soon"},
            {"transit_days": ["A valid integer is required."]},
        ),
    ],
)
def test_a_bad_lane_is_refused_with_400(ops_api, depots, body, errors):
    before = lanes_json()

    response = ops_api.post("/api/v1/lanes/", body)

    assert response.status_code == 400
    assert response.json() == {"errors": errors}
    assert lanes_json() == before


def test_a_lane_cannot_be_changed_into_a_duplicate_or_a_loop(ops_api, depots):
    lds_bhm = Lane.objects.get(from_location__code="LDS")
    before = lanes_json()

    duplicate = ops_api.patch(f"/api/v1/lanes/{lds_bhm.pk}/", {"from_location": "MAN"})
    loop = ops_api.patch(f"/api/v1/lanes/{lds_bhm.pk}/", {"to_location": "LDS"})

    assert duplicate.status_code == loop.status_code == 400
    assert duplicate.json() == {"errors": {"to_location": ["A lane between these depots exists already."]}}
    assert loop.json() == {"errors": {"to_location": ["A lane joins two different depots."]}}
    assert lanes_json() == before


# --- Retiring a code ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "code", "order_overrides", "errors"),
    [
        (
            "stock-locations",
            "LDS",
            {"lines": [line(1, "LDS", "BHM-VANS", sku="SOFA")]},
            {"lines.0.stock_location": ["Unknown or inactive stock location code 'LDS'."]},
        ),
        (
            "delivery-methods",
            "MAN-VANS",
            {"lines": [line(1, "MAN", "MAN-VANS", sku="SOFA")]},
            {"lines.0.delivery_method": ["Unknown or inactive delivery method code 'MAN-VANS'."]},
        ),
        (
            "service-levels",
            "2MAN-ROC",
            {"service_level": "2MAN-ROC"},
            {"service_level": ["Unknown or inactive service level code '2MAN-ROC'."]},
        ),
    ],
)
def test_a_retired_code_is_refused_on_new_orders_and_kept_on_old_ones(
    ops_api, alice_api, depots, resource, code, order_overrides, errors
):
    old = alice_api.post("/api/v1/orders/", order_body("OLD-1", **order_overrides))
    assert old.status_code == 201

    retired = ops_api.patch(f"/api/v1/{resource}/{code}/", {"active": False})
    refused = alice_api.post("/api/v1/orders/", order_body("NEW-1", **order_overrides))
    refused_change = alice_api.patch("/api/v1/orders/OLD-1/", order_overrides)

    assert retired.status_code == 200
    assert retired.json()["active"] is False
    assert ops_api.get(f"/api/v1/{resource}/{code}/").json()["active"] is False
    assert refused.status_code == refused_change.status_code == 400
    assert refused.json() == refused_change.json() == {"errors": errors}
    assert alice_api.get("/api/v1/orders/OLD-1/").json() == old.json()


def test_a_retired_failure_reason_is_listed_as_inactive(ops_api, depots):
    ops_api.patch("/api/v1/failure-reasons/NOT-HOME/", {"active": False})

    response = ops_api.get("/api/v1/failure-reasons/")

    assert response.json()["results"] == [{**NOT_HOME, "active": False}, OLD]
    assert not FailureReason.objects.get(code="NOT-HOME").active


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/stock-locations/BHM/",
        "/api/v1/delivery-methods/BHM-VANS/",
        "/api/v1/service-levels/2MAN-ROC/",
        "/api/v1/failure-reasons/NOT-HOME/",
        "/api/v1/lanes/{lane}/",
    ],
)
def test_reference_data_cannot_be_deleted(ops_api, depots, path):
    path = path.format(lane=Lane.objects.first().pk)
    models = (StockLocation, DeliveryMethod, ServiceLevel, FailureReason, Lane)
    before = [m.objects.count() for m in models]

    response = ops_api.delete(path)

    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "DELETE" not allowed.'}
    assert [m.objects.count() for m in models] == before


def test_an_unknown_depot_on_a_lane_update_is_refused(ops_api, depots):
    lane = Lane.objects.get(from_location__code="MAN")
    before = lanes_json()

    response = ops_api.patch(f"/api/v1/lanes/{lane.pk}/", {"from_location": "XXX"})

    assert response.status_code == 400
    assert response.json() == {"errors": {"from_location": ["Unknown or inactive stock location code 'XXX'."]}}
    assert lanes_json() == before


@pytest.mark.parametrize(
    ("resource", "code"),
    [
        ("stock-locations", "BHM"),
        ("delivery-methods", "BHM-VANS"),
        ("service-levels", "2MAN-ROC"),
        ("failure-reasons", "NOT-HOME"),
    ],
)
def test_a_code_cannot_be_renamed(ops_api, depots, resource, code):
    before = ops_api.get(f"/api/v1/{resource}/{code}/").json()

    response = ops_api.patch(f"/api/v1/{resource}/{code}/", {"code": "RENAMED"})

    assert response.status_code == 400
    assert response.json() == {
        "errors": {"code": ["A code cannot change once made: integrations know it. Create a new one."]}
    }
    assert ops_api.get(f"/api/v1/{resource}/{code}/").json() == before
    assert ops_api.get(f"/api/v1/{resource}/RENAMED/").status_code == 404
