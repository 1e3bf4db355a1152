"""Inbound webhook helpers: a source with its secret, payloads from the fixtures, signed requests.

The `planner` fixture (a Sender for the source "route-planner") is in conftest.py.

Requests are signed with the `standardwebhooks` package, independently of our own verifier.
"""

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from django.test import Client
from standardwebhooks import Webhook

from webhooks.models import InboundSource

FIXTURES = Path(__file__).parent / "fixtures"


def payload(name, **data):
    """A fixture payload with its `timestamp` set to now and `data` fields overridden."""
    body = json.loads((FIXTURES / f"{name}.json").read_text())
    body["timestamp"] = datetime.now(UTC).isoformat()
    body["data"].update(data)
    return body


def signed_headers(secret, body, *, webhook_id=None, at=None):
    """Standard Webhooks headers for the raw `body` (str), signed at `at` (default now)."""
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, at, body),
    }


class Sender:
    """The field system: signs and posts events to /webhooks/inbound/<name>/ with the Django test client."""

    def __init__(self, source, secret):
        self.source = source
        self.secret = secret
        self.url = f"/webhooks/inbound/{source.name}/"
        self.client = Client()

    def post_raw(self, raw, headers):
        return self.client.post(self.url, data=raw, content_type="application/json", headers=headers)

    def post(self, body, *, webhook_id=None, at=None):
        raw = body if isinstance(body, str) else json.dumps(body)
        return self.post_raw(raw, signed_headers(self.secret, raw, webhook_id=webhook_id, at=at))

    def send(self, name, *, webhook_id=None, **data):
        return self.post(payload(name, **data), webhook_id=webhook_id)


def make_source(name="route-planner"):
    source = InboundSource(name=name)
    secret = source.set_new_secret()
    source.save()
    return source, secret
