"""Statements PostgreSQL plans once per connection (server-side prepared statements).

Django binds parameters on the client and never prepares (`prepare_threshold=None`), so a long
statement is parsed and planned again on every call: for the create's reference-data UNION that was
~1.1 ms of the server's CPU per request against ~0.2 ms to run it. `prepared_cursor()` is one of
Django's cursors (logged, counted by `execute_wrapper`s and `assertNumQueries`, errors translated as
for any other) over psycopg's server-binding cursor, asking psycopg to prepare each statement it
runs: psycopg keeps them per connection (at most `prepared_max`, least recently used dropped) and
forgets one whose preparing failed. Only for statements whose text repeats exactly (the prepared
statement is found by its text and its parameters' types), and PostgreSQL only.
"""

import functools

from django.db import connection


@functools.cache
def _prepared_class():
    from django.db.backends.postgresql.base import ServerBindingCursor

    class PreparedCursor(ServerBindingCursor):
        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=True, binary=binary)

    return PreparedCursor


def prepared_cursor():
    """A cursor of Django's (logged, counted, errors translated as for any other) whose statements are
    bound on the server and prepared: PostgreSQL plans each once per connection, not on every call.
    Django turns psycopg's automatic preparing off (`prepare_threshold=None`, for connection poolers
    that cannot keep prepared statements); this asks for it explicitly, for these statements only,
    and psycopg keeps them per connection (at most `prepared_max`) and forgets any that failed."""
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    pgconn = connection.connection
    if pgconn.prepare_threshold is None:
        # Explicit `prepare=True` only: no statement of a ServerBindingCursor is prepared unasked.
        pgconn.prepare_threshold = 2**31 - 1
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        raw = _prepared_class()(pgconn)
    return connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)
