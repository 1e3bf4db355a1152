"""Delivery in batches (docs/webhooks.md), against real HTTP receivers on loopback and real PostgreSQL:
one claim, concurrent sends, one write of the outcomes, and every per-delivery rule kept."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from standardwebhooks import Webhook

from orders.models import OutboxEvent
from tests.webhooks.conftest import Receiver, subscribe
from webhooks import delivery, ssrf, tasks
from webhooks.models import Delivery, DeliveryAttempt

pytestmark = pytest.mark.usefixtures("outbound", "patient")

# As Django sees them inside the test's transaction (the batch's atomic block is a SAVEPOINT pair):
# SAVEPOINT, the claim (SELECT … FOR UPDATE SKIP LOCKED with the subscription and the event), one INSERT
# of the attempts, one UPDATE of the deliveries (with SET LOCAL synchronous_commit), RELEASE.
BATCH_STATEMENTS = 5


@pytest.fixture
def patient(outbound):
    """A dozen requests at once on a busy machine: the 1 s limit of the other tests would cut some off."""
    outbound.WEBHOOK_TIMEOUT_SECONDS = 15
    outbound.WEBHOOK_CONNECT_TIMEOUT_SECONDS = 5
    return outbound


def fan_out_all():
    return sorted(delivery.fan_out(OutboxEvent.objects.values_list("id", flat=True)))


@pytest.fixture
def second_receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.mark.parametrize("orders", [1, 3, 12])
def test_a_batch_sends_the_same_number_of_statements_whatever_its_size(
    hooks_client, receiver, make_order, orders, django_assert_num_queries
):
    subscribe(hooks_client[0], receiver.url, ["order.created"])
    for n in range(orders):
        make_order(f"SO-BQ-{n}")
    ids = fan_out_all()

    with django_assert_num_queries(BATCH_STATEMENTS):
        waits = delivery.attempt_many(ids)

    assert waits == {}
    assert len(receiver.requests) == orders
    assert set(Delivery.objects.values_list("state", "attempt_count")) == {("succeeded", 1)}
    assert DeliveryAttempt.objects.filter(response_status=200).count() == orders


def test_fan_out_of_many_events_is_one_statement(hooks_client, receiver, make_order, django_assert_num_queries):
    subscribe(hooks_client[0], receiver.url, ["*"])
    subscribe(hooks_client[0], receiver.url, ["order.created"])
    for n in range(5):
        make_order(f"SO-FQ-{n}")
    events = list(OutboxEvent.objects.values_list("id", flat=True))

    # SAVEPOINT, the INSERT of markers and deliveries (with SET LOCAL synchronous_commit), RELEASE.
    with django_assert_num_queries(3):
        ids = delivery.fan_out(events)

    assert len(ids) == 10
    assert delivery.fan_out(events) == []


def test_each_delivery_of_a_batch_keeps_its_own_outcome_and_schedule(
    settings, hooks_client, receiver, second_receiver, make_order
):
    settings.WEBHOOK_RETRY_SCHEDULE = [600, 600]
    client, _key = hooks_client
    healthy = subscribe(client, receiver.url, ["order.created"])
    gone = subscribe(client, second_receiver.url, ["order.created"])
    make_order("SO-MIX-1")
    make_order("SO-MIX-2")
    make_order("SO-MIX-3")
    ids = fan_out_all()
    by_order = {
        (d.subscription_id, d.event.payload["data"]["order_no"]): d
        for d in Delivery.objects.filter(pk__in=ids).select_related("event")
    }
    # The healthy receiver answers the three requests (in whatever order they come) 500, 429 and 200.
    statuses = {"SO-MIX-1": (500, {}, b"oops"), "SO-MIX-2": (429, {"Retry-After": "7"}, b""), "SO-MIX-3": None}
    second_receiver.default = (410, {}, b"gone")
    receiver.answer_for = lambda body: statuses[body["data"]["order_no"]]

    before = timezone.now()
    waits = delivery.attempt_many(ids)

    def state(order_no, subscription=healthy):
        row = Delivery.objects.get(pk=by_order[(subscription.pk, order_no)].pk)
        return row, list(row.attempts.values_list("response_status", "error"))

    failed, attempts = state("SO-MIX-1")
    assert (failed.state, failed.attempt_count, attempts) == ("pending", 1, [(500, "The receiver answered 500.")])
    assert before + timedelta(seconds=600) <= failed.next_attempt_at <= timezone.now() + timedelta(seconds=660)
    slowed, attempts = state("SO-MIX-2")
    assert (slowed.state, attempts) == ("pending", [(429, "The receiver answered 429.")])
    assert before + timedelta(seconds=7) <= slowed.next_attempt_at <= timezone.now() + timedelta(seconds=7)
    assert waits == {slowed.pk: 7}  # soon enough for a countdown; the 600 s wait is the sweeper's
    done, attempts = state("SO-MIX-3")
    assert (done.state, done.next_attempt_at, attempts) == ("succeeded", None, [(200, "")])
    for order_no in ("SO-MIX-1", "SO-MIX-2", "SO-MIX-3"):
        refused, attempts = state(order_no, gone)
        assert (refused.state, attempts) == ("failed", [(410, "The receiver answered 410.")])
    gone.refresh_from_db()
    healthy.refresh_from_db()
    assert gone.active is False and gone.disabled_reason.startswith("The receiver answered 410 Gone at ")
    assert healthy.active is True
    # Every request carried its own delivery's webhook-id and a valid signature.
    sent = {r["headers"]["webhook-id"] for r in receiver.requests + second_receiver.requests}
    assert sent == set(Delivery.objects.filter(pk__in=ids).values_list("webhook_id", flat=True))
    for request in receiver.requests:
        Webhook(healthy.secret).verify(request["body"], request["headers"])


def test_the_requests_of_a_batch_go_out_at_once(settings, hooks_client, receiver, make_order):
    settings.WEBHOOK_TIMEOUT_SECONDS = 30  # the held request is not cut off while the others are awaited
    subscribe(hooks_client[0], receiver.url, ["order.created"])
    for n in range(4):
        make_order(f"SO-PAR-{n}")
    ids = fan_out_all()
    receiver.answers = ["hang"]  # the first request to arrive is held until released
    seen = []

    def watch():
        try:
            # All four arrive while the first is still held: they were not sent one after another.
            seen.append(len(receiver.wait_for(4)))
        finally:
            receiver.release()

    watcher = threading.Thread(target=watch)
    watcher.start()
    delivery.attempt_many(ids)
    watcher.join(10)

    assert seen == [4]
    # The held one was answered by a closed connection: a failure, to be retried.
    states = sorted(Delivery.objects.values_list("state", flat=True))
    assert states == ["pending", "succeeded", "succeeded", "succeeded"]


@pytest.mark.django_db(transaction=True)
def test_a_batch_skips_deliveries_that_another_worker_is_sending_or_that_are_not_due(
    outbound, receiver, depots, make_order
):
    from tests.conftest import make_client

    client, _key = make_client("batcher", ["webhooks:manage"])
    subscribe(client, receiver.url, ["order.created"])
    for n in range(4):
        make_order(f"SO-SKIP-{n}")
    locked, later, done, free = fan_out_all()
    Delivery.objects.filter(pk=later).update(next_attempt_at=timezone.now() + timedelta(hours=1))
    Delivery.objects.filter(pk=done).update(state="succeeded")
    claimed, release = threading.Event(), threading.Event()

    def hold():  # another worker, in the middle of sending `locked`
        try:
            with transaction.atomic():
                list(Delivery.objects.select_for_update().filter(pk=locked))
                claimed.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert claimed.wait(10)
    try:
        delivery.attempt_many([locked, later, done, free])
    finally:
        release.set()
        holder.join(10)

    assert [r["headers"]["webhook-id"] for r in receiver.requests] == [Delivery.objects.get(pk=free).webhook_id]
    assert dict(Delivery.objects.values_list("pk", "attempt_count")) == {locked: 0, later: 0, done: 0, free: 1}


def test_a_batch_of_a_disabled_subscription_fails_without_requests(hooks_client, receiver, make_order):
    subscription = subscribe(hooks_client[0], receiver.url, ["order.created"])
    make_order("SO-OFF-1")
    make_order("SO-OFF-2")
    ids = fan_out_all()
    delivery.disable(subscription, "by hand")

    delivery.attempt_many(ids)

    assert receiver.requests == []
    assert set(Delivery.objects.values_list("state", flat=True)) == {"failed"}
    assert set(DeliveryAttempt.objects.values_list("error", flat=True)) == {"Not sent: the subscription is disabled."}


def test_the_fan_out_task_sends_the_first_batch_itself_and_queues_the_rest(
    settings, hooks_client, receiver, make_order, monkeypatch
):
    settings.WEBHOOK_BATCH_SIZE = 2
    subscribe(hooks_client[0], receiver.url, ["order.created"])
    for n in range(5):
        make_order(f"SO-TASK-{n}")
    queued = []
    monkeypatch.setattr(tasks.deliver_batch, "apply_async", lambda args, **kw: queued.append((args[0], kw)))

    made = tasks.fan_out_events.apply(args=(list(OutboxEvent.objects.values_list("id", flat=True)),)).get()

    assert len(made) == 5
    assert sorted(r["headers"]["webhook-id"] for r in receiver.requests) == sorted(
        Delivery.objects.filter(pk__in=made[:2]).values_list("webhook_id", flat=True)
    )
    assert [ids for ids, _ in queued] == [made[2:4], made[4:]]
    assert all(kw == {"countdown": None, "retry": False} for _, kw in queued)


def test_soon_retries_are_queued_together_per_second_of_wait(monkeypatch):
    queued = []
    monkeypatch.setattr(tasks.deliver_batch, "apply_async", lambda args, **kw: queued.append((args[0], kw)))

    tasks.retry_soon({1: 5.2, 2: 5.9, 3: 0.4, 4: 7.0})

    assert [(ids, kw["countdown"]) for ids, kw in queued] == [([3], 1), ([1, 2], 6), ([4], 7)]


def test_a_checked_address_is_reused_for_a_short_time_and_a_refusal_is_not(
    settings, monkeypatch, hooks_client, receiver, make_order
):
    asked = []

    def resolve(host, port):
        asked.append(host)
        return ["127.0.0.1"]

    monkeypatch.setattr(ssrf, "resolve", resolve)
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    subscribe(hooks_client[0], f"http://hooks.example.test:{receiver.port}/hook", ["order.created"])
    for n in range(4):
        make_order(f"SO-DNS-{n}")
    first, second, third, fourth = fan_out_all()

    delivery.attempt_many([first])
    delivery.attempt_many([second])  # within WEBHOOK_ADDRESS_CACHE_SECONDS: not resolved again
    assert asked == ["hooks.example.test"] and len(receiver.requests) == 2

    settings.WEBHOOK_ADDRESS_CACHE_SECONDS = 0
    delivery.attempt_many([third])
    assert asked == ["hooks.example.test"] * 2 and len(receiver.requests) == 3

    settings.WEBHOOK_ADDRESS_CACHE_SECONDS = 10
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False  # now 127.0.0.1 is refused, and asked again every time
    delivery.attempt_many([fourth])
    Delivery.objects.filter(pk=fourth).update(next_attempt_at=timezone.now())
    delivery.attempt_many([fourth])
    assert asked == ["hooks.example.test"] * 4 and len(receiver.requests) == 3
    errors = list(DeliveryAttempt.objects.filter(delivery_id=fourth).values_list("error", flat=True))
    assert errors == ["Refused: The host hooks.example.test resolves to a forbidden address: 127.0.0.1 is a "
                      "loopback address."] * 2  # fmt: skip
