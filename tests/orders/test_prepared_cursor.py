"""orders.db.prepared_cursor: statements planned once per connection, and their text converted to
PostgreSQL's `$n` form once per process whatever its length (docs/performance.md, session 6)."""

from unittest import mock

import pytest
from django.db import ProgrammingError, connection

from orders import db as prepared_db
from orders.api import auth
from orders.models import ApiClient
from tests.conftest import make_client

pytestmark = pytest.mark.django_db


def long_statement(count):
    """A statement over psycopg's own limits for remembering a conversion (4,096 characters, 50 parameters)."""
    values = ", ".join(f"(%s::integer, '{'x' * 40}')" for _ in range(count))
    return f"SELECT sum(v.a) FROM (VALUES {values}) AS v(a, b)"  # noqa: S608 - placeholders only


def test_a_long_statement_is_converted_once_and_answers_each_call_with_its_own_parameters(monkeypatch):
    sql = long_statement(120)
    assert len(sql) > 4096
    query_class = prepared_db._converting_class()
    query_class.converted.clear()
    split = mock.Mock(wraps=query_class.split)
    monkeypatch.setattr(query_class, "split", split)

    answers = []
    for base in (1, 2, 3):
        with prepared_db.prepared_cursor() as cursor:
            cursor.execute(sql, [base] * 120)
            answers.append(cursor.fetchone()[0])

    assert answers == [120, 240, 360]
    assert split.call_count == 1  # converted on the first call, then found
    assert [key[0] for key in query_class.converted] == [sql.encode()]


def test_the_remembered_conversions_are_bounded(monkeypatch):
    monkeypatch.setattr(prepared_db, "CONVERTED_MAX", 3)
    converted = prepared_db._converting_class().converted
    converted.clear()
    for n in range(1, 6):
        with prepared_db.prepared_cursor() as cursor:
            cursor.execute("SELECT %s::integer + " + str(n), [n])
            assert cursor.fetchone()[0] == 2 * n
        assert len(converted) <= 3


def test_a_prepared_cursor_still_refuses_the_wrong_number_of_parameters():
    prepared_db._converting_class().converted.clear()
    with prepared_db.prepared_cursor() as cursor:  # once to remember the text, then refused from the memory too
        cursor.execute("SELECT %s::integer, %s::integer", [1, 2])
    with (
        pytest.raises(ProgrammingError, match="2 placeholders but 1 parameters"),
        prepared_db.prepared_cursor() as cursor,
    ):
        cursor.execute("SELECT %s::integer, %s::integer", [1])


def test_the_api_key_lookup_is_one_prepared_statement_that_sees_a_deactivation_at_once(django_assert_num_queries):
    client, key = make_client("prep", ["orders:read"])
    key_id = ApiClient.split_key(key)[0]
    with django_assert_num_queries(1):
        found, _ = auth.find_client(key_id)
    assert found.pk == client.pk
    ApiClient.objects.filter(pk=client.pk).update(active=False)
    with django_assert_num_queries(1):
        assert auth.find_client(key_id) == (None, False)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%%key_hash%%'")
        assert cursor.fetchone()[0] == 1


def test_a_prepared_statement_is_logged_with_its_text():
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        for _ in range(2):  # prepared by the first call, run as prepared by the second
            with prepared_db.prepared_cursor() as cursor:
                cursor.execute("SELECT %s::integer + 41", [1])
                assert cursor.fetchone()[0] == 42

    assert [q["sql"] for q in queries.captured_queries] == ["SELECT $1::integer + 41"] * 2
