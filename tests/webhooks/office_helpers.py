"""Personas of the office's webhook pages (as in tests/orders/conftest.py): Olive (office staff), Adam (administrator).

conftest.py imports the fixtures, so every test module here can ask for `admin` and `office`.
"""

import re

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client

from orders import services
from orders.domain import Actor
from tests.conftest import order_body, order_input
from webhooks import delivery
from webhooks.models import Delivery


@pytest.fixture
def office(db):
    cache.clear()  # rate-limit counts of earlier tests live there
    client = Client()
    client.force_login(User.objects.create_user("olive", password="olive-pass-2468"))
    return client


@pytest.fixture
def admin(db):
    cache.clear()
    client = Client()
    client.force_login(User.objects.create_user("adam", password="adam-pass-1357", is_staff=True))
    return client


def create_order(order_no="SO-1", **overrides):
    """An order made through the services, as the API would; its events go out through the outbox."""
    return services.create_order(actor=Actor.system(), **order_input(order_body(order_no, **overrides)))


def fan_out_and_send():
    """What the workers do, now: fan out every event not fanned out yet, then attempt each due delivery once."""
    delivery.fan_out(delivery.events_not_fanned_out())
    for delivery_id in delivery.due_deliveries():
        delivery.attempt(delivery_id)
    return list(Delivery.objects.order_by("id"))


def text(response):
    """The page's visible text, tags stripped and white space folded: what a reader sees."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()
