"""GET /healthz: may a load balancer send this process traffic, and what do monitors need to know?

The answer names the state of each service a request can touch — the database, the cache (rate
limits are counted there) and the Celery broker (webhooks and jobs leave through it) — as `"ok"` or
the error, with any password taken out:

    200 {"status": "ok", "database": "ok", "cache": "ok", "broker": "ok"}
    200 {"status": "degraded", ..., "broker": "OperationalError: Error 111 connecting to ..."}
    503 {"status": "down", "database": "OperationalError: connection failed: ...", ...}

Only an unreachable database makes it 503: without it no request can succeed, while a process
whose cache or broker is down still serves most of them, and taking every web process out of the
load balancer at once for that would turn a degraded service into none.

`HealthCheckMiddleware` answers it first in the middleware chain, before anything reads the Host
header, redirects to HTTPS, opens a session or counts a rate limit: load balancers probe by IP
address over plain HTTP, and they must neither be refused by ALLOWED_HOSTS nor be redirected. That
is safe because the answer uses nothing from the request: no URL is built from its Host, nothing is
cached by it, and no cookie is read or set.
"""

import json
import re
import uuid
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.http import HttpResponse

PATH = "/healthz"
TIMEOUT_SECONDS = 3


def _secrets():
    """Every password the settings hold in a service URL, so none of them is ever shown."""
    found = [settings.DATABASES["default"].get("PASSWORD") or ""]
    for url in (settings.CACHES["default"].get("LOCATION", ""), settings.CELERY_BROKER_URL):
        if isinstance(url, str):
            found.append(urlsplit(url).password or "")
    return [s for s in found if s]


def error_text(exc):
    """`Type: first line of the message`, with passwords (and any user:password@ in a URL) masked."""
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    for secret in _secrets():
        text = text.replace(secret, "***")
    return re.sub(r"(://[^:/@\s]*):[^@\s]*@", r"\1:***@", text)


def check_database():
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:  # any failure is the answer, not a 500
        return error_text(exc)


def check_cache():
    key = f"healthz:{uuid.uuid4().hex}"
    try:
        cache.set(key, "1", timeout=TIMEOUT_SECONDS * 10)
        value = cache.get(key)
        cache.delete(key)
    except Exception as exc:
        return error_text(exc)
    return "ok" if value == "1" else "the cache did not return the value just stored in it"


def check_broker():
    from stream_portal.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=TIMEOUT_SECONDS)
        return "ok"
    except Exception as exc:
        return error_text(exc)


def healthz(request):
    if request.method not in ("GET", "HEAD"):
        response = HttpResponse(
            json.dumps({"detail": f'Method "{request.method}" not allowed.'}),
            status=405,
            content_type="application/json",
        )
        response["Allow"] = "GET, HEAD"
        return response
    checks = {"database": check_database(), "cache": check_cache(), "broker": check_broker()}
    if checks["database"] != "ok":
        status, code = "down", 503
    elif all(state == "ok" for state in checks.values()):
        status, code = "ok", 200
    else:
        status, code = "degraded", 200
    body = json.dumps({"status": status, **checks}) if request.method == "GET" else ""
    response = HttpResponse(body, status=code, content_type="application/json")
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


class HealthCheckMiddleware:
    """Answer /healthz before any other middleware (see the module docstring for why)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info == PATH:
            return healthz(request)
        return self.get_response(request)
