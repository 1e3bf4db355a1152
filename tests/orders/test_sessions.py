"""Office sessions read from Redis, kept in the database (orders/sessions.py): access ends at once on
logout, deactivation and a password change; a Redis outage costs a database read, never a login,
a page or a logout that only pretends."""

import logging

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.contrib.sessions.backends.cached_db import KEY_PREFIX as CACHE_PREFIX
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.orders.test_resilience import DEAD_REDIS

PASSWORD = "olive-pass-2468"


def logged_in(username="olive"):
    client = Client(enforce_csrf_checks=True)
    page = client.get("/accounts/login/")
    token = page.cookies["csrftoken"].value
    response = client.post(
        "/accounts/login/", {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302, response.content
    return client


def session_key(client):
    return client.cookies[django_settings.SESSION_COOKIE_NAME].value


def session_reads(client, url="/orders/"):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    return response, [q["sql"] for q in queries if "django_session" in q["sql"]]


def logout(client):
    return client.post("/accounts/logout/", {"csrfmiddlewaretoken": client.cookies["csrftoken"].value})


def test_the_office_uses_the_cached_session_store_with_redis():
    # tests run with CACHE_URL=redis://... (bin/test); locmem:// would select the database store.
    assert django_settings.SESSION_ENGINE == "orders.sessions"


def test_a_page_reads_the_session_from_the_cache_not_the_database(office_user, depots):
    client = logged_in()
    response, reads = session_reads(client)
    assert response.status_code == 200
    assert reads == []
    assert cache.get(CACHE_PREFIX + session_key(client))["_auth_user_id"] == str(office_user.pk)
    # The database is still the record: the row is there, with the same login.
    row = Session.objects.get(session_key=session_key(client))
    assert row.get_decoded()["_auth_user_id"] == str(office_user.pk)


def test_a_session_missing_from_the_cache_is_read_from_the_database_and_cached_again(office_user, depots):
    client = logged_in()
    cache.delete(CACHE_PREFIX + session_key(client))
    response, reads = session_reads(client)
    assert response.status_code == 200
    assert len(reads) == 1
    response, reads = session_reads(client)
    assert response.status_code == 200 and reads == []


def test_logging_out_ends_access_at_once_even_with_the_old_cookie(office_user, depots):
    client = logged_in()
    key = session_key(client)
    thief = Client()
    thief.cookies[django_settings.SESSION_COOKIE_NAME] = key
    assert thief.get("/orders/").status_code == 200

    response = logout(client)

    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert cache.get(CACHE_PREFIX + key) is None
    assert not Session.objects.filter(session_key=key).exists()
    assert client.get("/orders/").status_code == 302
    assert thief.get("/orders/").status_code == 302
    assert thief.get("/orders/", headers={"HX-Request": "true"}).status_code == 401


@pytest.mark.parametrize("change", ["deactivate", "password"])
def test_a_deactivated_user_or_a_changed_password_loses_access_at_once(office_user, depots, change):
    client = logged_in()
    assert client.get("/orders/").status_code == 200  # the session is in the cache
    if change == "deactivate":
        # A bulk update sends no signal: nothing about the user may be cached.
        User.objects.filter(pk=office_user.pk).update(is_active=False)
    else:
        office_user.set_password("another-pass-9753")
        office_user.save()
    assert client.get("/orders/").status_code == 302
    assert client.get("/orders/", headers={"HX-Request": "true"}).status_code == 401


def test_login_gives_a_new_session_key_and_drops_the_anonymous_one(office_user, depots):
    from orders.sessions import SessionStore

    anonymous = SessionStore()
    anonymous["seen"] = True
    anonymous.save()
    before = anonymous.session_key
    client = Client()
    client.cookies[django_settings.SESSION_COOKIE_NAME] = before
    response = client.post("/accounts/login/", {"username": "olive", "password": PASSWORD})
    assert response.status_code == 302
    after = session_key(client)
    assert after != before
    assert cache.get(CACHE_PREFIX + before) is None
    assert not Session.objects.filter(session_key=before).exists()
    assert client.session["seen"] is True  # the data goes with the login to the new key
    assert client.get("/orders/").status_code == 200


# --- Redis down ---------------------------------------------------------------------------------


def test_with_redis_down_pages_are_served_from_the_database_session(settings, office_user, depots, caplog):
    client = logged_in()
    settings.CACHES = DEAD_REDIS
    response, reads = session_reads(client)
    assert response.status_code == 200
    assert len(reads) == 1
    assert "sessions: cache unavailable, read from the database" in caplog.text
    # The htmx fragment as well.
    assert client.get("/orders/", headers={"HX-Request": "true"}).status_code == 200


def test_with_redis_down_logging_in_works_and_the_session_is_kept_in_the_database(settings, office_user, depots):
    settings.CACHES = DEAD_REDIS
    client = logged_in()
    row = Session.objects.get(session_key=session_key(client))
    assert row.get_decoded()["_auth_user_id"] == str(office_user.pk)
    assert client.get("/orders/").status_code == 200


def test_with_redis_down_a_logout_is_refused_in_words_and_changes_nothing(settings, office_user, depots, caplog):
    client = logged_in()
    key = session_key(client)
    settings.CACHES = DEAD_REDIS
    with caplog.at_level(logging.ERROR, logger="orders.sessions"):
        response = logout(client)
    assert response.status_code == 503
    assert response["Retry-After"] == "60"
    assert response.content.decode() == (
        "Could not log out: the session store is not answering, so you are still logged in. Try again in a minute."
    )
    assert "session" in caplog.text and "not deleted" in caplog.text
    # Nothing changed: the session is whole in the database, so it says what the cache still says.
    assert Session.objects.get(session_key=key).get_decoded()["_auth_user_id"] == str(office_user.pk)
    assert client.get("/orders/").status_code == 200

    # Redis answers again: the logout goes through and the old session is gone from both stores.
    settings.CACHES = django_settings_caches_live()
    assert cache.get(CACHE_PREFIX + key) is not None
    assert logout(client).status_code == 302
    assert cache.get(CACHE_PREFIX + key) is None
    assert not Session.objects.filter(session_key=key).exists()
    thief = Client()
    thief.cookies[django_settings.SESSION_COOKIE_NAME] = key
    assert thief.get("/orders/").status_code == 302


def django_settings_caches_live():
    from stream_portal import settings as project_settings

    return project_settings.CACHES


def test_with_redis_down_the_admin_logout_answers_503_and_changes_nothing(settings, admin_user, depots):
    client = Client()
    client.force_login(admin_user)
    key = session_key(client)
    settings.CACHES = DEAD_REDIS
    response = client.post("/admin/logout/")
    assert response.status_code == 503
    assert response.content.decode() == (
        "The session store is not answering, so nothing was changed: try again in a minute."
    )
    assert Session.objects.filter(session_key=key).exists()
    assert client.get("/admin/").status_code == 200


def test_a_password_change_keeps_the_user_logged_in_and_the_old_key_logs_no_one_in(office_user, depots):
    client = logged_in()
    old_key = session_key(client)
    token = client.cookies["csrftoken"].value
    response = client.post(
        "/accounts/password_change/",
        {
            "old_password": PASSWORD,
            "new_password1": "a-new-pass-8642",
            "new_password2": "a-new-pass-8642",
            "csrfmiddlewaretoken": token,
        },
    )
    assert response.status_code == 302
    assert session_key(client) != old_key
    assert client.get("/orders/").status_code == 200
    thief = Client()
    thief.cookies[django_settings.SESSION_COOKIE_NAME] = old_key
    assert thief.get("/orders/").status_code == 302


def test_with_redis_down_a_login_over_another_users_session_is_refused_in_words(settings, office_user, depots):
    # The browser still holds olive's session (she was made inactive since): Django's login() ends it
    # before logging bert in, which needs the cache; it answers 503 and changes nothing.
    User.objects.create_user("bert", password=PASSWORD)
    client = logged_in()
    key = session_key(client)
    User.objects.filter(pk=office_user.pk).update(is_active=False)
    settings.CACHES = DEAD_REDIS
    token = client.cookies["csrftoken"].value
    response = client.post("/accounts/login/", {"username": "bert", "password": PASSWORD, "csrfmiddlewaretoken": token})
    assert response.status_code == 503
    assert response.content.decode() == "Could not log in: the session store is not answering. Try again in a minute."
    assert Session.objects.get(session_key=key).get_decoded()["_auth_user_id"] == str(office_user.pk)

    settings.CACHES = django_settings_caches_live()
    response = client.post("/accounts/login/", {"username": "bert", "password": PASSWORD, "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert not Session.objects.filter(session_key=key).exists()
    assert client.get("/orders/").status_code == 200
