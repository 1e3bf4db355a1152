"""Who may open which office page: anonymous users never, office staff all but settings, admins all."""

import pytest
from django.core.cache import cache
from django.test import Client

from orders.models import ApiClient

ORDER_PAGES = [
    ("get", "/orders/"),
    ("get", "/orders/new/"),
    ("get", "/orders/new/line-row/"),
    ("get", "/orders/new/group-row/"),
    ("get", "/orders/trunking-hint/?prefix=lines-0"),
    ("get", "/orders/SO-1/"),
    ("get", "/orders/SO-1/edit/"),
    ("get", "/orders/SO-1/notes/driver_notes/"),
    ("post", "/orders/SO-1/notes/driver_notes/"),
    ("post", "/orders/SO-1/cancel/"),
    ("post", "/orders/SO-1/status/"),
    ("get", "/movements/"),
    ("post", "/movements/action/"),
]
SETTINGS_PAGES = [
    ("get", "/settings/"),
    ("get", "/settings/depots/new/"),
    ("post", "/settings/api-clients/new/"),
    ("post", "/settings/api-clients/1/rotate/"),
    ("post", "/settings/depots/1/active/"),
]


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()


@pytest.mark.parametrize(("method", "url"), ORDER_PAGES + SETTINGS_PAGES)
def test_anonymous_users_are_sent_to_login(db, make_order, method, url):
    make_order("SO-1")
    response = getattr(Client(), method)(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize(("method", "url"), ORDER_PAGES + SETTINGS_PAGES)
def test_anonymous_htmx_requests_get_401_with_a_redirect_to_login(db, make_order, method, url):
    make_order("SO-1")
    response = getattr(Client(), method)(url, headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/x/"})
    assert response.status_code == 401
    assert response["HX-Redirect"] == "/accounts/login/?next=/x/"


@pytest.mark.parametrize(("method", "url"), SETTINGS_PAGES)
def test_office_staff_cannot_open_settings(office, depots, method, url):
    ApiClient.objects.create(name="x", key_id="abc", key_hash="0")
    response = getattr(office, method)(url)
    assert response.status_code == 403


def test_inactive_users_are_refused(office_user, depots):
    client = Client()
    client.force_login(office_user)
    office_user.is_active = False
    office_user.save()
    assert client.get("/orders/").status_code == 302


def test_admins_open_settings_and_every_office_page(admin, make_order):
    make_order("SO-1")
    assert admin.get("/settings/").status_code == 200
    assert admin.get("/orders/").status_code == 200
    assert admin.get("/orders/SO-1/").status_code == 200
    assert admin.get("/movements/").status_code == 200


def test_settings_link_only_for_admins(office, admin):
    assert b'href="/settings/"' not in office.get("/orders/").content
    assert b'href="/settings/"' in admin.get("/orders/").content


def test_home_sends_users_to_orders_and_others_to_login(office):
    assert office.get("/")["Location"] == "/orders/"
    assert Client().get("/")["Location"] == "/accounts/login/"


def test_logout_is_a_post(office):
    assert office.get("/accounts/logout/").status_code == 405
    response = office.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert office.get("/orders/").status_code == 302


def test_login_page_logs_in_and_goes_to_orders(office_user):
    client = Client()
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert b'<label for="id_username">User name</label>' in page.content
    response = client.post("/accounts/login/", {"username": "olive", "password": "olive-pass-2468"})
    assert response.status_code == 302 and response["Location"] == "/"


def test_wrong_password_is_refused_in_words(office_user):
    response = Client().post("/accounts/login/", {"username": "olive", "password": "wrong"})
    assert response.status_code == 400
    assert b"Please enter a correct username and password" in response.content


def test_five_wrong_passwords_lock_the_user_name_even_with_the_right_one(office_user):
    client = Client(REMOTE_ADDR="10.0.0.1")
    for _ in range(5):
        assert client.post("/accounts/login/", {"username": "olive", "password": "wrong"}).status_code == 400
    response = client.post("/accounts/login/", {"username": "OLIVE", "password": "olive-pass-2468"})
    assert response.status_code == 429
    assert response["Retry-After"] == "900"
    assert b"Too many failed logins. Wait 15 minutes, then try again." in response.content
    # Another user from another address is not affected.
    other = Client(REMOTE_ADDR="10.0.0.2")
    assert other.post("/accounts/login/", {"username": "adam", "password": "x"}).status_code == 400


def test_twenty_failures_from_one_address_lock_that_address(office_user):
    client = Client(REMOTE_ADDR="10.0.0.9")
    for n in range(20):
        client.post("/accounts/login/", {"username": f"guess{n}", "password": "wrong"})
    response = client.post("/accounts/login/", {"username": "olive", "password": "olive-pass-2468"})
    assert response.status_code == 429
    assert (
        Client(REMOTE_ADDR="10.0.0.10")
        .post("/accounts/login/", {"username": "olive", "password": "olive-pass-2468"})
        .status_code
        == 302
    )


def test_pages_carry_csp_with_nonce_and_csrf_on_body(office):
    response = office.get("/orders/")
    csp = response["Content-Security-Policy"]
    assert "'nonce-" in csp
    body = response.content.decode()
    nonce = csp.split("'nonce-")[1].split("'")[0]
    assert f'<script src="/static/django_htmx/htmx-2.min.js" nonce="{nonce}"' in body or f'nonce="{nonce}"' in body
    assert 'hx-headers=\'{"X-CSRFToken": "' in body
    assert "cdn" not in body.lower()


def test_posts_need_the_csrf_token(office_user, make_order):
    make_order("SO-1")
    client = Client(enforce_csrf_checks=True)
    client.force_login(office_user)
    response = client.post("/orders/SO-1/notes/driver_notes/", {"value": "x", "original": ""})
    assert response.status_code == 403
