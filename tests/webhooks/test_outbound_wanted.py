"""The fan-out task is queued only when a subscription wants the events (webhooks/receivers.py); an
event that was not queued is fanned out by the sweeper, so nothing is lost, and a subscription made
just now still gets every event that happened after it."""

from unittest import mock

import pytest
from django.core.cache import cache
from django.db import transaction

from orders.models import OutboxEvent
from tests.webhooks.conftest import subscribe
from webhooks import delivery, receivers, tasks
from webhooks.models import Delivery, FanOut, Subscription

pytestmark = pytest.mark.usefixtures("outbound")


@pytest.fixture(autouse=True)
def forgotten():
    """Each test starts with nothing remembered of the subscriptions (the cache outlives tests)."""
    receivers._forget()
    yield
    receivers._forget()


@pytest.fixture
def queued(monkeypatch):
    """The event ids of every fan-out task queued (the broker is not involved)."""
    calls = []
    monkeypatch.setattr(tasks.fan_out_events, "apply_async", lambda args, **kw: calls.append(list(args[0])))
    return calls


@pytest.fixture
def create(make_order, django_capture_on_commit_callbacks):
    """Create an order in its own (captured) transaction and run its after-commit hooks."""

    def make(order_no):
        with django_capture_on_commit_callbacks(execute=True):
            order = make_order(order_no)
        return list(OutboxEvent.objects.filter(order=order).values_list("id", flat=True))

    return make


def test_an_event_nobody_subscribed_to_queues_no_task_and_the_sweeper_fans_it_out(create, queued):
    events = create("SO-NOBODY")

    assert queued == []
    assert not FanOut.objects.exists()
    assert tasks.sweep.apply().get() == {"fanned_out": len(events), "queued": 0}
    assert sorted(FanOut.objects.values_list("event_id", flat=True)) == sorted(events)
    assert not Delivery.objects.exists()


def test_a_subscription_made_just_now_gets_the_next_event_at_once(create, queued, hooks_client, receiver):
    create("SO-BEFORE")  # nobody wants it: remembered as "nothing wanted"
    assert queued == []

    subscription = subscribe(hooks_client[0], receiver.url, ["order.created"])
    events = create("SO-AFTER")

    assert queued == [events]
    made = delivery.fan_out(events)
    assert list(Delivery.objects.filter(pk__in=made).values_list("subscription_id", flat=True)) == [subscription.pk]


def test_a_subscription_another_process_made_gets_its_events_from_the_sweeper(create, queued, hooks_client, receiver):
    create("SO-BEFORE")  # "nothing wanted" is remembered here and in the cache
    # Made elsewhere: this process is not told (no signal), so its answer is stale for a moment.
    [subscription] = Subscription.objects.bulk_create(
        [Subscription(client=hooks_client[0], url=receiver.url, event_types=["order.created"])]
    )
    events = create("SO-STALE")

    assert queued == []  # skipped on the stale answer ...
    tasks.sweep.apply().get()  # ... and fanned out by the sweeper: late, not lost
    created = OutboxEvent.objects.get(pk__in=events, type="order.created")
    assert list(Delivery.objects.values_list("subscription_id", "event_id")) == [(subscription.pk, created.pk)]


def test_only_the_types_a_subscription_wants_are_queued(create, queued, hooks_client, receiver):
    subscribe(hooks_client[0], receiver.url, ["order.cancelled"])
    subscribe(hooks_client[0], receiver.url, ["*"], active=False)
    create("SO-UNWANTED")
    assert queued == []

    subscribe(hooks_client[0], receiver.url, ["*"])
    events = create("SO-WANTED")
    assert queued == [events]


def test_disabling_and_enabling_a_subscription_is_seen_at_once(create, queued, hooks_client, receiver):
    subscription = subscribe(hooks_client[0], receiver.url, ["order.created"])
    delivery.disable(subscription, "gone")
    create("SO-DISABLED")
    assert queued == []

    delivery.enable(subscription)
    events = create("SO-ENABLED")
    assert queued == [events]


def test_deleting_the_last_subscription_stops_the_tasks(create, queued, hooks_client, receiver):
    subscription = subscribe(hooks_client[0], receiver.url, ["order.created"])
    create("SO-ONE")
    subscription.delete()
    create("SO-TWO")
    assert len(queued) == 1


def test_when_the_cache_is_down_every_event_is_queued(create, queued, monkeypatch):
    monkeypatch.setattr(cache, "get", mock.Mock(side_effect=ConnectionError("redis is away")))
    events = create("SO-NO-CACHE")
    assert queued == [events]


def test_the_subscriptions_are_read_once_while_remembered(create, queued, django_assert_num_queries):
    create("SO-FIRST")
    with django_assert_num_queries(0):
        assert receivers.wanted_types() == frozenset()
    receivers._memo[:] = [0.0, None]  # this process forgets; the shared cache still knows
    with django_assert_num_queries(0):
        assert receivers.wanted_types() == frozenset()


def test_an_event_recorded_without_its_types_is_queued(db, queued, django_capture_on_commit_callbacks):
    from orders.events import event_recorded

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        transaction.on_commit(lambda: event_recorded.send(sender=OutboxEvent, event_ids=[7]))
    assert queued == [[7]]


def test_the_sweeper_catches_up_batch_after_batch(create, queued, monkeypatch):
    monkeypatch.setattr(tasks, "SWEEP_BATCH", 2)
    events = [e for n in range(3) for e in create(f"SO-BATCH-{n}")]
    assert len(events) >= 3

    assert tasks.sweep.apply().get() == {"fanned_out": len(events), "queued": 0}
    assert sorted(FanOut.objects.values_list("event_id", flat=True)) == sorted(events)
