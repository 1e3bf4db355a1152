"""Webhook subscriptions in the office settings: list, create (SSRF guard, secret once), edit, rotate,
re-enable, the delivery log with its attempts, and sending again through the real delivery services."""

from datetime import timedelta

import pytest
from django.utils import timezone

from webhooks import delivery
from webhooks.models import Delivery, Subscription

from .conftest import send_now
from .office_helpers import create_order, fan_out_and_send, text


def make_subscription(url="https://hooks.example.com/in", **fields):
    return Subscription.objects.create(url=url, event_types=fields.pop("event_types", ["*"]), **fields)


# --- List ----------------------------------------------------------------------------------------


def test_the_list_shows_every_subscription_with_its_state_and_reason(admin, hooks_client):
    make_subscription(description="ERP", client=hooks_client[0])
    make_subscription(
        url="https://old.example.com/x",
        event_types=["order.created", "order.completed"],
        active=False,
        disabled_reason="Delivery 7 failed after 9 attempts (HTTP 500).",
    )
    response = admin.get("/settings/webhooks/")
    assert response.status_code == 200
    page = text(response)
    assert "Webhook subscriptions" in page
    assert "https://hooks.example.com/in ERP All events API client hooks-erp Active" in page
    assert (
        "https://old.example.com/x — order.created, order.completed The office Disabled "
        "Delivery 7 failed after 9 attempts (HTTP 500)." in page
    )
    assert "whsec_" not in response.content.decode()
    # The settings navigation links the sections.
    assert 'href="/settings/inbound/"' in response.content.decode()
    assert 'href="/settings/"' in response.content.decode()


@pytest.mark.parametrize("count", [1, 12])
def test_the_list_costs_the_same_queries_however_many_subscriptions(
    admin, hooks_client, django_assert_num_queries, count
):
    for n in range(count):
        make_subscription(url=f"https://h{n}.example.com/", client=hooks_client[0] if n % 2 else None)
    # user, subscriptions with their clients (the session comes from the cache)
    with django_assert_num_queries(2):
        response = admin.get("/settings/webhooks/")
    assert text(response).count("Delivery log of") == count


def test_the_settings_page_links_to_the_webhook_sections(admin):
    html = admin.get("/settings/").content.decode()
    assert '<a href="/settings/webhooks/">Webhook subscriptions</a>' in html
    assert '<a href="/settings/inbound/">Inbound sources</a>' in html


# --- Create --------------------------------------------------------------------------------------


def test_a_new_subscription_shows_its_secret_once(admin, outbound):
    response = admin.post(
        "/settings/webhooks/new/",
        {
            "url": " http://127.0.0.1:8450/in ",
            "event_types": ["order.created", "order.completed"],
            "description": "Dock",
        },
    )
    assert response.status_code == 200
    subscription = Subscription.objects.get()
    assert subscription.url == "http://127.0.0.1:8450/in"
    assert subscription.event_types == ["order.created", "order.completed"]
    assert subscription.active and subscription.client is None
    assert subscription.secret.startswith("whsec_")
    page = text(response)
    assert "The signing secret of http://127.0.0.1:8450/in — copy it now. It is shown only this once" in page
    assert f'value="{subscription.secret}"' in response.content.decode()
    # Never again: not on the list, the log, or the edit page.
    for url in (
        "/settings/webhooks/",
        f"/settings/webhooks/{subscription.pk}/",
        f"/settings/webhooks/{subscription.pk}/edit/",
    ):
        assert subscription.secret not in admin.get(url).content.decode()


@pytest.mark.parametrize(
    ("url", "words"),
    [
        (
            "http://127.0.0.1/in",
            "This URL cannot receive webhooks. The host 127.0.0.1 resolves to a forbidden address: "
            "127.0.0.1 is a loopback address.",
        ),
        ("http://10.1.2.3/in", "10.1.2.3 is a private address."),
        ("http://[::ffff:169.254.169.254]/", "169.254.169.254 is a link-local address."),
        ("ftp://example.com/in", "The URL must start with http:// or https://."),
        ("https://user:pw@example.com/", "The URL must not contain a user name or password."),
    ],
)
def test_an_unsafe_url_is_refused_in_words_beside_the_field(admin, settings, url, words):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    response = admin.post("/settings/webhooks/new/", {"url": url, "event_types": ["*"], "description": "x"})
    assert response.status_code == 422
    html = response.content.decode()
    assert words in text(response)
    assert 'id="id_url_error"' in html
    assert f'value="{url}"' in html  # what was typed is kept
    assert not Subscription.objects.exists()
    assert "whsec_" not in html


def test_a_subscription_needs_an_event_type(admin, outbound):
    response = admin.post("/settings/webhooks/new/", {"url": "http://127.0.0.1:8450/", "description": "x"})
    assert response.status_code == 422
    assert "Choose at least one event type (or all events)." in text(response)
    assert not Subscription.objects.exists()


def test_create_needs_the_csrf_token(db, outbound):
    from django.contrib.auth.models import User
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.create_user("root", is_staff=True))
    response = client.post("/settings/webhooks/new/", {"url": "http://127.0.0.1:8450/", "event_types": ["*"]})
    assert response.status_code == 403
    assert not Subscription.objects.exists()


# --- Edit, disable, enable, rotate ------------------------------------------------------------------


def test_edit_changes_event_types_and_description(admin):
    subscription = make_subscription(description="Old")
    response = admin.get(f"/settings/webhooks/{subscription.pk}/edit/")
    assert response.status_code == 200
    assert '<label for="id_description">' in response.content.decode()
    assert 'name="url"' not in response.content.decode()  # the URL is not edited; make a new subscription
    response = admin.post(
        f"/settings/webhooks/{subscription.pk}/edit/",
        {"description": "New", "event_types": ["order.failed"], "active": "on"},
    )
    assert response.status_code == 302
    assert response["Location"] == f"/settings/webhooks/{subscription.pk}/"
    subscription.refresh_from_db()
    assert (subscription.description, subscription.event_types, subscription.active) == ("New", ["order.failed"], True)
    assert "Subscription saved." in text(admin.get(response["Location"]))


def test_unticking_active_disables_with_a_reason_and_ticking_it_enables(admin):
    subscription = make_subscription()
    admin.post(f"/settings/webhooks/{subscription.pk}/edit/", {"description": "", "event_types": ["*"]})
    subscription.refresh_from_db()
    assert not subscription.active
    assert subscription.disabled_reason == "Disabled by adam in the settings."
    admin.post(f"/settings/webhooks/{subscription.pk}/edit/", {"event_types": ["*"], "active": "on"})
    subscription.refresh_from_db()
    assert subscription.active and subscription.disabled_reason == ""


def test_a_bad_edit_is_answered_beside_the_field_and_changes_nothing(admin):
    subscription = make_subscription(description="Keep")
    response = admin.post(f"/settings/webhooks/{subscription.pk}/edit/", {"description": "x" * 201, "active": "on"})
    assert response.status_code == 422
    page = text(response)
    assert "Ensure this value has at most 200 characters (it has 201)." in page
    assert "Choose at least one event type (or all events)." in page
    subscription.refresh_from_db()
    assert subscription.description == "Keep"


def test_a_disabled_subscription_shows_why_and_can_be_enabled_again(admin):
    subscription = make_subscription(active=False, disabled_reason="The receiver answered 410 Gone.")
    page = text(admin.get(f"/settings/webhooks/{subscription.pk}/"))
    assert "State Disabled Why it is disabled The receiver answered 410 Gone." in page
    assert "Enable it again" in page
    response = admin.post(f"/settings/webhooks/{subscription.pk}/enable/")
    assert response.status_code == 302
    subscription.refresh_from_db()
    assert subscription.active and subscription.disabled_reason == ""
    page = text(admin.get(response["Location"]))
    assert "Subscription enabled: its pending deliveries go out as they fall due." in page
    assert "Why it is disabled" not in page


def test_rotation_shows_the_new_secret_once_and_keeps_the_old_one_signing(admin):
    subscription = make_subscription()
    old = subscription.secret
    response = admin.post(f"/settings/webhooks/{subscription.pk}/rotate/")
    assert response.status_code == 200
    subscription.refresh_from_db()
    assert subscription.secret != old and subscription.secret.startswith("whsec_")
    assert subscription.signing_secrets() == [subscription.secret, old]
    assert f'value="{subscription.secret}"' in response.content.decode()
    page = text(response)
    assert "The new signing secret — copy it now." in page
    assert "For 24 hours each request carries two signatures" in page
    again = admin.get(f"/settings/webhooks/{subscription.pk}/").content.decode()
    assert subscription.secret not in again and old not in again
    assert "Previous secret" in again


# --- The delivery log ----------------------------------------------------------------------------


def test_the_log_shows_each_delivery_with_its_attempts(admin, outbound, receiver, depots):
    subscription = make_subscription(url=receiver.url, event_types=["order.created"])
    receiver.answers = [(500, {}, b"database down " + b"x" * 2000)]
    create_order("SO-LOG")
    [sent] = fan_out_and_send()
    receiver.default = (200, {}, b"thank you")
    send_now(sent)
    assert sent.state == Delivery.State.SUCCEEDED

    response = admin.get(f"/settings/webhooks/{subscription.pk}/")
    assert response.status_code == 200
    page = text(response)
    assert "1 delivery, newest first" in page
    assert f"order.created {sent.webhook_id}" in page
    assert "SO-LOG Succeeded" in page
    assert "HTTP 500 ·" in page and " ms" in page
    assert "database down xxx" in page
    assert "x" * 1030 not in page  # the first 1 KB of the body only
    assert "HTTP 200 ·" in page and "thank you" in page
    assert 'href="/orders/SO-LOG/"' in response.content.decode()


@pytest.mark.parametrize("count", [1, 25])
def test_the_log_costs_the_same_queries_whatever_its_size(admin, depots, django_assert_num_queries, count):
    subscription = make_subscription(url="https://hooks.example.com/")
    for n in range(count):
        create_order(f"SO-{n}")
    delivery.fan_out(delivery.events_not_fanned_out())
    assert Delivery.objects.count() == count
    # user, subscription, count, deliveries with events and orders, attempts (session: the cache)
    with django_assert_num_queries(5):
        response = admin.get(f"/settings/webhooks/{subscription.pk}/")
    assert text(response).count("Not tried yet.") == min(count, 20)


def test_the_log_is_paginated(admin, depots):
    subscription = make_subscription()
    for n in range(23):
        create_order(f"SO-{n:02}")
    delivery.fan_out(delivery.events_not_fanned_out())
    first = text(admin.get(f"/settings/webhooks/{subscription.pk}/"))
    assert "23 deliveries, newest first" in first and "Page 1 of 2" in first
    assert "SO-22" in first and "SO-02" not in first
    second = text(admin.get(f"/settings/webhooks/{subscription.pk}/?page=2"))
    assert "Page 2 of 2" in second and "SO-02" in second and "SO-00" in second and "SO-22" not in second
    assert admin.get(f"/settings/webhooks/{subscription.pk}/?page=nonsense").status_code == 200


def test_unknown_subscriptions_and_deliveries_are_404(admin):
    assert admin.get("/settings/webhooks/999/").status_code == 404
    assert admin.post("/settings/webhooks/999/rotate/").status_code == 404
    assert admin.post("/settings/webhooks/deliveries/999/redeliver/").status_code == 404


# --- Sending again --------------------------------------------------------------------------------


@pytest.fixture
def failed(outbound, receiver, depots):
    """A subscription whose one delivery failed for good (the receiver answered 500 to every try)."""
    outbound.WEBHOOK_RETRY_SCHEDULE = []
    subscription = make_subscription(url=receiver.url)
    receiver.default = (500, {}, b"no")
    create_order("SO-F")
    [gone] = fan_out_and_send()
    assert gone.state == Delivery.State.FAILED
    subscription.refresh_from_db()
    if not subscription.active:  # the disable rule may have stopped it; the office turns it back on
        delivery.enable(subscription)
    return subscription, gone


def test_redeliver_one_queues_it_again_with_the_same_webhook_id(admin, failed, receiver):
    subscription, gone = failed
    response = admin.post(f"/settings/webhooks/deliveries/{gone.pk}/redeliver/")
    assert response.status_code == 302
    gone.refresh_from_db()
    assert (gone.state, gone.attempt_count, gone.completed_at) == (Delivery.State.PENDING, 0, None)
    assert gone.next_attempt_at <= timezone.now()
    assert f"Delivery {gone.pk} (order.created) queued again with the same webhook-id." in text(
        admin.get(response["Location"])
    )
    receiver.default = (200, {}, b"ok")
    send_now(gone)
    assert gone.state == Delivery.State.SUCCEEDED
    assert {r["headers"]["webhook-id"] for r in receiver.requests} == {gone.webhook_id}


def test_redeliver_failed_since_queues_the_ones_that_failed_after_that_time(admin, failed):
    subscription, gone = failed
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Delivery.objects.filter(pk=gone.pk).update(completed_at=an_hour_ago)
    after = timezone.localtime(an_hour_ago + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M")
    response = admin.post(f"/settings/webhooks/{subscription.pk}/redeliver-failed/", {"since": after})
    assert response.status_code == 302
    assert "Queued 0 failed deliveries since" in text(admin.get(response["Location"]))
    gone.refresh_from_db()
    assert gone.state == Delivery.State.FAILED

    before = timezone.localtime(an_hour_ago - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")
    response = admin.post(f"/settings/webhooks/{subscription.pk}/redeliver-failed/", {"since": before})
    assert response.status_code == 302
    gone.refresh_from_db()
    assert (gone.state, gone.attempt_count, gone.completed_at) == (Delivery.State.PENDING, 0, None)
    assert "Queued 1 failed delivery since" in text(admin.get(response["Location"]))


def test_a_time_to_come_is_refused(admin, failed):
    subscription, gone = failed
    tomorrow = timezone.localtime(timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = admin.post(f"/settings/webhooks/{subscription.pk}/redeliver-failed/", {"since": tomorrow})
    assert response.status_code == 422
    assert "That time is in the future; no delivery has failed since then." in text(response)
    gone.refresh_from_db()
    assert gone.state == Delivery.State.FAILED


@pytest.mark.parametrize(
    ("since", "words"), [("", "Give a date and time."), ("yesterday", "Give a date and time such as")]
)
def test_a_bad_since_is_answered_beside_the_field(admin, failed, since, words):
    subscription, gone = failed
    response = admin.post(f"/settings/webhooks/{subscription.pk}/redeliver-failed/", {"since": since})
    assert response.status_code == 422
    assert words in text(response)
    assert 'id="id_since_error"' in response.content.decode()
    gone.refresh_from_db()
    assert gone.state == Delivery.State.FAILED


def test_nothing_is_sent_again_while_the_subscription_is_disabled(admin, failed):
    subscription, gone = failed
    delivery.disable(subscription, "The receiver answered 410 Gone.")
    response = admin.post(f"/settings/webhooks/deliveries/{gone.pk}/redeliver/")
    assert "The subscription is disabled: enable it first, then send again." in text(admin.get(response["Location"]))
    since = timezone.localtime(gone.completed_at - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    response = admin.post(f"/settings/webhooks/{subscription.pk}/redeliver-failed/", {"since": since})
    assert response.status_code == 409
    assert "The subscription is disabled: enable it first, then send again." in text(response)
    gone.refresh_from_db()
    assert gone.state == Delivery.State.FAILED
