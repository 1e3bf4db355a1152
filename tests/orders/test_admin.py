"""The Django admin (orders/admin.py): another door onto the order domain, so it must go through services.

Personas: `office_admin` is a superuser logged in with `force_login`; `clerk` is logged in but not
staff. Depots BHM, MAN, LDS with a fleet each and lanes MAN→BHM, LDS→BHM come from `depots`.
"""

import re

import pytest
from django.contrib import admin as django_admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from orders import services
from orders.domain import Actor
from orders.models import (
    ApiClient,
    DeliveryMethod,
    FailureReason,
    IdempotencyKey,
    Lane,
    Order,
    OutboxEvent,
    ServiceLevel,
    StatusChange,
    StockLocation,
    StockMovement,
)
from tests.conftest import make_client

ADMIN_NAME = "office-admin"


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser(ADMIN_NAME, "office@example.com", None)


@pytest.fixture
def office_admin(superuser):
    browser = Client()
    browser.force_login(superuser)
    return browser


@pytest.fixture
def clerk(django_user_model):
    browser = Client()
    browser.force_login(django_user_model.objects.create_user("clerk", "clerk@example.com", None))
    return browser


def admin_url(obj_or_model, view, *args):
    meta = obj_or_model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=args)


def change_url(obj):
    return admin_url(obj, "change", obj.pk)


def messages_of(response):
    return [(m.level_tag, str(m)) for m in response.context["messages"]]


def outbox_types(order):
    return list(OutboxEvent.objects.filter(order=order).order_by("id").values_list("type", flat=True))


def history_of(order, after=0):
    return list(
        StatusChange.objects.filter(order=order, id__gt=after)
        .order_by("id")
        .values_list("subject", "previous_status", "status", "actor_kind", "actor_label")
    )


def stock_from(*depots):
    """Lines held at `depots` and delivered by the Birmingham fleet: each depot but BHM needs a movement."""
    return [
        {"line_no": n, "sku": f"SKU-{n}", "quantity": 1, "stock_location": depot, "delivery_method": "BHM-VANS"}
        for n, depot in enumerate(depots, start=1)
    ]


def order_form_data(browser, order, **changes):
    """What a browser posts from the order's change page: header fields, hidden version, inline formsets."""
    page = browser.get(change_url(order))
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {}
    for name in [*services.HEADER_FIELDS, "expected_version"]:
        value = form[name].value()
        data[name] = "" if value is None else value
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        for field in formset.management_form:
            data[field.html_name] = field.value()
        for row in formset.initial_forms:
            data[row.add_prefix(formset.model._meta.pk.name)] = row.instance.pk
    data.update(changes)
    return data


def run_action(browser, model, action, *objects):
    return browser.post(
        admin_url(model, "changelist"), {"action": action, "_selected_action": [o.pk for o in objects]}, follow=True
    )


# --- Changelists and change pages ---------------------------------------------------------------


def seed(make_order, start, count):
    """`count` rows of every model the admin lists, with the relations each changelist displays."""
    bhm = StockLocation.objects.get(code="BHM")
    for i in range(start, start + count):
        api_client, _ = make_client(f"client-{i}", ["orders:read"])
        make_order(f"SO-{i}", client=api_client, service_level="2MAN-ROC", lines=stock_from("MAN"))
        IdempotencyKey.objects.create(client=api_client, key=f"key-{i}", request_hash="0" * 64)
        depot = StockLocation.objects.create(
            code=f"D{i}", name=f"Depot {i}", line1="1 Road", postal_code="B1 1AA", country="GB"
        )
        DeliveryMethod.objects.create(code=f"D{i}-VANS", name=f"Depot {i} vans", depot=depot)
        Lane.objects.create(from_location=depot, to_location=bhm, transit_days=1)
        ServiceLevel.objects.create(code=f"SL-{i}", name=f"Level {i}")
        FailureReason.objects.create(code=f"FR-{i}", description=f"Reason {i}")
        get_user_model().objects.create_user(f"user-{i}", f"user-{i}@example.com", is_staff=True)
        Group.objects.create(name=f"group-{i}")


def changelists(browser):
    """For every model registered in the admin: (status, rows, queries) of its changelist page."""
    outcome = {}
    for model in django_admin.site._registry:
        path = admin_url(model, "changelist")
        browser.get(path)  # one-off caches (content types...) are filled before counting
        with CaptureQueriesContext(connection) as queries:
            response = browser.get(path)
        outcome[model._meta.label] = (response.status_code, response.context["cl"].result_count, len(queries))
    return outcome


def test_every_changelist_answers_and_runs_as_many_queries_for_fifteen_rows_as_for_five(office_admin, make_order):
    seed(make_order, 1, 5)
    with_five = changelists(office_admin)
    seed(make_order, 6, 10)
    with_fifteen = changelists(office_admin)

    orders_models = {label for label in with_five if label.startswith("orders.")}
    assert orders_models == {
        "orders.ApiClient",
        "orders.DeliveryMethod",
        "orders.FailureReason",
        "orders.IdempotencyKey",
        "orders.Lane",
        "orders.Order",
        "orders.OutboxEvent",
        "orders.ServiceLevel",
        "orders.StatusChange",
        "orders.StockLocation",
        "orders.StockMovement",
    }
    assert {label: status for label, (status, _, _) in with_fifteen.items()} == dict.fromkeys(with_fifteen, 200)
    rows = {label: (with_five[label][1], with_fifteen[label][1]) for label in ("orders.Order", "orders.StockMovement")}
    assert rows == {"orders.Order": (5, 15), "orders.StockMovement": (5, 15)}
    assert all(with_fifteen[label][1] > with_five[label][1] for label in orders_models), "every orders list grew"
    queries = {label: (with_five[label][2], with_fifteen[label][2]) for label in with_five}
    assert queries == {label: (n, n) for label, (n, _) in queries.items()}


@pytest.fixture
def trunked_order(make_order):
    """An order awaiting stock from Manchester: one pending movement MAN→BHM."""
    return make_order("SO-TRUNK", lines=stock_from("MAN"))


@pytest.mark.parametrize(
    "pick",
    [
        pytest.param(lambda order: order, id="order"),
        pytest.param(lambda order: order.movements.get(), id="movement"),
        pytest.param(lambda order: make_client("erp", ["orders:read"])[0], id="api client"),
        pytest.param(lambda order: StockLocation.objects.get(code="BHM"), id="depot"),
    ],
)
def test_change_page_answers_with_the_object(office_admin, trunked_order, pick):
    obj = pick(trunked_order)

    response = office_admin.get(change_url(obj))

    assert response.status_code == 200
    assert response.context["original"] == obj
    assert str(obj) in response.text


# --- API clients --------------------------------------------------------------------------------


def test_adding_an_api_client_shows_its_key_once_stores_only_its_digest_and_the_key_opens_the_api(office_admin):
    response = office_admin.post(
        admin_url(ApiClient, "add"),
        {"name": "erp", "scopes": ["orders:read", "orders:write"], "active": "on"},
        follow=True,
    )

    key = re.search(rf"{ApiClient.KEY_PREFIX}\S+", response.text).group()
    client = ApiClient.objects.get()
    assert messages_of(response) == [
        (
            "success",
            f"The API key of erp is {key} — copy it now: it is shown only this once and cannot be recovered. "
            "Send it as “Authorization: Bearer <key>”.",
        ),
        ("success", f'The API client “<a href="{change_url(client)}">erp</a>” was added successfully.'),
    ]
    key_id, secret = ApiClient.split_key(key)
    stored = ApiClient.objects.filter(pk=client.pk).values("name", "scopes", "active", "key_id", "key_hash").get()
    assert stored == {
        "name": "erp",
        "scopes": ["orders:read", "orders:write"],
        "active": True,
        "key_id": key_id,
        "key_hash": ApiClient.hash_secret(secret),
    }
    assert secret not in stored["key_hash"]
    assert not [f for f, v in ApiClient.objects.filter(pk=client.pk).values().get().items() if secret in str(v)]
    assert key not in office_admin.get(change_url(client)).text, "the key is not shown again"
    assert key not in office_admin.get(admin_url(ApiClient, "changelist")).text

    api = Client(headers={"Authorization": f"Bearer {key}"}).get("/api/v1/orders/")
    assert api.status_code == 200
    assert Client(headers={"Authorization": f"Bearer {key}x"}).get("/api/v1/orders/").status_code == 401


# --- Editing an order ---------------------------------------------------------------------------


def test_editing_an_order_saves_it_through_services_with_a_new_version_and_an_updated_event(office_admin, make_order):
    order = make_order("SO-1")
    data = order_form_data(office_admin, order, driver_notes="Ring the bell twice", postal_code="b15 2tt")

    response = office_admin.post(change_url(order), data, follow=True)

    assert messages_of(response) == [
        ("success", f'The order “<a href="{change_url(order)}">SO-1</a>” was changed successfully.')
    ]
    order.refresh_from_db()
    group = order.groups.get()
    assert (order.version, order.driver_notes, order.postal_code, group.postal_code) == (
        2,
        "Ring the bell twice",
        "B15 2TT",
        "B15 2TT",
    )
    assert outbox_types(order) == ["order.created", "order.updated"]
    assert order.status == Order.Status.READY


def test_a_stale_order_edit_is_refused_with_the_reason_and_changes_nothing(office_admin, make_order):
    order = make_order("SO-1")
    data = order_form_data(office_admin, order, driver_notes="Leave with the neighbour")
    services.update_order("SO-1", actor=Actor.system(), fields={"order_notes": "Changed elsewhere"})

    response = office_admin.post(change_url(order), data)

    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == [
        "Someone changed this order since you opened it (it is now at version 2). "
        "Reload the page and make your change again."
    ]
    assert "Someone changed this order since you opened it (it is now at version 2)." in response.text
    order.refresh_from_db()
    assert (order.version, order.order_notes, order.driver_notes) == (2, "Changed elsewhere", "")
    assert outbox_types(order) == ["order.created", "order.updated"]


# --- Actions ------------------------------------------------------------------------------------


def test_cancel_action_cancels_through_services_and_reports_orders_that_cannot_be_cancelled(
    office_admin, make_order, trunked_order
):
    under_way = make_order("SO-GO")
    services.plan_order("SO-GO", actor=Actor.system(), plan={"route_ref": "R1"})
    services.start_order("SO-GO", actor=Actor.system())
    under_way.refresh_from_db()
    versions = {"SO-GO": under_way.version, "SO-TRUNK": trunked_order.version}
    history_before = StatusChange.objects.order_by("id").last().pk

    response = run_action(office_admin, Order, "cancel_orders", trunked_order, under_way)

    assert messages_of(response) == [
        ("warning", "SO-GO: The order is in progress; it cannot become cancelled from there."),
        ("success", "Cancelled 1 order(s)."),
    ]
    trunked_order.refresh_from_db()
    under_way.refresh_from_db()
    assert (trunked_order.status, trunked_order.version) == (Order.Status.CANCELLED, versions["SO-TRUNK"] + 1)
    assert (under_way.status, under_way.version) == (Order.Status.IN_PROGRESS, versions["SO-GO"])
    assert list(trunked_order.movements.values_list("status", flat=True)) == [StockMovement.Status.CANCELLED]
    assert history_of(trunked_order, after=history_before) == [
        ("movement", "pending", "cancelled", "user", ADMIN_NAME),
        ("order", "awaiting_stock", "cancelled", "user", ADMIN_NAME),
    ]
    assert history_of(under_way, after=history_before) == []
    assert StatusChange.objects.get(order=trunked_order, subject="order", status="cancelled").note == (
        f"Cancelled in the admin by {ADMIN_NAME}."
    )
    assert outbox_types(trunked_order)[-3:] == [
        "order.status_changed",
        "order.cancelled",
        "stock_movement.status_changed",
    ]


def test_movement_actions_dispatch_and_receive_through_services_and_the_last_receipt_makes_the_order_ready(
    office_admin, make_order
):
    order = make_order("SO-2", lines=stock_from("MAN", "LDS"))
    from_man = order.movements.get(from_location__code="MAN")
    from_lds = order.movements.get(from_location__code="LDS")
    assert order.status == Order.Status.AWAITING_STOCK
    history_before = StatusChange.objects.order_by("id").last().pk
    events_before = len(outbox_types(order))

    refused = run_action(office_admin, StockMovement, "receive_movements", from_man)
    dispatched = run_action(office_admin, StockMovement, "dispatch_movements", from_man, from_lds)
    first = run_action(office_admin, StockMovement, "receive_movements", from_man)
    order.refresh_from_db()
    status_after_first = order.status
    last = run_action(office_admin, StockMovement, "receive_movements", from_lds)

    assert messages_of(refused) == [
        (
            "warning",
            f"{from_man.reference} has not been dispatched yet; it can only be received after dispatch.",
        )
    ]
    assert messages_of(dispatched) == [("success", "Dispatched 2 movement(s).")]
    assert messages_of(first) == [("success", "Received 1 movement(s).")]
    assert messages_of(last) == [("success", "Received 1 movement(s).")]
    assert status_after_first == Order.Status.AWAITING_STOCK
    order.refresh_from_db()
    assert order.status == Order.Status.READY
    assert list(order.movements.order_by("pk").values_list("status", "version")) == [
        ("received", 3),
        ("received", 3),
    ]
    user = ("user", ADMIN_NAME)
    assert history_of(order, after=history_before) == [
        ("movement", "pending", "dispatched", *user),
        ("movement", "pending", "dispatched", *user),
        ("movement", "dispatched", "received", *user),
        ("movement", "dispatched", "received", *user),
        ("order", "awaiting_stock", "ready", "system", "system"),
    ]
    assert outbox_types(order)[events_before:] == [
        *["stock_movement.status_changed"] * 3,
        "order.status_changed",
        "stock_movement.status_changed",
    ]


# --- Records and access -------------------------------------------------------------------------


@pytest.mark.parametrize("model", [StatusChange, OutboxEvent])
def test_history_and_outbox_rows_cannot_be_added_changed_or_deleted_in_the_admin(office_admin, make_order, model):
    order = make_order("SO-1")
    row = model.objects.filter(order=order).first()
    before = list(model.objects.values())

    add = office_admin.get(admin_url(model, "add"))
    delete = office_admin.post(admin_url(model, "delete", row.pk), {"post": "yes"})
    change = office_admin.post(change_url(row), {})
    view = office_admin.get(change_url(row))
    changelist = office_admin.get(admin_url(model, "changelist"))

    assert (add.status_code, delete.status_code, change.status_code) == (403, 403, 403)
    assert view.status_code == 200
    assert 'name="_save"' not in view.text
    assert changelist.context["action_form"] is None, "not even delete_selected is offered"
    assert list(model.objects.values()) == before


def test_a_user_who_is_not_staff_is_sent_to_the_admin_login(clerk, make_order):
    path = change_url(make_order("SO-1"))

    response = clerk.get(path)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('admin:login')}?next={path}"
