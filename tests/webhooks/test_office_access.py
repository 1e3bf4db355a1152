"""Who may open the office's webhook pages: anonymous users never, office staff only an order's
deliveries, administrators everything. The role is checked on the server for every page and fragment."""

import pytest
from django.test import Client

from webhooks import delivery
from webhooks.models import Delivery, InboundSource, Subscription

from .office_helpers import create_order

SETTINGS_PAGES = [
    ("get", "/settings/webhooks/"),
    ("post", "/settings/webhooks/new/"),
    ("get", "/settings/webhooks/{sub}/"),
    ("get", "/settings/webhooks/{sub}/edit/"),
    ("post", "/settings/webhooks/{sub}/edit/"),
    ("post", "/settings/webhooks/{sub}/rotate/"),
    ("post", "/settings/webhooks/{sub}/enable/"),
    ("post", "/settings/webhooks/{sub}/redeliver-failed/"),
    ("post", "/settings/webhooks/deliveries/{delivery}/redeliver/"),
    ("get", "/settings/inbound/"),
    ("post", "/settings/inbound/new/"),
    ("get", "/settings/inbound/{source}/"),
    ("post", "/settings/inbound/{source}/rotate/"),
    ("post", "/settings/inbound/{source}/active/"),
]
FRAGMENTS = [("get", "/webhooks/office/orders/SO-1/deliveries/")]


@pytest.fixture
def objects(depots):
    """A subscription (disabled, so nothing changes whoever asks), its delivery, and an inbound source."""
    subscription = Subscription.objects.create(url="https://hooks.example.com/", event_types=["*"])
    create_order("SO-1")
    delivery.fan_out(delivery.events_not_fanned_out())
    delivery.disable(subscription, "Off.")
    source = InboundSource(name="planner")
    source.set_new_secret()
    source.save()
    return {"sub": subscription.pk, "delivery": Delivery.objects.get().pk, "source": source.pk}


def unchanged(objects):
    subscription = Subscription.objects.get(pk=objects["sub"])
    return (subscription.secret, subscription.active, InboundSource.objects.get().secret, InboundSource.objects.count())


@pytest.mark.parametrize(("method", "url"), SETTINGS_PAGES + FRAGMENTS)
def test_anonymous_users_are_sent_to_login_and_change_nothing(objects, method, url):
    before = unchanged(objects)
    response = getattr(Client(), method)(url.format(**objects))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    assert unchanged(objects) == before


@pytest.mark.parametrize(("method", "url"), SETTINGS_PAGES + FRAGMENTS)
def test_anonymous_htmx_requests_get_401_with_a_redirect_to_login(objects, method, url):
    headers = {"HX-Request": "true", "HX-Current-URL": "http://testserver/orders/SO-1/"}
    response = getattr(Client(), method)(url.format(**objects), headers=headers)
    assert response.status_code == 401
    assert response["HX-Redirect"] == "/accounts/login/?next=/orders/SO-1/"


@pytest.mark.parametrize(("method", "url"), SETTINGS_PAGES)
def test_office_staff_get_403_and_change_nothing(objects, office, method, url):
    before = unchanged(objects)
    response = getattr(office, method)(url.format(**objects), {"active": "true", "name": "new", "since": ""})
    assert response.status_code == 403
    assert unchanged(objects) == before


def test_office_staff_see_an_orders_deliveries_without_links_to_the_settings(objects, office):
    response = office.get("/webhooks/office/orders/SO-1/deliveries/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "order.created" in html
    assert "/settings/" not in html


# What an administrator's bare request gets: GETs the page; POSTs without their fields the form again
# (422), an answer showing a new secret (200), a redirect after acting (302), or 409 while disabled.
ADMIN_ANSWERS = [200, 422, 200, 200, 422, 200, 302, 409, 302, 200, 422, 200, 200, 302, 200]


@pytest.mark.parametrize(
    ("method", "url", "status"), [(*p, s) for p, s in zip(SETTINGS_PAGES + FRAGMENTS, ADMIN_ANSWERS)]
)
def test_administrators_may_use_every_page(objects, admin, method, url, status):
    response = getattr(admin, method)(url.format(**objects))
    assert response.status_code == status


def test_inactive_users_are_sent_to_login(objects):
    from django.contrib.auth.models import User

    client = Client()
    client.force_login(User.objects.create_user("gone", is_staff=True))
    User.objects.filter(username="gone").update(is_active=False)
    assert client.get("/settings/webhooks/").status_code == 302
