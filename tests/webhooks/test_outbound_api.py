"""`/api/v1/webhook-subscriptions/` and `/api/v1/webhook-deliveries/`: shapes, scopes, ownership, bad input."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework import serializers

from orders.models import OutboxEvent
from tests.conftest import ApiCaller, make_client
from tests.webhooks.conftest import send_now, subscribe
from webhooks import delivery
from webhooks.models import Delivery, Subscription

SUBS = "/api/v1/webhook-subscriptions/"
DELIVERIES = "/api/v1/webhook-deliveries/"

pytestmark = pytest.mark.usefixtures("outbound")


@pytest.fixture
def api(hooks_client):
    return ApiCaller(hooks_client[1])


@pytest.fixture
def other_api(db):
    return ApiCaller(make_client("other-hooks", ["webhooks:manage"])[1])


def shown(subscription, **changes):
    body = {
        "id": subscription.pk,
        "url": subscription.url,
        "event_types": subscription.event_types,
        "description": subscription.description,
        "active": subscription.active,
        "disabled_reason": subscription.disabled_reason,
    }
    body.update(changes)
    return body


def test_creating_a_subscription_shows_its_secret_once(api, hooks_client, receiver):
    response = api.post(
        SUBS,
        {"url": receiver.url, "event_types": ["order.created", "order.created", "order.failed"], "description": "ERP"},
    )

    assert response.status_code == 201, response.content
    subscription = Subscription.objects.get()
    assert subscription.client == hooks_client[0]
    assert response.json() == shown(
        subscription, event_types=["order.created", "order.failed"], secret=subscription.secret
    )
    assert subscription.secret.startswith("whsec_")
    assert api.get(f"{SUBS}{subscription.pk}/").json() == shown(subscription)
    assert api.get(SUBS).json() == {"next": None, "previous": None, "results": [shown(subscription)]}


def test_the_subscription_list_takes_a_fixed_number_of_queries(api, hooks_client, receiver, django_assert_num_queries):
    subscribe(hooks_client[0], receiver.url)
    api.get(SUBS)  # records the key's first use, a write that happens once
    with django_assert_num_queries(2):  # the key, the page
        api.get(SUBS)
    for _ in range(5):
        subscribe(hooks_client[0], receiver.url)

    with django_assert_num_queries(2):
        response = api.get(SUBS)

    assert len(response.json()["results"]) == 6


def test_a_subscription_is_changed_and_deleted(api, hooks_client, receiver):
    subscription = subscribe(hooks_client[0], receiver.url, ["*"])

    patched = api.patch(f"{SUBS}{subscription.pk}/", {"event_types": ["order.cancelled"], "description": "shop"})
    replaced = api.put(f"{SUBS}{subscription.pk}/", {"url": receiver.url + "?v=2", "event_types": ["*"]})
    deleted = api.delete(f"{SUBS}{subscription.pk}/")

    assert patched.status_code == 200
    assert patched.json() == shown(subscription, event_types=["order.cancelled"], description="shop")
    assert replaced.json() == shown(subscription, url=receiver.url + "?v=2", description="shop")
    assert deleted.status_code == 204
    assert not Subscription.objects.exists()


def test_re_enabling_a_disabled_subscription_clears_the_reason(api, hooks_client, receiver):
    subscription = subscribe(hooks_client[0], receiver.url, active=False, disabled_reason="Gone")

    response = api.patch(f"{SUBS}{subscription.pk}/", {"active": True})

    assert response.json() == shown(subscription, active=True, disabled_reason="")
    subscription.refresh_from_db()
    assert (subscription.active, subscription.disabled_reason) == (True, "")


def test_rotating_the_secret_shows_the_new_one_and_keeps_the_old_for_24_hours(api, hooks_client, receiver):
    subscription = subscribe(hooks_client[0], receiver.url)
    old = subscription.secret

    response = api.post(f"{SUBS}{subscription.pk}/rotate-secret/")

    assert response.status_code == 200
    subscription.refresh_from_db()
    assert response.json() == shown(subscription, secret=subscription.secret)
    assert subscription.secret != old and subscription.previous_secret == old
    left = subscription.previous_secret_expires_at - timezone.now()
    assert timedelta(hours=23, minutes=59) < left <= timedelta(hours=24)
    assert subscription.signing_secrets() == [subscription.secret, old]


@pytest.mark.parametrize(
    "body, errors",
    [
        ({"event_types": ["*"]}, {"url": ["This field is required."]}),
        ({"url": "ftp://x.example/", "event_types": ["*"]}, {"url": ["The URL must start with http:// or https://."]}),
        ({"url": "http://127.0.0.1:8300/", "event_types": []}, {"event_types": ["This list may not be empty."]}),
        (
            {"url": "http://127.0.0.1:8300/", "event_types": ["order.exploded"]},
            {"event_types.0": ['"order.exploded" is not a valid choice.']},
        ),
        (
            {"url": "http://127.0.0.1:8300/", "event_types": "*"},
            {"event_types": ['Expected a list of items but got type "str".']},
        ),
        (
            {"url": 5, "event_types": ["*"], "active": "maybe"},
            {"url": ["The URL must start with http:// or https://."], "active": ["Must be a valid boolean."]},
        ),
        (
            {"url": "http://127.0.0.1:8300/", "event_types": ["*"], "description": "x" * 201},
            {"description": ["Ensure this field has no more than 200 characters."]},
        ),
    ],
)
def test_bad_subscriptions_are_refused_and_change_nothing(api, body, errors):
    response = api.post(SUBS, body)

    assert response.status_code == 400
    assert response.json() == {"errors": errors}
    assert not Subscription.objects.exists()


def test_an_oversized_or_non_json_body_is_refused(api, receiver):
    huge = json.dumps({"url": receiver.url, "event_types": ["*"], "description": "x" * (6 * 1024 * 1024)})

    too_big = api.post(SUBS, raw=huge)
    not_json = api.client.post(SUBS, data="url=x", content_type="application/x-www-form-urlencoded")

    assert too_big.status_code == 413
    assert not_json.status_code == 415
    assert not Subscription.objects.exists()


def test_broken_json_is_a_400(api):
    response = api.post(SUBS, raw="{not json")
    assert response.status_code == 400
    assert list(response.json()) == ["errors"]


@pytest.mark.parametrize("path", [SUBS, DELIVERIES])
@pytest.mark.parametrize("cursor", ["not-base64!", "cD1hYmM=", "bz0xJnA9YWJj"])  # garbage, p=abc, o=1&p=abc
def test_a_forged_cursor_is_a_400_like_on_every_other_list(api, path, cursor):
    response = api.get(path, {"cursor": cursor})
    assert response.status_code == 400
    assert response.json() == {
        "errors": {"cursor": ["The cursor is not valid: use `next` or `previous` of the last page as given."]}
    }


def test_another_clients_subscriptions_and_deliveries_are_404(api, other_api, hooks_client, receiver, make_order):
    subscription = subscribe(hooks_client[0], receiver.url)
    make_order("SO-MINE")
    [delivery_id] = delivery.fan_out(OutboxEvent.objects.values_list("id", flat=True))

    assert other_api.get(SUBS).json()["results"] == []
    assert other_api.get(DELIVERIES).json()["results"] == []
    for method, path in [
        ("get", f"{SUBS}{subscription.pk}/"),
        ("patch", f"{SUBS}{subscription.pk}/"),
        ("delete", f"{SUBS}{subscription.pk}/"),
        ("post", f"{SUBS}{subscription.pk}/rotate-secret/"),
        ("post", f"{SUBS}{subscription.pk}/redeliver-failed/"),
        ("get", f"{DELIVERIES}{delivery_id}/"),
        ("post", f"{DELIVERIES}{delivery_id}/redeliver/"),
    ]:
        response = getattr(other_api, method)(path)
        assert response.status_code == 404, (method, path)
        kind = "subscription" if path.startswith(SUBS) else "delivery"
        assert response.json() == {"detail": f"No such webhook {kind}."}
    subscription.refresh_from_db()
    assert subscription.active and Delivery.objects.get(pk=delivery_id).state == "pending"


def test_the_webhooks_manage_scope_is_needed(alice_api, anon_api):
    assert alice_api.get(SUBS).status_code == 403
    assert alice_api.post(SUBS, {"url": "http://127.0.0.1:8300/", "event_types": ["*"]}).status_code == 403
    assert alice_api.get(DELIVERIES).status_code == 403
    assert anon_api.get(SUBS).status_code == 401
    assert anon_api.get(DELIVERIES).status_code == 401
    assert not Subscription.objects.exists()


@pytest.fixture
def deliveries(hooks_client, receiver, make_order):
    """Two subscriptions; three orders → deliveries of order.created, one of them failed."""
    everything = subscribe(hooks_client[0], receiver.url, ["*"])
    created = subscribe(hooks_client[0], receiver.url, ["order.created"])
    for number in range(3):
        make_order(f"SO-D{number}")
    ids = delivery.fan_out(OutboxEvent.objects.values_list("id", flat=True))
    receiver.answers = [(500, {}, b"no")]
    first = send_now(Delivery.objects.filter(pk__in=ids).order_by("id").first())
    return {"everything": everything, "created": created, "failing": first, "ids": ids}


def delivery_body(row):
    return {
        "id": row.pk,
        "subscription": row.subscription_id,
        "event_type": row.event_type,
        "webhook_id": row.webhook_id,
        "state": row.state,
        "attempts": [
            {
                "at": serializers.DateTimeField().to_representation(a.at),
                "response_status": a.response_status,
                "duration_ms": a.duration_ms,
                "error": a.error,
            }
            for a in row.attempts.all()
        ],
    }


def test_deliveries_are_listed_newest_first_with_their_attempts_in_a_fixed_number_of_queries(
    api, deliveries, make_order, django_assert_num_queries
):
    api.get(DELIVERIES)  # records the key's first use, a write that happens once
    with django_assert_num_queries(3):  # the key, the page, the attempts
        api.get(DELIVERIES)
    for number in range(3, 8):
        make_order(f"SO-D{number}")
    delivery.fan_out(OutboxEvent.objects.values_list("id", flat=True))

    with django_assert_num_queries(3):
        response = api.get(DELIVERIES)

    rows = Delivery.objects.order_by("-id")
    assert response.status_code == 200
    assert response.json() == {"next": None, "previous": None, "results": [delivery_body(r) for r in rows]}
    failing = next(r for r in response.json()["results"] if r["id"] == deliveries["failing"].pk)
    assert failing["attempts"][0]["response_status"] == 500
    assert failing["attempts"][0]["error"] == "The receiver answered 500."


def test_deliveries_are_filtered_by_subscription_event_type_and_state(api, deliveries):
    def ids(params):
        response = api.get(DELIVERIES, params)
        assert response.status_code == 200, response.content
        return sorted(r["id"] for r in response.json()["results"])

    created = deliveries["created"]
    assert ids({"subscription": created.pk}) == sorted(created.deliveries.values_list("id", flat=True))
    assert ids({"event_type": "order.created"}) == sorted(deliveries["ids"])
    assert ids({"event": "order.cancelled"}) == []
    assert ids({"state": "pending", "subscription": deliveries["failing"].subscription_id}) == sorted(
        Delivery.objects.filter(subscription_id=deliveries["failing"].subscription_id).values_list("id", flat=True)
    )
    assert ids({"state": "succeeded"}) == []


@pytest.mark.parametrize(
    "params, field",
    [
        ({"state": "lost"}, "state"),
        ({"subscription": "abc"}, "subscription"),
        ({"event_type": "order.x"}, "event_type"),
    ],
)
def test_bad_delivery_filters_are_a_400(api, params, field):
    response = api.get(DELIVERIES, params)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]


def test_a_delivery_is_sent_again_by_hand_with_the_same_webhook_id(api, deliveries, receiver, settings):
    settings.WEBHOOK_RETRY_SCHEDULE = []
    failing = deliveries["failing"]
    Delivery.objects.filter(pk=failing.pk).update(state="failed", next_attempt_at=None, completed_at=timezone.now())

    response = api.post(f"{DELIVERIES}{failing.pk}/redeliver/")

    assert response.status_code == 202
    failing.refresh_from_db()
    assert response.json() == delivery_body(failing)
    assert (failing.state, failing.attempt_count, failing.completed_at) == ("pending", 0, None)
    send_now(failing)
    assert failing.state == "succeeded"
    assert receiver.requests[-1]["headers"]["webhook-id"] == receiver.requests[0]["headers"]["webhook-id"]


def test_every_failed_delivery_of_a_subscription_since_a_time_is_sent_again(api, hooks_client, deliveries):
    subscription = deliveries["everything"]
    old, recent, other = subscription.deliveries.order_by("id")[:3]
    now = timezone.now()
    Delivery.objects.filter(pk=old.pk).update(state="failed", completed_at=now - timedelta(days=2))
    Delivery.objects.filter(pk__in=[recent.pk, other.pk]).update(state="failed", completed_at=now - timedelta(hours=1))
    Delivery.objects.filter(pk=other.pk).update(state="succeeded")

    response = api.post(f"{SUBS}{subscription.pk}/redeliver-failed/", {"since": (now - timedelta(days=1)).isoformat()})

    assert response.status_code == 202
    assert response.json() == {"redelivered": 1}
    states = dict(subscription.deliveries.values_list("id", "state"))
    assert (states[old.pk], states[recent.pk], states[other.pk]) == ("failed", "pending", "succeeded")


def test_redelivery_needs_an_active_subscription_and_a_valid_time(api, deliveries):
    subscription = deliveries["everything"]
    bad_time = api.post(f"{SUBS}{subscription.pk}/redeliver-failed/", {"since": "yesterday"})
    assert bad_time.status_code == 400
    assert bad_time.json()["errors"]["since"][0].startswith("Datetime has wrong format.")
    Subscription.objects.filter(pk=subscription.pk).update(active=False)
    some = subscription.deliveries.first()

    refused = api.post(f"{DELIVERIES}{some.pk}/redeliver/")
    refused_all = api.post(f"{SUBS}{subscription.pk}/redeliver-failed/", {"since": timezone.now().isoformat()})

    assert refused.status_code == refused_all.status_code == 409
    assert refused.json() == {"detail": "The subscription is disabled; enable it first (PATCH active: true)."}


def test_the_schema_lists_the_webhook_operations(client):
    paths = client.get("/api/schema/", {"format": "json"}).json()["paths"]
    assert {
        "/api/v1/webhook-subscriptions/",
        "/api/v1/webhook-subscriptions/{id}/",
        "/api/v1/webhook-subscriptions/{id}/rotate-secret/",
        "/api/v1/webhook-subscriptions/{id}/redeliver-failed/",
        "/api/v1/webhook-deliveries/",
        "/api/v1/webhook-deliveries/{id}/",
        "/api/v1/webhook-deliveries/{id}/redeliver/",
    } <= set(paths)
