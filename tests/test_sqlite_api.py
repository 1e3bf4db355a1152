"""The API's request path on SQLite (bin/run's database): the key check's own SQL, the rate limit in
process memory and the list's compiled queries behave there as on PostgreSQL."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import json
import django
django.setup()
from django.core.management import call_command
from django.test import Client
from orders.models import ApiClient, Order
from orders.representation import order_dict, order_dicts, order_values, with_related

call_command("migrate", verbosity=0)
call_command("seed_demo", "--orders", "30", verbosity=0)
client = ApiClient(name="sqlite", scopes=["orders:read", "orders:all"])
key = client.set_new_key()
client.save()
api = Client(headers={"Authorization": f"Bearer {key}"})
newest = Order.objects.order_by("-created_at", "-id")
page = api.get("/api/v1/orders/?page_size=50")
print(json.dumps({
    "page": [page.status_code, page.json()["results"] == order_dicts(order_values(newest))],
    "same": order_dicts(order_values(newest)) == [order_dict(o) for o in with_related(newest)],
    "movements": sum(len(o["movements"]) for o in page.json()["results"]),
    "used": ApiClient.objects.get(pk=client.pk).last_used_at is not None,
    "limited": [api.get("/api/v1/orders/?page_size=1").status_code for _ in range(3)],
    "refused": (ApiClient.objects.filter(pk=client.pk).update(active=False), api.get("/api/v1/orders/").status_code),
}))
"""


def test_the_api_path_on_sqlite(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CACHE_URL", "CELERY_BROKER_URL")},
        "DJANGO_SETTINGS_MODULE": "stream_portal.settings",
        "SECRET_KEY": "x" * 50,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'api.sqlite3'}",
        "CACHE_URL": "locmem://",
        "API_RATE_LIMIT": "3/min",
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["page"] == [200, True]
    assert answer["same"] is True
    assert answer["movements"] > 0  # the movements query ran and was rendered
    assert answer["used"] is True
    assert answer["limited"] == [200, 200, 429]  # 3/min: the page above and two more
    assert answer["refused"] == [1, 401]
