"""The management commands: create_api_client and seed_demo."""

import re

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from orders.addresses import normalise_postal_code
from orders.domain import derive_order_status
from orders.models import (
    ApiClient,
    DeliveryMethod,
    FailureReason,
    Lane,
    Order,
    ServiceLevel,
    StatusChange,
    StockLocation,
    StockMovement,
)

# --- create_api_client --------------------------------------------------------------------------


def create_client(capsys, *args):
    call_command("create_api_client", *args)
    out = capsys.readouterr().out
    return out, out.rstrip("\n").splitlines()[-1]


@pytest.mark.django_db
def test_create_api_client_prints_the_key_alone_on_the_last_line(capsys):
    out, key = create_client(capsys, "erp", "--scopes", "orders:read,orders:write")

    client = ApiClient.objects.get(name="erp")
    assert key.startswith(ApiClient.KEY_PREFIX)
    assert " " not in key
    assert client.scopes == ["orders:read", "orders:write"]
    assert len(out.splitlines()) > 1, "a short explanation comes before the key"


@pytest.mark.django_db
def test_create_api_client_stores_a_digest_that_checks_the_key_and_is_not_the_key(capsys):
    _, key = create_client(capsys, "erp", "--scopes", "orders:read")

    client = ApiClient.objects.get(name="erp")
    key_id, secret = ApiClient.split_key(key)
    assert client.key_id == key_id
    assert client.key_hash not in (key, secret)
    assert secret not in client.key_hash
    assert client.check_secret(secret)
    assert not client.check_secret(secret + "x")


@pytest.mark.django_db
def test_create_api_client_key_opens_the_api(capsys):
    _, key = create_client(capsys, "erp", "--scopes", "orders:read")

    assert Client(headers={"Authorization": f"Bearer {key}"}).get("/api/v1/service-levels/").status_code == 200
    assert Client(headers={"Authorization": f"Bearer {key}x"}).get("/api/v1/service-levels/").status_code == 401


@pytest.mark.django_db
def test_create_api_client_refuses_an_unknown_scope_and_names_the_valid_ones(capsys):
    with pytest.raises(CommandError) as excinfo:
        call_command("create_api_client", "erp", "--scopes", "orders:read,orders:delete")

    message = str(excinfo.value)
    assert "orders:delete" in message
    for scope in ApiClient.Scope.values:
        assert scope in message
    assert not ApiClient.objects.exists()


@pytest.mark.django_db
def test_create_api_client_needs_scopes_for_a_new_client(capsys):
    with pytest.raises(CommandError, match="--scopes"):
        call_command("create_api_client", "erp")

    assert not ApiClient.objects.exists()


@pytest.mark.django_db
def test_create_api_client_refuses_a_name_in_use(capsys):
    _, key = create_client(capsys, "erp", "--scopes", "orders:read")

    with pytest.raises(CommandError, match="--rotate"):
        call_command("create_api_client", "erp", "--scopes", "orders:write")

    client = ApiClient.objects.get(name="erp")
    assert client.scopes == ["orders:read"]
    assert client.check_secret(ApiClient.split_key(key)[1])


@pytest.mark.django_db
def test_create_api_client_rotate_issues_a_new_key_and_the_old_one_stops_working(capsys):
    _, old_key = create_client(capsys, "erp", "--scopes", "orders:read")

    _, new_key = create_client(capsys, "erp", "--rotate")

    client = ApiClient.objects.get(name="erp")
    assert new_key != old_key
    assert ApiClient.split_key(new_key)[0] == client.key_id
    assert client.check_secret(ApiClient.split_key(new_key)[1])
    assert not client.check_secret(ApiClient.split_key(old_key)[1])
    assert client.scopes == ["orders:read"], "scopes are kept unless --scopes is given"
    assert ApiClient.objects.count() == 1


@pytest.mark.django_db
def test_create_api_client_rotate_with_scopes_replaces_them(capsys):
    create_client(capsys, "erp", "--scopes", "orders:read")

    create_client(capsys, "erp", "--rotate", "--scopes", "orders:read,webhooks:manage")

    assert ApiClient.objects.get(name="erp").scopes == ["orders:read", "webhooks:manage"]


@pytest.mark.django_db
def test_create_api_client_rotate_refuses_an_unknown_client(capsys):
    with pytest.raises(CommandError, match="no API client"):
        call_command("create_api_client", "nobody", "--rotate")


# --- seed_demo ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_seed_demo_creates_reference_data(capsys):
    call_command("seed_demo", "--orders", "0")

    assert set(StockLocation.objects.values_list("code", flat=True)) == {"BHM", "MAN", "LDS", "BRS"}
    for depot in StockLocation.objects.all():
        assert depot.line1 and depot.town and depot.lat is not None and depot.lng is not None
        assert normalise_postal_code(depot.postal_code, "GB") == depot.postal_code
        assert DeliveryMethod.objects.filter(depot=depot).count() in (1, 2)
    assert Lane.objects.count() == 12
    assert all(1 <= lane.transit_days <= 3 for lane in Lane.objects.all())
    assert {"2MAN-ROC", "1MAN-KERB", "2MAN-ASSY"} <= set(ServiceLevel.objects.values_list("code", flat=True))
    reasons = set(FailureReason.objects.values_list("code", flat=True))
    assert {"NO-ACCESS", "NOT-HOME", "DAMAGED", "REFUSED", "WRONG-ADDR"} <= reasons
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_seed_demo_makes_orders_in_every_status_through_the_services(capsys):
    call_command("seed_demo", "--orders", "60")
    out = capsys.readouterr().out

    assert Order.objects.count() == 60
    assert set(Order.objects.values_list("status", flat=True)) == set(Order.Status.values)
    assert {"pending", "dispatched", "received"} <= set(StockMovement.objects.values_list("status", flat=True))
    assert Order.objects.filter(order_type=Order.Type.MULTI, groups__sequence=2).exists()
    # The summary counts orders and movements per status.
    for status in Order.Status.values:
        count = Order.objects.filter(status=status).count()
        assert re.search(rf"^\s+{status}\s+{count}$", out, re.MULTILINE)

    lanes = {(lane.from_location_id, lane.to_location_id): lane.transit_days for lane in Lane.objects.all()}
    for order in Order.objects.prefetch_related("groups", "lines", "movements"):
        assert order.status == derive_order_status(g.status for g in order.groups.all())
        assert order.lines.all()
        assert normalise_postal_code(order.postal_code, "GB") == order.postal_code
        # Made by the services: each status the order reached is in its history.
        assert StatusChange.objects.filter(order=order, subject="order", status=order.status).exists()
        if order.status == Order.Status.COMPLETED:
            assert order.pod["signed_by"]
        if order.status == Order.Status.FAILED:
            assert order.failure_reason is not None
        for movement in order.movements.all():
            lane = (movement.from_location_id, movement.to_location_id)
            assert (movement.due_date - movement.ship_date).days == lanes[lane]


@pytest.mark.django_db
def test_seed_demo_twice_adds_orders_with_fresh_numbers(capsys):
    call_command("seed_demo", "--orders", "12")
    call_command("seed_demo", "--orders", "12")

    assert StockLocation.objects.count() == 4
    assert Lane.objects.count() == 12
    numbers = sorted(int(n[3:]) for n in Order.objects.values_list("order_no", flat=True))
    assert numbers == list(range(100001, 100025))


@pytest.mark.django_db
def test_seed_demo_is_deterministic_for_a_seed(capsys):
    call_command("seed_demo", "--orders", "5", "--seed", "3")
    call_command("seed_demo", "--orders", "5", "--seed", "3")

    orders = list(Order.objects.order_by("order_no").values_list("customer_name", "postal_code", "order_type"))
    assert orders[:5] == orders[5:]


@pytest.mark.django_db
def test_seed_demo_if_empty_does_nothing_once_there_are_orders(capsys):
    call_command("seed_demo", "--orders", "3", "--if-empty")
    assert Order.objects.count() == 3
    capsys.readouterr()

    call_command("seed_demo", "--orders", "3", "--if-empty")

    assert Order.objects.count() == 3
    assert "nothing" in capsys.readouterr().out
