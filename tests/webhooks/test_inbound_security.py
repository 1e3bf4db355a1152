"""Forged, tampered, replayed and stale inbound requests change nothing (401, or `duplicate` for a replay)."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from standardwebhooks import Webhook

from orders.models import Order, OutboxEvent, StatusChange
from tests.conftest import reload
from webhooks.models import InboundEvent, InboundSource

from .inbound_helpers import Sender, make_source, payload, signed_headers

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(make_order):
    return make_order("SO-1")


def unchanged(order):
    order = reload(order)
    return (order.status, order.version, StatusChange.objects.count(), OutboxEvent.objects.count())


def assert_refused(response, order, before, detail):
    assert response.status_code == 401
    assert response.json() == {"detail": detail}
    assert unchanged(order) == before
    assert InboundEvent.objects.count() == 0


def test_a_request_signed_with_another_secret_is_401(order, planner):
    before = unchanged(order)
    raw = json.dumps(payload("order_planned"))
    _, other_secret = make_source("someone-else")
    response = planner.post_raw(raw, signed_headers(other_secret, raw))
    assert_refused(response, order, before, "No webhook-signature matches the body.")


def test_a_tampered_body_is_401(order, planner):
    before = unchanged(order)
    raw = json.dumps(payload("order_planned"))
    headers = signed_headers(planner.secret, raw)
    tampered = raw.replace("BHM-300305-R01", "BHM-300305-R66")
    assert_refused(planner.post_raw(tampered, headers), order, before, "No webhook-signature matches the body.")


def test_a_changed_webhook_id_or_timestamp_breaks_the_signature(order, planner):
    before = unchanged(order)
    raw = json.dumps(payload("order_planned"))
    headers = signed_headers(planner.secret, raw, webhook_id="msg_a")
    response = planner.post_raw(raw, {**headers, "webhook-id": "msg_b"})
    assert_refused(response, order, before, "No webhook-signature matches the body.")
    moved = str(int(headers["webhook-timestamp"]) - 1)
    response = planner.post_raw(raw, {**headers, "webhook-timestamp": moved})
    assert_refused(response, order, before, "No webhook-signature matches the body.")


def test_a_replayed_request_is_answered_duplicate_and_changes_nothing(order, planner):
    raw = json.dumps(payload("order_planned"))
    headers = signed_headers(planner.secret, raw)
    assert planner.post_raw(raw, headers).json()["result"] == "applied"
    before = unchanged(order)
    replay = planner.post_raw(raw, headers)
    assert replay.status_code == 200
    assert replay.json()["result"] == "duplicate"
    assert unchanged(order) == before
    assert InboundEvent.objects.get().duplicates == 1


@pytest.mark.parametrize(
    ("age", "detail"),
    [
        (timedelta(minutes=5, seconds=5), "The webhook-timestamp is more than 5 minutes old."),
        (timedelta(days=3), "The webhook-timestamp is more than 5 minutes old."),
        (-timedelta(minutes=5, seconds=5), "The webhook-timestamp is more than 5 minutes in the future."),
    ],
)
def test_a_stale_or_future_timestamp_is_401_even_when_correctly_signed(order, planner, age, detail):
    before = unchanged(order)
    raw = json.dumps(payload("order_planned"))
    response = planner.post_raw(raw, signed_headers(planner.secret, raw, at=datetime.now(UTC) - age))
    assert_refused(response, order, before, detail)


def test_a_timestamp_within_the_tolerance_is_accepted(order, planner):
    raw = json.dumps(payload("order_planned"))
    response = planner.post_raw(raw, signed_headers(planner.secret, raw, at=datetime.now(UTC) - timedelta(minutes=4)))
    assert response.json()["result"] == "applied"


MISSING = "The webhook-id, webhook-timestamp and webhook-signature headers are required."


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"webhook-id": ""}, MISSING),
        ({"webhook-timestamp": ""}, MISSING),
        ({"webhook-signature": ""}, MISSING),
        ({"webhook-id": "x" * 256}, "The webhook-id header must be 1 to 255 printable ASCII characters."),
        ({"webhook-id": "msg one"}, "The webhook-id header must be 1 to 255 printable ASCII characters."),
        ({"webhook-timestamp": "1.5e9"}, "The webhook-timestamp header must be whole seconds since the Unix epoch."),
        ({"webhook-signature": "v1,bm90IGEgc2lnbmF0dXJl"}, "No webhook-signature matches the body."),
        ({"webhook-signature": "garbage"}, "No webhook-signature matches the body."),
    ],
)
def test_missing_or_malformed_headers_are_401(order, planner, change, detail):
    before = unchanged(order)
    raw = json.dumps(payload("order_planned"))
    headers = {k: v for k, v in {**signed_headers(planner.secret, raw), **change}.items() if v}
    assert_refused(planner.post_raw(raw, headers), order, before, detail)


def test_one_matching_signature_among_several_is_enough(order, planner):
    raw = json.dumps(payload("order_planned"))
    headers = signed_headers(planner.secret, raw)
    _, old_secret = make_source("old")
    old = Webhook(old_secret).sign(
        headers["webhook-id"], datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC), raw
    )
    response = planner.post_raw(raw, {**headers, "webhook-signature": f"{old} {headers['webhook-signature']}"})
    assert response.json()["result"] == "applied"


# The same answer as a bad signature, so a caller cannot tell which source names exist.
UNKNOWN_SOURCE = "No webhook-signature matches the body."


def test_an_unknown_source_is_401(order, planner, client):
    before = unchanged(order)
    raw = json.dumps(payload("order_planned"))
    response = client.post(
        "/webhooks/inbound/nobody/",
        data=raw,
        content_type="application/json",
        headers=signed_headers(planner.secret, raw),
    )
    assert_refused(response, order, before, UNKNOWN_SOURCE)


def test_an_inactive_source_is_401(order, planner):
    InboundSource.objects.filter(pk=planner.source.pk).update(active=False)
    before = unchanged(order)
    assert_refused(planner.send("order_planned"), order, before, UNKNOWN_SOURCE)


def test_after_a_rotation_the_old_secret_no_longer_works(order, planner, capsys):
    call_command("create_inbound_source", "route-planner", "--rotate")
    new_secret = capsys.readouterr().out.strip().splitlines()[-1]
    before = unchanged(order)
    assert_refused(planner.send("order_planned"), order, before, "No webhook-signature matches the body.")

    rotated = Sender(InboundSource.objects.get(name="route-planner"), new_secret)
    assert rotated.send("order_planned").json()["result"] == "applied"
    assert Order.objects.get().status == "planned"
