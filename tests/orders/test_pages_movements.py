"""The movement board: by lane and ship date, bulk dispatch and receive, orders becoming ready."""

import pytest

from orders.models import ApiClient, Order, StockLocation, StockMovement
from tests.conftest import line

HX = {"HX-Request": "true", "HX-Current-URL": "http://testserver/movements/"}


@pytest.fixture
def two_orders(make_order):
    first = make_order("SO-1", lines=[line(1, stock_location="MAN")])
    second = make_order("SO-2", lines=[line(1, stock_location="LDS")])
    return first, second


def refs(order):
    return list(order.movements.values_list("reference", flat=True))


def test_board_groups_movements_by_lane_with_their_orders(office, two_orders, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        page = office.get("/movements/").content.decode()
    assert page.index("LDS → BHM") < page.index("MAN → BHM")
    assert 'href="/orders/SO-1/">SO-1</a>' in page and 'href="/orders/SO-2/">SO-2</a>' in page
    assert '<span class="badge badge-amber">Awaiting stock</span>' in page


def test_dispatch_and_receive_several_at_once_make_orders_ready(office, two_orders):
    first, second = two_orders
    chosen = refs(first) + refs(second)
    response = office.post("/movements/action/", {"action": "dispatch", "reference": chosen}, headers=HX)
    assert response.status_code == 200
    assert set(StockMovement.objects.values_list("status", flat=True)) == {"dispatched"}
    response = office.post("/movements/action/", {"action": "receive", "reference": chosen}, headers=HX)
    page = response.content.decode()
    assert f"{chosen[0]} received. Order SO-1 is now ready to plan." in page
    assert Order.objects.get(order_no="SO-2").status == Order.Status.READY


def test_receiving_before_dispatch_is_refused_for_that_movement_only(office, two_orders):
    first, second = two_orders
    office.post("/movements/action/", {"action": "dispatch", "reference": refs(first)})
    response = office.post("/movements/action/", {"action": "receive", "reference": refs(first) + refs(second)})
    assert response.status_code == 409
    page = response.content.decode()
    assert f"{refs(second)[0]} has not been dispatched yet" in page
    assert Order.objects.get(order_no="SO-1").status == Order.Status.READY


def test_nothing_chosen_or_unknown_action_is_a_400(office, two_orders):
    assert office.post("/movements/action/", {"action": "dispatch"}).status_code == 400
    assert office.post("/movements/action/", {"action": "burn", "reference": refs(two_orders[0])}).status_code == 400
    assert office.post("/movements/action/", {"action": "dispatch", "reference": ["MV-999999"]}).status_code == 409


def test_settings_show_a_new_api_key_once(admin):
    response = admin.post("/settings/api-clients/new/", {"name": "shop", "scopes": ["orders:read"]})
    page = response.content.decode()
    client = ApiClient.objects.get(name="shop")
    key = page.split('id="api-key" type="text" readonly value="')[1].split('"')[0]
    assert key.startswith("sp_") and client.check_secret(ApiClient.split_key(key)[1])
    assert key not in admin.get("/settings/").content.decode()
    rotated = admin.post(f"/settings/api-clients/{client.pk}/rotate/").content.decode()
    new_key = rotated.split('id="api-key" type="text" readonly value="')[1].split('"')[0]
    client.refresh_from_db()
    assert new_key != key and not client.check_secret(ApiClient.split_key(key)[1])


def test_settings_retire_rather_than_delete(admin, depots):
    bhm = depots["BHM"]
    assert admin.post(f"/settings/depots/{bhm.pk}/active/", {"active": "false"}).status_code == 302
    assert StockLocation.objects.get(pk=bhm.pk).active is False
    assert "Retired" in admin.get("/settings/").content.decode()
    assert admin.post(f"/settings/lanes/{bhm.pk}/active/").status_code == 404


def test_settings_add_reference_data_with_errors_beside_fields(admin, depots):
    response = admin.post("/settings/fleets/new/", {"code": "", "name": "x", "depot": depots["BHM"].pk})
    assert response.status_code == 422
    assert 'id="id_code_error"><li>This field is required.</li>' in response.content.decode()
    response = admin.post(
        "/settings/lanes/new/", {"from_location": depots["BHM"].pk, "to_location": depots["LDS"].pk, "transit_days": 4}
    )
    assert response.status_code == 302
    assert admin.get("/settings/nothing/new/").status_code == 404
