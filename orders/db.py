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

# Statements whose conversion to PostgreSQL's `$n` form is kept (see `_converting_class`): the few
# texts sent through `prepared_cursor()`, a handful per create shape; a bound against a caller that
# sends ever-new texts.
CONVERTED_MAX = 256


@functools.cache
def _converting_class():
    """psycopg's query class, remembering each statement's conversion whatever its length.

    Before it sends a statement psycopg splits its text at the `%s` placeholders and writes it with
    `$1, $2, …`, and remembers that only for statements under 4,096 characters and 50 parameters
    (`psycopg._queries`: ORMs send ever-new long `INSERT … VALUES (…), (…)`). The create's one
    INSERT is ~5 kB with ~130 parameters and the same text on every create of its shape: splitting
    it was ~14 % of a web worker's CPU under the create load (py-spy, session 6). Statements sent
    through `prepared_cursor()` repeat by definition, so their conversion is kept here, up to
    CONVERTED_MAX texts (then forgotten all at once). If psycopg's internals are not as expected,
    its own class is used unchanged."""
    try:
        from psycopg._queries import PostgresQuery, _query2pg_nocache
    except ImportError:  # pragma: no cover - another psycopg layout: plain psycopg
        from psycopg._queries import PostgresQuery

        return PostgresQuery

    converted = {}

    class RepeatedQuery(PostgresQuery):
        def convert(self, query, vars):
            if vars is None or not isinstance(query, (str, bytes)):
                return super().convert(query, vars)
            query = self._ensure_bytes(query)
            key = (query, self._tx.encoding)
            parts = converted.get(key)
            if parts is None:
                if len(converted) >= CONVERTED_MAX:
                    converted.clear()
                parts = converted[key] = self.split(query, self._tx.encoding)
            self.query, self._want_formats, self._order, self._parts = parts
            self.dump(vars)

    RepeatedQuery.split = staticmethod(_query2pg_nocache)
    RepeatedQuery.converted = converted
    return RepeatedQuery


@functools.cache
def _prepared_class():
    from django.db.backends.postgresql.base import ServerBindingCursor

    class PreparedCursor(ServerBindingCursor):
        _query_cls = _converting_class()

        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=True, binary=binary)

        def _send_query_prepared(self, name, pgq, *, binary=None):
            # psycopg notes the query it sent only when it is not prepared; Django's query log
            # (`connection.queries`, CaptureQueriesContext) reads it from there: without this a
            # prepared statement was logged as `None`.
            self._query = pgq
            return super()._send_query_prepared(name, pgq, binary=binary)

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
