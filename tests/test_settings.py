"""The settings refuse bad environment values at start-up instead of running with a surprise."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRINT_SETTINGS = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.DEBUG, s.API_RATE_LIMIT, s.WEBHOOK_RETRY_SCHEDULE, s.CACHES['default']['BACKEND'], "
    "s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, s.SECURE_SSL_REDIRECT, s.TIME_ZONE)"
)


def run_settings(**env):
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CACHE_URL", "CELERY_BROKER_URL")}
    base.update({"DJANGO_SETTINGS_MODULE": "stream_portal.settings", "SECRET_KEY": "x" * 50, **env})
    return subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS], cwd=ROOT, env=base, capture_output=True, text=True, timeout=60
    )


def test_defaults_need_no_server():
    result = run_settings(DEBUG="true")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "True",
        "600/min",
        "[5,",
        "300,",
        "1800,",
        "7200,",
        "18000,",
        "36000,",
        "50400,",
        "72000,",
        "86400]",
        "django.core.cache.backends.locmem.LocMemCache",
        "django.db.backends.sqlite3",
        "filesystem://",
        "False",
        "Europe/London",
    ]


def test_production_values_are_read():
    result = run_settings(
        DEBUG="false",
        DATABASE_URL="postgres://u:p@db.internal:5432/portal",
        CACHE_URL="redis://redis.internal:6379/1",
        CELERY_BROKER_URL="redis://redis.internal:6379/0",
        API_RATE_LIMIT="100/hour",
        WEBHOOK_RETRY_SCHEDULE="1,2,3",
        HTTPS_ONLY="true",
        TIME_ZONE="Europe/Dublin",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "False",
        "100/hour",
        "[1,",
        "2,",
        "3]",
        "django.core.cache.backends.redis.RedisCache",
        "stream_portal.postgresql",
        "redis://redis.internal:6379/0",
        "True",
        "Europe/Dublin",
    ]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "maybe"}, "DEBUG must be true or false"),
        ({"HTTPS_ONLY": "yes please"}, "HTTPS_ONLY must be true or false"),
        ({"API_RATE_LIMIT": "lots"}, "API_RATE_LIMIT must look like 600/min"),
        ({"WEBHOOK_RETRY_SCHEDULE": "5,soon"}, "WEBHOOK_RETRY_SCHEDULE must be comma-separated whole seconds"),
        ({"WEBHOOK_RETRY_SCHEDULE": "5,-1"}, "WEBHOOK_RETRY_SCHEDULE must not contain negative numbers"),
        ({"CACHE_URL": "memcached://x"}, "CACHE_URL must be locmem:// or redis://"),
        ({"TIME_ZONE": "Mars/Olympus"}, "TIME_ZONE 'Mars/Olympus' is not a known time zone"),
        ({"PUBLIC_BASE_URL": "portal.example.com"}, "PUBLIC_BASE_URL must be an http(s) URL"),
        ({"DEBUG": "false", "SECRET_KEY": ""}, "SECRET_KEY must be set when DEBUG is false"),
    ],
)
def test_a_bad_value_stops_the_start_up_with_a_message(env, message):
    result = run_settings(**env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr
