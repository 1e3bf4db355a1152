"""Outages of shared services must not lose accepted work or answer 5xx."""

import pytest

from orders.models import Order, OutboxEvent
from stream_portal import tasks
from tests.conftest import order_body

DEAD_REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        # Nothing listens on port 1: every cache call fails to connect.
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
    }
}


def test_orders_are_still_accepted_when_the_rate_limit_cache_is_down(settings, alice_api, depots, caplog):
    settings.CACHES = DEAD_REDIS

    response = alice_api.post("/api/v1/orders/", order_body("SO-REDIS-DOWN"))

    assert response.status_code == 201, response.content
    assert "rate limit cache unavailable" in caplog.text
    order = Order.objects.get(order_no="SO-REDIS-DOWN")
    assert list(OutboxEvent.objects.filter(order=order).values_list("type", flat=True)) == ["order.created"]


def test_reads_still_work_when_the_rate_limit_cache_is_down(settings, alice_api, depots):
    settings.CACHES = DEAD_REDIS

    response = alice_api.get("/api/v1/orders/")

    assert response.status_code == 200
    assert response.json() == {"next": None, "previous": None, "results": []}


@pytest.mark.django_db
def test_the_periodic_jobs_run_as_celery_tasks(make_order):
    # Called as tasks (eagerly) so their import paths and bodies are exercised, not just the services.
    assert tasks.release_due_orders.apply().get() == []
    assert tasks.purge_idempotency_keys.apply().get() == 0
