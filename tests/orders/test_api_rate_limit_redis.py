"""Per-client rate limits (docs/api.md) are counted in the shared cache, so every web process sees them.

Needs CACHE_URL=redis://... (bin/test and CI set it): with a per-process cache each process would
count on its own and a client could get N times the limit from N processes.
"""

import pytest
import redis
from django.core.cache import cache
from django.test import Client

from orders.api import auth
from tests.conftest import make_client

REDIS_BACKEND = "django.core.cache.backends.redis.RedisCache"


@pytest.fixture
def redis_cache(settings):
    backend = settings.CACHES["default"]["BACKEND"]
    if backend != REDIS_BACKEND:
        pytest.fail(
            f"this test needs the shared Redis cache, but CACHES['default'] uses {backend}; "
            "run with CACHE_URL=redis://127.0.0.1:6379/15 (as bin/test does)",
            pytrace=False,
        )
    settings.API_RATE_LIMIT = "5/min"
    cache.clear()
    server = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    yield server
    server.close()


def test_rate_limit_is_shared_between_processes(db, redis_cache):
    api_client, key = make_client("rate-limited-erp", ["orders:read"])
    headers = {"Authorization": f"Bearer {key}"}
    first_process, second_process = Client(headers=headers), Client(headers=headers)

    for n in range(5):
        response = first_process.get("/api/v1/orders/")
        assert response.status_code == 200, (n, response.content)

    # Another web process shares nothing with the first but Redis: its own limiter, its own connection.
    auth._limiters.clear()
    response = second_process.get("/api/v1/orders/")

    assert response.status_code == 429, response.content
    assert int(response.headers["Retry-After"]) > 0
    assert "detail" in response.json()

    # The count lives in Redis itself, one entry per admitted request; the refused one is not counted.
    redis_keys = [k.decode() for k in redis_cache.scan_iter(f"*api_client/{api_client.pk}/*")]
    assert len(redis_keys) == 1, redis_keys
    assert redis_cache.llen(redis_keys[0]) == 5

    # Throttling is per client: another key is not limited by the first one's count.
    _, other_key = make_client("other-erp", ["orders:read"])
    assert Client(headers={"Authorization": f"Bearer {other_key}"}).get("/api/v1/orders/").status_code == 200
