"""A real HTTP receiver on loopback, and helpers to drive outbound delivery step by step."""

import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from tests.conftest import make_client
from webhooks import delivery
from webhooks.models import Delivery, Subscription

from .inbound_helpers import Sender, make_source
from .office_helpers import admin, office  # noqa: F401  the office's personas, for the settings pages

PORTS = range(8300, 8400)


def free_port(ports=PORTS):
    for port in ports:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 8300-8399")


class Receiver:
    """Records every request; answers from a queue of planned answers, then with `default`.

    An answer is (status, headers, body), "hang" to hold the request until `release()`, or "trickle"
    to send a 200 whose body comes a byte every 0.2 s until `release()`. `answer_for`, if set, picks
    the answer from the parsed body (None: the planned one), for requests that arrive together.
    """

    def __init__(self, tls=None):
        self.tls = tls
        self.requests = []
        self.answers = []
        self.default = (200, {}, b"thanks")
        self.answer_for = None
        self.released = threading.Event()
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out at once, as from a real server

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.arrived:
                    receiver.requests.append(
                        {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
                    )
                    answer = receiver.answers.pop(0) if receiver.answers else receiver.default
                    if receiver.answer_for is not None:  # an answer chosen by the body, whatever the order
                        answer = receiver.answer_for(json.loads(body)) or answer
                    receiver.arrived.notify_all()
                if answer == "hang":
                    receiver.released.wait(60)
                    self.close_connection = True
                    return
                if answer == "trickle":  # a 200 whose body comes a byte at a time, forever
                    self.send_response(200)
                    self.send_header("Content-Length", "100000")
                    self.end_headers()
                    try:
                        while not receiver.released.wait(0.2):
                            self.wfile.write(b"x")
                    except OSError:
                        pass
                    self.close_connection = True
                    return
                status, headers, payload = answer
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/hooks/in"

    def release(self):
        self.released.set()

    def wait_for(self, count, timeout=20):
        """Block until `count` requests have arrived (or fail)."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"only {len(self.requests)} of {count} requests arrived")
                self.arrived.wait(left)
        return self.requests

    def bodies(self):
        return [json.loads(r["body"]) for r in self.requests]

    def close(self):
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def _fresh_address_checks():
    """Each test resolves its receivers' names afresh (the sender keeps checked addresses for seconds)."""
    delivery.forget_checked_addresses()
    yield
    delivery.forget_checked_addresses()


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def outbound(settings):
    """Local receivers allowed, a short retry schedule and short timeouts, so the tests stay fast."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    settings.WEBHOOK_RETRY_SCHEDULE = [1, 2, 3]
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS = 1
    return settings


@pytest.fixture
def hooks_client(db):
    """An API client that manages webhooks (and writes orders)."""
    return make_client("hooks-erp", ["orders:read", "orders:write", "webhooks:manage"])


def subscribe(client, url, event_types=("*",), **fields):
    return Subscription.objects.create(client=client, url=url, event_types=list(event_types), **fields)


def send_now(delivery_obj):
    """Make a pending delivery due now and attempt it once, as a worker would."""
    Delivery.objects.filter(pk=delivery_obj.pk).update(next_attempt_at=timezone.now())
    delivery.attempt(delivery_obj.pk)
    delivery_obj.refresh_from_db()
    return delivery_obj


@pytest.fixture
def planner(db):
    """The route planner: an inbound source that signs and posts status events."""
    return Sender(*make_source())
