"""GET /healthz for load balancers and monitors (docs/operations.md).

With every service up it is asked through the test client; with services really down it is asked of
a real gunicorn started with production settings and URLs that point at closed ports.
"""

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.contrib.sessions.models import Session
from django.test import Client

ROOT = Path(__file__).resolve().parent.parent
OK = {"status": "ok", "database": "ok", "cache": "ok", "broker": "ok"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.django_db
def test_healthz_reports_every_service_ok_in_one_query_without_a_session(django_assert_num_queries):
    with django_assert_num_queries(1):
        response = Client().get("/healthz")

    assert response.status_code == 200
    assert response.json() == OK
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "Set-Cookie" not in response.headers
    assert not response.cookies
    assert Session.objects.count() == 0


@pytest.mark.django_db
def test_healthz_needs_no_login_and_ignores_credentials():
    client = Client(headers={"Authorization": "Bearer sp_not-a-key"})
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, OK)


@pytest.mark.django_db
def test_healthz_is_not_rate_limited(settings):
    settings.API_RATE_LIMIT = "2/min"
    client = Client()
    answers = [client.get("/healthz").status_code for _ in range(6)]
    assert answers == [200] * 6


@pytest.mark.django_db
def test_healthz_answers_a_load_balancer_probing_by_ip_over_plain_http(settings):
    settings.ALLOWED_HOSTS = ["portal.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    client = Client()

    response = client.get("/healthz", HTTP_HOST="10.0.0.7:8000")
    assert (response.status_code, response.json()) == (200, OK)

    # Every other page still refuses the unknown host.
    assert client.get("/admin/", HTTP_HOST="10.0.0.7:8000").status_code == 400


@pytest.mark.django_db
def test_healthz_head_has_the_status_without_a_body():
    response = Client().head("/healthz")
    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_healthz_refuses_other_methods(method):
    response = getattr(Client(), method)("/healthz")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert response.json() == {"detail": f'Method "{method.upper()}" not allowed.'}


# --- Services really down, asked of a real server --------------------------------------------------


@contextlib.contextmanager
def gunicorn(**env):
    port = free_port()
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CACHE_URL", "CELERY_BROKER_URL")}
    base.update(
        {
            "DEBUG": "false",
            "HTTPS_ONLY": "true",
            "ALLOWED_HOSTS": "portal.example.com",
            "SECRET_KEY": "x" * 50,
            **env,
        }
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "stream_portal.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=ROOT,
        env=base,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def probe(base_url):
    """What a load balancer sends: plain HTTP, its own idea of the host."""
    return httpx.get(base_url + "/healthz", headers={"Host": "10.0.0.7"}, timeout=30)


def closed_port():
    port = free_port()  # bound and released: nothing listens there now
    return port


def test_healthz_answers_503_when_the_database_is_down_and_shows_no_password():
    db_port, redis_port = closed_port(), closed_port()
    with gunicorn(
        DATABASE_URL=f"postgres://portal:s3cret-db@127.0.0.1:{db_port}/portal",
        CACHE_URL=f"redis://:s3cret-cache@127.0.0.1:{redis_port}/1",
        CELERY_BROKER_URL=f"redis://:s3cret-broker@127.0.0.1:{redis_port}/0",
    ) as url:
        response = probe(url)

    assert response.status_code == 503
    assert "s3cret" not in response.text
    assert "set-cookie" not in response.headers
    assert response.json() == {
        "status": "down",
        "database": f'OperationalError: connection failed: connection to server at "127.0.0.1", port {db_port} '
        "failed: Connection refused",
        "cache": f"ConnectionError: Error 111 connecting to 127.0.0.1:{redis_port}. Connection refused.",
        "broker": f"OperationalError: Error 111 connecting to 127.0.0.1:{redis_port}. Connection refused.",
    }


def test_healthz_stays_200_with_the_database_up_and_names_what_else_is_down():
    redis_port = closed_port()
    with gunicorn(
        DATABASE_URL=os.environ["DATABASE_URL"],
        CACHE_URL=os.environ["CACHE_URL"],
        CELERY_BROKER_URL=f"redis://127.0.0.1:{redis_port}/0",
    ) as url:
        response = probe(url)

    assert response.status_code == 200
    assert response.json() == {
        "status": "degraded",
        "database": "ok",
        "cache": "ok",
        "broker": f"OperationalError: Error 111 connecting to 127.0.0.1:{redis_port}. Connection refused.",
    }


def test_healthz_error_text_masks_passwords_written_anywhere(settings):
    from stream_portal.health import error_text

    settings.CELERY_BROKER_URL = "redis://:pw-broker@queue.internal:6379/0"
    exc = RuntimeError("login with pw-broker refused at redis://user:other-secret@cache:6379/0\nsecond line")
    assert error_text(exc) == "RuntimeError: login with *** refused at redis://user:***@cache:6379/0"
    assert error_text(ValueError()) == "ValueError"
