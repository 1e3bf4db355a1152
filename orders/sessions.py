"""Office sessions: kept in the database, read from the shared cache (Redis).

Django's `cached_db` backend, with what it leaves to chance when the cache is down decided here:

- **Reading** a session (every office page) asks Redis first and the database only on a miss, so a
  page costs one Redis GET instead of a database round trip. The database stays the record: every
  change is written there first, then to the cache.
- **Cache down**: a read that cannot reach the cache reads the database (and does not try to fill
  the cache); a save logs and goes on (Django's own behaviour); a new key is checked against the
  database alone. Pages, logins and CSRF work as they do without a cache, one round trip dearer.
- **Deleting** a session (logging out, a login replacing another user's session) removes it from
  the cache *first*. A session removed only from the database would come back to life from the
  cache as soon as Redis answers again, so when the cache cannot be reached the session is not
  deleted at all and `SessionCacheUnavailable` is raised: the logout answers 503 "you are still
  logged in, try again" (orders/views/accounts.py) rather than pretending (any other path that deletes a
  session, such as the Django admin's logout, gets the same 503 from
  `SessionCacheUnavailableMiddleware`). The exception: the old key a login replaces (anonymous) or a
  password change leaves behind (its password hash no longer matches), in `cycle_key`, is dropped
  from the database whatever the cache says — it can log no one in.
- The **user** is not cached: `AuthenticationMiddleware` still reads it from the database on every
  request, so a user made inactive, or whose password changed, loses access at once.

Used only when the cache is shared by every process (`settings.SESSION_ENGINE`): with the per-process
`locmem://` cache a logout in one worker would leave the session in the others' memory.
"""

import logging

from django.contrib.sessions.backends import cached_db
from django.contrib.sessions.backends.db import SessionStore as DBStore
from django.http import HttpResponse

logger = logging.getLogger(__name__)


class SessionCacheUnavailable(Exception):
    """The session could not be removed from the cache, so it was not removed at all."""


class SessionStore(cached_db.SessionStore):
    def load(self):
        try:
            data = self._cache.get(self.cache_key)
        except Exception:
            logger.warning("sessions: cache unavailable, read from the database", exc_info=True)
            return self._load_from_db(fill_cache=False)
        if data is None:
            return self._load_from_db(fill_cache=True)
        return data

    def _load_from_db(self, *, fill_cache):
        stored = self._get_session_from_db()
        if not stored:
            return {}
        data = self.decode(stored.session_data)
        if fill_cache:
            try:
                self._cache.set(self.cache_key, data, self.get_expiry_age(expiry=stored.expire_date))
            except Exception:
                logger.warning("sessions: cache unavailable, not filled", exc_info=True)
        return data

    def exists(self, session_key):
        if session_key:
            try:
                if (self.cache_key_prefix + session_key) in self._cache:
                    return True
            except Exception:
                logger.warning("sessions: cache unavailable, key checked in the database", exc_info=True)
        return DBStore.exists(self, session_key)

    def delete(self, session_key=None):
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        try:
            self._cache.delete(self.cache_key_prefix + session_key)
        except Exception as error:
            logger.error("sessions: cache unavailable, session %s… not deleted", session_key[:6], exc_info=True)
            raise SessionCacheUnavailable from error
        DBStore.delete(self, session_key)

    def flush(self):
        """Log out: the session deleted first, so that if it cannot be, nothing has changed (Django
        empties the data first, and the empty session would then be saved over the database row
        while the cache still held the login)."""
        self.delete(self.session_key)
        self.clear()
        self._session_key = None

    def cycle_key(self):
        """A new key for the same data. Django cycles the key at login, where the old key's data is
        the visitor's anonymous session (the login view sends a logged-in user away first, and
        `login()` flushes a session that belongs to someone else), and after a password change, where
        the old key's password hash no longer matches (so `get_user` refuses it). Neither can log
        anyone in again, so if the cache cannot drop the old key it is dropped from the database and
        left to expire in the cache."""
        data = self._session
        key = self.session_key
        self.create()
        self._session_cache = data
        if key:
            try:
                self.delete(key)
            except SessionCacheUnavailable:
                DBStore.delete(self, key)


class SessionCacheUnavailableMiddleware:
    """503 in words, instead of a 500, when a session could not be deleted because the cache is down
    and no view said better (the Django admin's logout, for one); the office's login and logout
    answer it themselves (orders/views/accounts.py)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, SessionCacheUnavailable):
            return unavailable("The session store is not answering, so nothing was changed: try again in a minute.")
        return None


def unavailable(message):
    """The 503 in words for a session that could not be deleted because the cache is down."""
    response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = "60"
    return response
