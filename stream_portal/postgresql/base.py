"""Django's PostgreSQL backend, with a connection health check that usually costs no round trip.

With CONN_HEALTH_CHECKS Django sends `SELECT 1` before the first query of every request that reuses
a connection: one round trip per request, however small the request. A connection the server has
closed (a restart, `pg_terminate_backend`, `idle_session_timeout`, a proxy dropping it) always
shows on the client's socket first: the server sends its FATAL error and closes, so the socket
becomes readable (the message, or end-of-file). An idle connection whose socket has nothing to read
is therefore alive as far as any ping could tell, and is used without one; anything else (something
to read, a connection not idle or not OK) gets Django's own `SELECT 1` check and is replaced if that
fails. A peer that vanished without closing (a cable pulled) shows neither way: a ping would hang on
it just the same until the OS gives up.
"""

import select

from django.db.backends.postgresql import base
from psycopg import pq

__all__ = ["DatabaseWrapper"]


def nothing_to_read(fileno):
    """True if the socket has no data and no end-of-file waiting (checked without blocking)."""
    poller = select.poll()
    poller.register(fileno, select.POLLIN | select.POLLPRI)
    return not poller.poll(0)


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self):
        pending = self.connection is not None and self.health_check_enabled and not self.health_check_done
        if pending and self.quietly_alive():
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def quietly_alive(self):
        """The connection is idle, its status OK and the server has sent it nothing since its last answer."""
        pgconn = self.connection.pgconn
        try:
            return (
                pgconn.status == pq.ConnStatus.OK
                and pgconn.transaction_status == pq.TransactionStatus.IDLE
                and nothing_to_read(pgconn.socket)
            )
        except Exception:  # noqa: BLE001 - a closed or broken connection: let the SELECT 1 decide
            return False
