"""The per-request connection health check (stream_portal/postgresql/base.py): a quiet, idle connection
is used without a `SELECT 1`; one the server has closed is still found out and replaced."""

import time
from unittest import mock

import pytest
from django.db import connection, connections

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the PostgreSQL backend's own check")


@pytest.fixture
def fresh(db):
    """A second connection to the test database, with health checks on (the settings'), as a web worker
    holds it between requests."""
    wrapper = connections.create_connection("default")
    wrapper.ensure_connection()
    assert wrapper.health_check_enabled
    yield wrapper
    wrapper.close()


def request_starts(wrapper):
    """What Django does to a kept connection when a request starts (request_started)."""
    wrapper.health_check_done = False


def test_the_backend_is_the_one_settings_name(db):
    assert connection.settings_dict["ENGINE"] == "stream_portal.postgresql"
    assert type(connections["default"]).__module__ == "stream_portal.postgresql.base"


def test_a_quiet_idle_connection_is_used_without_a_ping(fresh):
    request_starts(fresh)
    with mock.patch.object(fresh, "is_usable", side_effect=AssertionError("SELECT 1 sent")):
        fresh.close_if_health_check_failed()
    assert fresh.connection is not None
    assert fresh.health_check_done


def test_a_connection_the_server_closed_is_replaced(fresh):
    old_pid = fresh.connection.info.backend_pid
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [old_pid])
    deadline = time.monotonic() + 10
    while fresh.quietly_alive() and time.monotonic() < deadline:
        time.sleep(0.01)

    request_starts(fresh)
    fresh.close_if_health_check_failed()

    assert fresh.connection is None  # closed; the request's first query opens a new one
    with fresh.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != old_pid


def test_a_connection_left_in_a_transaction_gets_the_real_check(fresh):
    fresh.connection.execute("BEGIN")
    request_starts(fresh)
    with mock.patch.object(fresh, "is_usable", return_value=True) as ping:
        fresh.close_if_health_check_failed()
    ping.assert_called_once()
    fresh.connection.execute("ROLLBACK")
