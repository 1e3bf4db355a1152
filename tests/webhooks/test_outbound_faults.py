"""Fault tests, all real: PostgreSQL, a Redis broker of the test's own, a Celery worker process and an
HTTP receiver on loopback.

The test process plays the web server (the API through Django's test client, committing for real) and
celery beat (it runs the `sweep` task, as beat would every WEBHOOK_SWEEP_SECONDS).
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection, transaction
from kombu import pools
from standardwebhooks import Webhook

from orders.events import event_recorded
from orders.models import Order, OutboxEvent
from stream_portal.celery import app
from tests.conftest import ApiCaller, order_body
from webhooks import tasks
from webhooks.models import Delivery, FanOut, Subscription

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("outbound"),
    pytest.mark.skipif(not shutil.which("redis-server"), reason="redis-server is needed for the broker"),
]

ROOT = Path(__file__).resolve().parents[2]
REDIS_PORTS = range(6390, 6395)


def wait_until(check, timeout=20, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {message}")


def port_is_free(port):
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


class RedisServer:
    """A throwaway redis-server (no persistence) that the test can stop and start again."""

    def __init__(self, port):
        self.port, self.process = port, None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: not port_is_free(self.port), 10, "redis to listen")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        wait_until(lambda: port_is_free(self.port), 10, "redis to stop")


@pytest.fixture
def broker():
    """Our own Redis on 6390-6394, and the test process's Celery app pointed at it."""
    port = next((p for p in REDIS_PORTS if port_is_free(p)), None)
    assert port, "no free port in 6390-6394"
    server = RedisServer(port)
    server.start()
    old_url = app.conf.broker_write_url

    def repoint(url):
        pools.reset()  # kombu keeps connection pools per URL process-wide; start each test afresh
        app._pool = None
        app.amqp._producer_pool = None
        # Publishing uses broker_write_url (here it mirrors CELERY_BROKER_URL); the test process only publishes.
        app.conf.broker_write_url = url

    repoint(server.url)
    yield server
    repoint(old_url)
    server.stop()


class Worker:
    """`celery -A stream_portal worker` in its own process group, on our broker and the test database."""

    def __init__(self, broker_url, log_path):
        self.broker_url, self.log_path, self.process = broker_url, log_path, None

    def start(self):
        db = connection.settings_dict
        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
            "CELERY_BROKER_URL": self.broker_url,
            "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
            "WEBHOOK_RETRY_SCHEDULE": "1,1,1",
            "SECRET_KEY": os.environ.get("SECRET_KEY", "test-only-not-secret"),
            "DEBUG": "false",
        }
        self.log = open(self.log_path, "a")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "stream_portal",
                "worker",
                "--pool",
                "solo",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(lambda: "ready." in Path(self.log_path).read_text(), 30, "the worker to be ready")

    def kill(self):
        """SIGKILL, as when a machine or container dies: no clean-up of any kind."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self.log.close()

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(3)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
            self.log.close()


@pytest.fixture
def start_worker(broker, tmp_path):
    workers = []

    def start():
        worker = Worker(broker.url, tmp_path / f"worker-{len(workers)}.log")
        workers.append(worker)
        worker.start()
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def subscribed(receiver, depots):
    from tests.conftest import make_client

    client, key = make_client("fault-erp", ["orders:read", "orders:write", "webhooks:manage"])
    api = ApiCaller(key)
    response = api.post("/api/v1/webhook-subscriptions/", {"url": receiver.url, "event_types": ["order.created"]})
    assert response.status_code == 201
    return api, response.json()["secret"]


def sweep():
    """What celery beat does every WEBHOOK_SWEEP_SECONDS."""
    return tasks.sweep.apply().get()


def test_orders_made_while_redis_is_down_are_each_delivered_once_when_it_is_back(
    broker, start_worker, subscribed, receiver
):
    api, secret = subscribed
    start_worker()
    broker.stop()
    announced = []

    def listen(sender, event_ids, **kwargs):
        announced.extend(event_ids)

    event_recorded.connect(listen)
    started = time.monotonic()
    try:
        answers = [api.post("/api/v1/orders/", order_body(f"SO-OUT-{n}")).status_code for n in range(5)]
    finally:
        event_recorded.disconnect(listen)

    assert answers == [201] * 5
    assert time.monotonic() - started < 10
    # Each commit announced its event, queuing its fan-out failed, and nothing reached the worker.
    assert sorted(announced) == sorted(OutboxEvent.objects.filter(type="order.created").values_list("id", flat=True))
    assert len(announced) == 5
    assert not FanOut.objects.exists() and receiver.requests == []

    broker.start()
    assert sweep() == {"fanned_out": 5, "queued": 5}
    receiver.wait_for(5, timeout=30)
    sweep()  # a second sweep, and the worker's own reconnection, must not send anything twice
    time.sleep(1.5)

    assert sorted(b["data"]["order_no"] for b in receiver.bodies()) == [f"SO-OUT-{n}" for n in range(5)]
    assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 5
    for request in receiver.requests:
        Webhook(secret).verify(request["body"], request["headers"])
    assert set(Delivery.objects.values_list("state", "attempt_count")) == {("succeeded", 1)}


def test_a_worker_killed_mid_delivery_is_replaced_and_the_delivery_sent_again_with_the_same_id(
    start_worker, subscribed, receiver
):
    api, secret = subscribed
    receiver.answers = ["hang"]
    worker = start_worker()

    assert api.post("/api/v1/orders/", order_body("SO-KILL")).status_code == 201
    [first] = receiver.wait_for(1)
    worker.kill()
    receiver.release()

    [pending] = Delivery.objects.all()
    assert (pending.state, pending.attempt_count, pending.attempts.count()) == ("pending", 0, 0)
    start_worker()
    assert sweep() == {"fanned_out": 0, "queued": 1}
    receiver.wait_for(2)
    time.sleep(1)

    first_again, second = receiver.requests
    assert len(receiver.requests) == 2
    assert second["headers"]["webhook-id"] == first["headers"]["webhook-id"] == pending.webhook_id
    assert second["body"] == first["body"]
    assert Webhook(secret).verify(second["body"], second["headers"])["data"]["order_no"] == "SO-KILL"
    pending.refresh_from_db()
    assert (pending.state, pending.attempt_count) == ("succeeded", 1)


def test_the_signal_starts_delivery_at_once(start_worker, subscribed, receiver):
    api, secret = subscribed
    start_worker()

    started = time.monotonic()
    assert api.post("/api/v1/orders/", order_body("SO-NOW")).status_code == 201
    [request] = receiver.wait_for(1, timeout=10)

    assert time.monotonic() - started < 5  # no sweep ran: the after-commit signal queued it
    assert Webhook(secret).verify(request["body"], request["headers"])["data"]["order_no"] == "SO-NOW"


def test_a_rolled_back_transaction_sends_nothing(start_worker, subscribed, receiver):
    start_worker()
    announced = []

    def listen(sender, event_ids, **kwargs):
        announced.append(event_ids)

    event_recorded.connect(listen)
    try:
        with pytest.raises(RuntimeError), transaction.atomic():
            spec = order_body("SO-ROLLBACK")
            api, _secret = subscribed
            response = api.post("/api/v1/orders/", spec)
            assert response.status_code == 201
            raise RuntimeError("the surrounding transaction fails after the order was made")
    finally:
        event_recorded.disconnect(listen)

    assert sweep() == {"fanned_out": 0, "queued": 0}
    time.sleep(1)
    assert announced == []
    assert not Order.objects.filter(order_no="SO-ROLLBACK").exists()
    assert not OutboxEvent.objects.exists() and not Delivery.objects.exists()
    assert receiver.requests == []
    assert Subscription.objects.count() == 1


def test_a_worker_killed_mid_batch_leaves_every_delivery_of_the_batch_to_be_sent_again(
    start_worker, subscribed, receiver
):
    api, secret = subscribed
    receiver.answers = ["hang"]  # one request of the batch hangs; the others are answered 200
    worker = start_worker()

    bulk = api.post("/api/v1/orders/bulk/", [order_body(f"SO-BATCH-{n}") for n in range(3)])
    assert bulk.status_code == 200
    first_round = receiver.wait_for(3)
    worker.kill()
    receiver.release()

    # The batch's transaction died with the worker: nothing was recorded, not even the answered ones.
    assert set(Delivery.objects.values_list("state", "attempt_count")) == {("pending", 0)}
    assert not Delivery.objects.filter(attempts__isnull=False).exists()
    start_worker()
    assert sweep() == {"fanned_out": 0, "queued": 3}
    receiver.wait_for(6)
    time.sleep(1)

    assert len(receiver.requests) == 6
    ids = {r["headers"]["webhook-id"] for r in first_round[:3]}
    assert {r["headers"]["webhook-id"] for r in receiver.requests[3:]} == ids
    assert ids == set(Delivery.objects.values_list("webhook_id", flat=True))
    for request in receiver.requests[3:]:
        Webhook(secret).verify(request["body"], request["headers"])
    assert set(Delivery.objects.values_list("state", "attempt_count")) == {("succeeded", 1)}
