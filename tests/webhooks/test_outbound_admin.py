"""Outbound webhooks in the Django admin: subscriptions (with the SSRF guard), deliveries and their attempts."""

import pytest
from django.test import Client
from django.utils import timezone

from orders.models import OutboxEvent
from tests.webhooks.conftest import send_now, subscribe
from webhooks import delivery
from webhooks.models import Delivery, Subscription


@pytest.fixture
def office(django_user_model):
    user = django_user_model.objects.create_superuser("office-admin", "office@example.com", None)
    client = Client()
    client.force_login(user)
    return client


def test_the_office_adds_a_subscription_and_its_url_is_checked(office, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False

    refused = office.post(
        "/admin/webhooks/subscription/add/",
        {"url": "http://127.0.0.1:8300/hook", "event_types": ["*"], "description": "", "active": "on"},
    )
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    added = office.post(
        "/admin/webhooks/subscription/add/",
        {"url": "http://127.0.0.1:8300/hook", "event_types": ["order.created", "order.failed"], "active": "on"},
    )

    assert refused.status_code == 200
    assert "resolves to a forbidden address: 127.0.0.1 is a loopback address" in refused.content.decode()
    assert added.status_code == 302
    subscription = Subscription.objects.get()
    assert (subscription.client, subscription.event_types) == (None, ["order.created", "order.failed"])
    assert subscription.secret.startswith("whsec_")
    page = office.get(f"/admin/webhooks/subscription/{subscription.pk}/change/").content.decode()
    assert subscription.secret in page  # the office hands it to the receiver's owner


def test_admin_actions_rotate_enable_and_send_again(office, outbound, hooks_client, receiver, make_order):
    subscription = subscribe(hooks_client[0], receiver.url)
    make_order("SO-ADM")
    [delivery_id] = delivery.fan_out(OutboxEvent.objects.values_list("id", flat=True))
    receiver.answers = [(410, {}, b"")]
    send_now(Delivery.objects.get(pk=delivery_id))
    old_secret = subscription.secret
    changelist = "/admin/webhooks/subscription/"

    office.post(changelist, {"action": "rotate_secret", "_selected_action": [subscription.pk]})
    office.post(changelist, {"action": "enable", "_selected_action": [subscription.pk]})
    office.post(changelist, {"action": "redeliver_failed_last_day", "_selected_action": [subscription.pk]})

    subscription.refresh_from_db()
    assert subscription.previous_secret == old_secret and subscription.secret != old_secret
    assert (subscription.active, subscription.disabled_reason) == (True, "")
    requeued = Delivery.objects.get(pk=delivery_id)
    assert (requeued.state, requeued.attempt_count, requeued.completed_at) == ("pending", 0, None)
    Delivery.objects.filter(pk=delivery_id).update(state="failed", completed_at=timezone.now())
    office.post("/admin/webhooks/delivery/", {"action": "redeliver", "_selected_action": [delivery_id]})
    assert Delivery.objects.get(pk=delivery_id).state == "pending"


def test_the_delivery_pages_show_every_attempt(office, outbound, hooks_client, receiver, make_order):
    subscribe(hooks_client[0], receiver.url)
    make_order("SO-ADM-2")
    [delivery_id] = delivery.fan_out(OutboxEvent.objects.values_list("id", flat=True))
    receiver.answers = [(500, {}, b"database on fire")]
    send_now(Delivery.objects.get(pk=delivery_id))

    listing = office.get("/admin/webhooks/delivery/", {"state": "pending"})
    detail = office.get(f"/admin/webhooks/delivery/{delivery_id}/change/")

    assert listing.status_code == detail.status_code == 200
    assert "order.created" in listing.content.decode()
    page = detail.content.decode()
    assert "database on fire" in page and "The receiver answered 500." in page


def test_the_changelists_take_as_many_queries_for_fifteen_rows_as_for_five(
    office, outbound, hooks_client, receiver, make_order
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def add(numbers):
        subscribe(hooks_client[0], receiver.url)
        for number in numbers:
            make_order(f"SO-CL-{number}")
        for delivery_id in delivery.fan_out(OutboxEvent.objects.values_list("id", flat=True)):
            send_now(Delivery.objects.get(pk=delivery_id))

    def counts():
        result = {}
        for path in ("/admin/webhooks/subscription/", "/admin/webhooks/delivery/"):
            office.get(path)
            with CaptureQueriesContext(connection) as queries:
                response = office.get(path)
            result[path] = (response.context["cl"].result_count, len(queries))
        return result

    add(range(5))
    five = counts()
    add(range(5, 10))
    fifteen = counts()

    assert [rows for rows, _ in five.values()] == [1, 5]
    assert [rows for rows, _ in fifteen.values()] == [2, 15]
    assert {path: n for path, (_, n) in fifteen.items()} == {path: n for path, (_, n) in five.items()}
