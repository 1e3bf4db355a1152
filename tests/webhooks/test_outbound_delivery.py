"""Fan-out and the wire, against a real HTTP receiver on loopback and real PostgreSQL."""

import json
import socket
import threading
import time
from datetime import timedelta

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone
from standardwebhooks import Webhook

from orders.models import OutboxEvent
from tests.webhooks.conftest import send_now, subscribe
from webhooks import delivery, tasks
from webhooks.models import Delivery, DeliveryAttempt, FanOut, Subscription

pytestmark = pytest.mark.usefixtures("outbound")


@pytest.fixture
def subscription(hooks_client, receiver):
    """A subscription to every event type, made before the order below."""
    return subscribe(hooks_client[0], receiver.url)


@pytest.fixture
def order_events(subscription, make_order):
    """One order created through the services: its outbox events (order.created)."""
    order = make_order("SO-HOOK-1")
    return list(OutboxEvent.objects.filter(order=order).order_by("id"))


def fan_out_all():
    return delivery.fan_out(OutboxEvent.objects.values_list("id", flat=True))


def test_each_event_is_fanned_out_once_to_every_active_subscription_that_wants_it(hooks_client, receiver, make_order):
    client, _key = hooks_client
    everything = subscribe(client, receiver.url, ["*"])
    created_only = subscribe(client, receiver.url, ["order.created"])
    subscribe(client, receiver.url, ["order.cancelled"])
    subscribe(client, receiver.url, ["*"], active=False)
    order = make_order("SO-FAN-1")
    event = OutboxEvent.objects.get(order=order)
    later = subscribe(client, receiver.url, ["*"])  # made after the event: gets nothing from the past

    first = delivery.fan_out([event.pk])
    again = delivery.fan_out([event.pk])

    assert again == []
    rows = Delivery.objects.filter(pk__in=first)
    assert sorted(rows.values_list("subscription_id", flat=True)) == sorted([everything.pk, created_only.pk])
    assert set(rows.values_list("event_type", "state", "attempt_count")) == {("order.created", "pending", 0)}
    assert not Delivery.objects.filter(subscription=later).exists()
    assert FanOut.objects.filter(event=event).count() == 1
    ids = list(rows.values_list("webhook_id", flat=True))
    assert len(set(ids)) == 2 and all(i.startswith("msg_") and len(i) == 36 for i in ids)


def test_a_delivery_is_signed_per_standard_webhooks_with_the_outbox_body(
    hooks_client, receiver, subscription, order_events
):
    [delivery_id] = fan_out_all()

    tasks.deliver.apply(args=(delivery_id,))

    [request] = receiver.requests
    payload = Webhook(subscription.secret).verify(request["body"], request["headers"])
    assert payload == order_events[0].payload
    assert payload["type"] == "order.created" and payload["data"]["order_no"] == "SO-HOOK-1"
    assert payload["data"]["version"] >= 1
    assert request["path"] == "/hooks/in"
    assert request["headers"]["content-type"] == "application/json"
    sent = Delivery.objects.get(pk=delivery_id)
    assert request["headers"]["webhook-id"] == sent.webhook_id
    assert sent.state == "succeeded" and sent.next_attempt_at is None and sent.completed_at is not None
    [attempt] = sent.attempts.all()
    assert (attempt.response_status, attempt.response_body, attempt.error) == (200, "thanks", "")
    assert 0 <= attempt.duration_ms < 1000


def test_failures_are_retried_on_the_schedule_with_the_same_webhook_id(hooks_client, receiver, order_events):
    receiver.answers = [(500, {}, b"oops " * 400), (502, {}, b"")]
    [delivery_id] = fan_out_all()
    pending = Delivery.objects.get(pk=delivery_id)

    before = timezone.now()
    first = send_now(pending)
    assert first.state == "pending" and first.attempt_count == 1
    # Schedule [1, 2, 3] in tests, plus up to 10 % jitter.
    assert before + timedelta(seconds=1) <= first.next_attempt_at <= timezone.now() + timedelta(seconds=1.1)
    delivery.attempt(delivery_id)  # not due yet: nothing is sent
    assert len(receiver.requests) == 1

    send_now(pending)
    done = send_now(pending)

    assert done.state == "succeeded" and done.attempt_count == 3
    assert {r["headers"]["webhook-id"] for r in receiver.requests} == {pending.webhook_id}
    attempts = list(done.attempts.values_list("response_status", "response_body", "error"))
    assert attempts == [
        (500, ("oops " * 400)[:1024], "The receiver answered 500."),
        (502, "", "The receiver answered 502."),
        (200, "thanks", ""),
    ]


def test_a_redirect_is_a_failure_and_is_not_followed(hooks_client, receiver, order_events):
    receiver.answers = [(301, {"Location": f"http://127.0.0.1:{receiver.port}/elsewhere"}, b"")]
    [delivery_id] = fan_out_all()

    sent = send_now(Delivery.objects.get(pk=delivery_id))

    assert len(receiver.requests) == 1
    assert sent.state == "pending"
    [attempt] = sent.attempts.all()
    assert attempt.response_status == 301
    assert attempt.error == f"Redirect to http://127.0.0.1:{receiver.port}/elsewhere not followed."


def test_410_gone_disables_the_subscription_at_once(hooks_client, receiver, subscription, order_events):
    receiver.answers = [(410, {}, b"gone")]
    [delivery_id] = fan_out_all()

    sent = send_now(Delivery.objects.get(pk=delivery_id))

    assert sent.state == "failed"
    subscription.refresh_from_db()
    assert subscription.active is False
    assert subscription.disabled_reason.startswith("The receiver answered 410 Gone at ")


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured_on_429_and_503(settings, hooks_client, receiver, order_events, status):
    settings.WEBHOOK_RETRY_SCHEDULE = [600, 600]
    receiver.answers = [(status, {"Retry-After": "7"}, b"slow down")]
    [delivery_id] = fan_out_all()

    before = timezone.now()
    sent = send_now(Delivery.objects.get(pk=delivery_id))

    assert sent.state == "pending"
    assert before + timedelta(seconds=7) <= sent.next_attempt_at <= timezone.now() + timedelta(seconds=7)


def test_retry_after_as_an_http_date_is_read():
    now = timezone.now().replace(microsecond=0)
    assert delivery.retry_after_seconds("120") == 120
    assert delivery.retry_after_seconds((now + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT"), now) == 90
    assert delivery.retry_after_seconds("soon") is None
    assert delivery.retry_after_seconds("99999999") == 24 * 3600


def test_a_receiver_that_hangs_times_out_and_is_retried(hooks_client, receiver, order_events):
    receiver.answers = ["hang"]
    [delivery_id] = fan_out_all()

    sent = send_now(Delivery.objects.get(pk=delivery_id))

    assert sent.state == "pending"
    [attempt] = sent.attempts.all()
    assert attempt.response_status is None
    assert attempt.error == "No complete answer within 1 s."
    assert 900 <= attempt.duration_ms < 3000
    receiver.release()
    assert send_now(sent).state == "succeeded"


def test_a_receiver_that_trickles_its_answer_is_cut_off_when_the_total_time_is_up(subscription, receiver, order_events):
    receiver.answers = ["trickle"]  # every read gets a byte well within the read timeout
    [delivery_id] = fan_out_all()

    sent = send_now(Delivery.objects.get(pk=delivery_id))

    [attempt] = sent.attempts.all()
    assert (attempt.response_status, attempt.error) == (None, "No complete answer within 1 s.")
    assert 900 <= attempt.duration_ms < 2000
    assert sent.state == "pending"
    receiver.release()
    assert send_now(sent).state == "succeeded"  # the cut connection is not reused


def test_a_receiver_that_is_not_listening_is_a_failure(hooks_client, make_order):
    client, _key = hooks_client
    with socket.socket() as taken:  # bound, never listening: nothing else can answer on this port
        taken.bind(("127.0.0.1", 0))
        subscribe(client, f"http://127.0.0.1:{taken.getsockname()[1]}/nobody-home")
        make_order("SO-NOBODY")
        [delivery_id] = fan_out_all()

        sent = send_now(Delivery.objects.get(pk=delivery_id))

    [attempt] = sent.attempts.all()
    assert attempt.response_status is None and attempt.error.startswith("Connection failed:")


def test_when_the_schedule_is_used_up_the_delivery_fails_and_a_dead_subscription_is_disabled(
    hooks_client, receiver, subscription, order_events
):
    receiver.default = (500, {}, b"down")
    [delivery_id] = fan_out_all()
    pending = Delivery.objects.get(pk=delivery_id)

    for _ in range(4):  # the first try and the three retries of the test schedule
        send_now(pending)

    pending.refresh_from_db()
    assert pending.state == "failed" and pending.attempt_count == 4 and pending.next_attempt_at is None
    subscription.refresh_from_db()
    assert subscription.active is False
    assert subscription.disabled_reason.startswith(f"Delivery {delivery_id} failed after 4 attempts")
    assert "The receiver answered 500." in subscription.disabled_reason


def test_a_subscription_with_a_success_since_the_failed_delivery_began_stays_active(hooks_client, receiver, make_order):
    client, _key = hooks_client
    subscription = subscribe(client, receiver.url)
    make_order("SO-A")
    make_order("SO-B")
    first, second = sorted(fan_out_all())
    receiver.answers = [(500, {}, b"")]
    send_now(Delivery.objects.get(pk=first))  # fails
    send_now(Delivery.objects.get(pk=second))  # succeeds, after the first began
    receiver.default = (500, {}, b"")

    failing = Delivery.objects.get(pk=first)
    for _ in range(3):
        send_now(failing)

    assert failing.state == "failed"
    subscription.refresh_from_db()
    assert (subscription.active, subscription.disabled_reason) == (True, "")


def test_deliveries_of_a_disabled_subscription_fail_without_a_request(
    hooks_client, receiver, subscription, order_events
):
    [delivery_id] = fan_out_all()
    Subscription.objects.filter(pk=subscription.pk).update(active=False, disabled_reason="by hand")

    sent = send_now(Delivery.objects.get(pk=delivery_id))

    assert receiver.requests == []
    assert sent.state == "failed"
    assert list(sent.attempts.values_list("response_status", "error")) == [
        (None, "Not sent: the subscription is disabled.")
    ]


def test_after_a_rotation_each_request_carries_both_signatures_for_24_hours(hooks_client, receiver, make_order):
    client, _key = hooks_client
    subscription = subscribe(client, receiver.url)
    old_secret = subscription.secret
    new_secret = subscription.rotate_secret()
    subscription.save()
    make_order("SO-ROT")
    [delivery_id] = fan_out_all()

    send_now(Delivery.objects.get(pk=delivery_id))
    Subscription.objects.filter(pk=subscription.pk).update(previous_secret_expires_at=timezone.now())
    make_order("SO-ROT-2")
    send_now(Delivery.objects.get(pk__in=fan_out_all()))

    during, after = receiver.requests
    assert len(during["headers"]["webhook-signature"].split(" ")) == 2
    for secret in (old_secret, new_secret):
        Webhook(secret).verify(during["body"], during["headers"])
    assert len(after["headers"]["webhook-signature"].split(" ")) == 1
    Webhook(new_secret).verify(after["body"], after["headers"])
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(old_secret).verify(after["body"], after["headers"])


def test_the_sweeper_fans_out_missed_events_and_queues_due_deliveries(hooks_client, receiver, make_order, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from stream_portal.celery import app

    app.conf.task_always_eager = True
    try:
        client, _key = hooks_client
        subscribe(client, receiver.url)
        make_order("SO-SWEEP-1")
        make_order("SO-SWEEP-2")

        result = tasks.sweep.apply().get()
        again = tasks.sweep.apply().get()
    finally:
        app.conf.task_always_eager = False

    assert result == {"fanned_out": 2, "queued": 2}
    assert again == {"fanned_out": 0, "queued": 0}
    assert sorted(b["data"]["order_no"] for b in receiver.bodies()) == ["SO-SWEEP-1", "SO-SWEEP-2"]
    assert set(Delivery.objects.values_list("state", flat=True)) == {"succeeded"}


@pytest.mark.django_db(transaction=True)
def test_two_workers_never_send_one_delivery_at_once(outbound, receiver, depots, make_order):
    from tests.conftest import make_client

    client, _key = make_client("racer", ["webhooks:manage"])
    subscribe(client, receiver.url)
    make_order("SO-RACE")
    [delivery_id] = fan_out_all()
    receiver.answers = ["hang"]
    threads = [threading.Thread(target=_attempt_in_thread, args=(delivery_id,)) for _ in range(2)]

    for thread in threads:
        thread.start()
    receiver.wait_for(1)
    # While the first worker waits for the receiver, the second finds the row locked and gives up at once.
    deadline = time.monotonic() + 5
    while all(t.is_alive() for t in threads) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive_while_sending = sum(t.is_alive() for t in threads)
    receiver.release()
    for thread in threads:
        thread.join(10)

    assert alive_while_sending == 1
    assert len(receiver.requests) == 1
    assert DeliveryAttempt.objects.filter(delivery_id=delivery_id).count() == 1


def _attempt_in_thread(delivery_id):
    try:
        delivery.attempt(delivery_id)
    finally:
        close_old_connections()
        connection.close()


def test_the_body_is_compact_json_exactly_as_signed(hooks_client, receiver, order_events):
    [delivery_id] = fan_out_all()

    send_now(Delivery.objects.get(pk=delivery_id))

    body = receiver.requests[0]["body"]
    assert body == json.dumps(order_events[0].payload, separators=(",", ":"), ensure_ascii=False).encode()


def test_beat_runs_the_sweeper_often():
    from django.conf import settings

    from stream_portal.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["webhooks-sweep"]
    assert entry == {"task": "webhooks.tasks.sweep", "schedule": 15.0}
    assert entry["task"] in app.tasks


def test_a_fan_out_made_again_after_a_lost_commit_gives_the_same_webhook_ids(hooks_client, receiver, make_order):
    # Fan-outs commit without waiting for the disk; if a database crash loses one, the sweeper makes it again
    # and receivers must be able to recognise anything already sent.
    subscribe(hooks_client[0], receiver.url)
    subscribe(hooks_client[0], receiver.url, ["order.created"])
    make_order("SO-AGAIN")
    first = dict(Delivery.objects.filter(pk__in=fan_out_all()).values_list("subscription_id", "webhook_id"))
    Delivery.objects.all().delete()
    FanOut.objects.all().delete()

    again = dict(Delivery.objects.filter(pk__in=fan_out_all()).values_list("subscription_id", "webhook_id"))

    assert again == first and len(set(first.values())) == 2
