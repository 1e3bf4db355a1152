"""The public tracking page /track/<token>/: what the customer sees, what nobody else learns."""

import re
from datetime import time

import pytest
from django.core.cache import cache
from django.utils import timezone

from orders import services
from orders.domain import Actor
from orders.models import StatusChange
from orders.views.tracking import MISSES_ALLOWED
from tests.conftest import line

PLANNER = Actor.for_inbound("route-planner")
PLAN = {
    "planned_date": "2030-03-05",
    "route_ref": "R-01",
    "eta_from": "09:00",
    "eta_to": "11:00",
    "driver": "Dee",
    "vehicle": "BX71 KTP",
}
POD = {
    "signed_by": "Ann Smith",
    "notes": "Placed in the front room.",
    "signature_url": "https://driver-app.example.com/pod/1/signature.png",
    "photo_urls": ["https://driver-app.example.com/pod/1/photo-1.jpg"],
    "completed_at": "2030-03-05T09:36:40+00:00",
    "distance_m": 30,
    "distance_warning": False,
}


@pytest.fixture(autouse=True)
def fresh_rate_limit():
    cache.clear()
    yield
    cache.clear()


def page(client, order, **headers):
    return client.get(f"/track/{order.tracking_token}/", headers=headers)


def text_of(response):
    """The visible text of a page, whitespace collapsed."""
    html = response.content.decode()
    body = re.sub(r"(?s)<head>.*?</head>", "", html)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)).strip()


def assert_private(response):
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert response["Cache-Control"] == "no-store, private"
    assert response["Referrer-Policy"] == "no-referrer"
    assert '<meta name="robots" content="noindex, nofollow">' in response.content.decode()


def assert_within_csp(response):
    """Served under the project's CSP, with no inline script or style that it would have to allow."""
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    script_src = next(d for d in policy.split("; ") if d.startswith("script-src "))
    assert script_src.startswith("script-src 'self'") and "unsafe" not in script_src
    html = response.content.decode()
    assert "<script" not in html
    assert "<style" not in html
    assert " style=" not in html
    assert re.findall(r'<link rel="stylesheet" href="([^"]+)"', html) == ["/static/tracking/tracking.css"]
    assert "http://" not in html.replace("https://driver-app.example.com", "")


def test_a_new_order_shows_its_status_town_and_postal_code_only(make_order, client):
    order = make_order("SO-1", required_time_from=time(10, 0), required_time_to=time(12, 0))
    response = page(client, order)

    assert response.status_code == 200
    assert_private(response)
    assert_within_csp(response)
    day = order.required_date
    created = timezone.localtime(StatusChange.objects.get(order=order).at)
    assert text_of(response) == (
        "Delivery tracking Order SO-1 Ready to schedule Your items are ready; we will plan your delivery soon. "
        f"Delivery details Where Birmingham, B2 4QA Requested for {day:%A} {day.day} {day:%B %Y}, 10:00–12:00 "
        f"Timeline Ready to schedule {created.day} {created:%b %Y, %H:%M}"
    )
    html = response.content.decode()
    for secret in ("1 High Street", "07700900123", "ann@example.com", "Ann Smith", order.order_notes or "\x00"):
        assert secret not in html


def test_a_planned_order_shows_its_day_and_eta_window(make_order, client):
    order = make_order("SO-1")
    services.plan_order(order, actor=PLANNER, plan=PLAN)
    text = text_of(page(client, order))
    assert "Order SO-1 Scheduled Your delivery is planned." in text
    assert "Planned for Tuesday 5 March 2030 Expected between 09:00 and 11:00" in text
    assert "Requested for" not in text
    # The route planner's details for the office are not the customer's business.
    assert "BX71 KTP" not in text and "R-01" not in text and "Dee" not in text


def test_a_completed_order_shows_its_proof_of_delivery(make_order, client):
    order = make_order("SO-1")
    services.plan_order(order, actor=PLANNER, plan=PLAN)
    services.start_order(order, actor=PLANNER)
    services.complete_order(order, actor=PLANNER, pod=POD)
    response = page(client, order)
    text = text_of(response)

    assert "Order SO-1 Delivered Your order has been delivered." in text
    assert (
        "Delivered 5 Mar 2030, 09:36 Signed for by Ann Smith Driver's note Placed in the front room. "
        "Proof of delivery Signature Photo 1"
    ) in text
    assert "Expected between" not in text
    assert "distance" not in text.lower()
    html = response.content.decode()
    assert '<a href="https://driver-app.example.com/pod/1/photo-1.jpg" rel="noopener noreferrer">Photo 1</a>' in html
    labels = re.findall(r'<span class="label">([^<]+)</span>', html)
    assert labels == ["Ready to schedule", "Scheduled", "On the way", "Delivered"]


def test_a_failed_delivery_says_we_will_be_in_touch(make_order, client):
    order = make_order("SO-1")
    services.plan_order(order, actor=PLANNER, plan=PLAN)
    services.start_order(order, actor=PLANNER)
    services.fail_order(order, actor=PLANNER, reason_code="NOT-HOME", notes="Gate code wrong, key safe 1234")
    text = text_of(page(client, order))
    assert "Attempted We could not complete the delivery; we will be in touch to arrange another day." in text
    assert "1234" not in text and "NOT-HOME" not in text


def test_a_multi_order_shows_each_leg(make_order, client):
    def leg(sequence, group_type, town):
        address = {"line1": f"{sequence} Leg Road", "town": town, "postal_code": "B2 4QA", "country": "GB"}
        return {"sequence": sequence, "group_type": group_type, "lines": [line(sequence)], "address": address}

    order = make_order(
        "SO-M", order_type="multi", lines=[], groups=[leg(1, "collection", "Solihull"), leg(2, "delivery", "Dudley")]
    )
    services.plan_order(order, actor=PLANNER, plan=PLAN, sequence=1)
    services.start_order(order, actor=PLANNER, sequence=1)
    services.complete_order(order, actor=PLANNER, pod={"signed_by": "Neighbour"}, sequence=1)
    text = text_of(page(client, order))
    assert "Collection 1: Collected Where Solihull, B2 4QA Signed for by Neighbour" in text
    assert "Delivery 2: Ready to schedule Where Dudley, B2 4QA" in text
    assert "Leg Road" not in text


def test_the_orders_tracking_url_leads_to_its_page(make_order, client, alice, alice_api, settings):
    order = make_order("SO-1", client=alice[0])
    tracking_url = alice_api.get("/api/v1/orders/SO-1/").json()["tracking_url"]
    assert tracking_url == f"{settings.PUBLIC_BASE_URL}/track/{order.tracking_token}/"
    assert len(order.tracking_token) >= 22  # at least 128 bits of base64url
    assert "SO-1" not in tracking_url
    assert client.get(tracking_url.removeprefix(settings.PUBLIC_BASE_URL)).status_code == 200


def test_an_unknown_token_is_404_and_says_nothing_more(make_order, client):
    make_order("SO-1")
    for token in ("nope", "SO-1", "x" * 200):
        response = client.get(f"/track/{token}/")
        assert response.status_code == 404
        assert_private(response)
        assert_within_csp(response)
        assert text_of(response) == (
            "Delivery tracking Tracking link not found Check the link in your message; it may have been mistyped."
        )


def test_guessing_tokens_is_rate_limited_per_client_address(make_order, client):
    order = make_order("SO-1")
    guesser = {"REMOTE_ADDR": "203.0.113.9"}
    for n in range(MISSES_ALLOWED):
        assert client.get(f"/track/guess-{n}/", **guesser).status_code == 404
    refused = client.get("/track/guess-last/", **guesser)
    assert refused.status_code == 429
    assert refused["Retry-After"] == "600"
    assert text_of(refused) == (
        "Delivery tracking Too many attempts Too many tracking links were tried from here. Try again later."
    )
    # Even a right token is refused to the guesser for now; everyone else is unaffected.
    assert client.get(f"/track/{order.tracking_token}/", **guesser).status_code == 429
    assert client.get(f"/track/{order.tracking_token}/", REMOTE_ADDR="198.51.100.7").status_code == 200


def test_an_ipv6_guesser_is_counted_by_its_64_network(make_order, client):
    order = make_order("SO-1")
    for n in range(MISSES_ALLOWED):
        assert client.get(f"/track/guess-{n}/", REMOTE_ADDR=f"2001:db8:1:2::{n + 1:x}").status_code == 404
    assert client.get(f"/track/{order.tracking_token}/", REMOTE_ADDR="2001:db8:1:2::ffff").status_code == 429
    assert client.get(f"/track/{order.tracking_token}/", REMOTE_ADDR="2001:db8:1:3::1").status_code == 200


def test_looking_at_a_real_page_does_not_count_as_guessing(make_order, client):
    order = make_order("SO-1")
    for _ in range(MISSES_ALLOWED + 5):
        assert page(client, order).status_code == 200


def test_only_get_and_head_are_allowed(make_order, client):
    order = make_order("SO-1")
    assert client.head(f"/track/{order.tracking_token}/").status_code == 200
    assert client.post(f"/track/{order.tracking_token}/").status_code == 405


@pytest.mark.parametrize("replans", [0, 6])
def test_the_page_takes_three_queries_however_long_the_history(make_order, client, django_assert_num_queries, replans):
    order = make_order("SO-1")
    for n in range(replans):
        services.plan_order(order, actor=PLANNER, plan={**PLAN, "route_ref": f"R-{n}"})
        services.update_order(order, actor=PLANNER, fields={"driver_notes": f"note {n}", "postal_code": f"B{n} 1AA"})
    # The order, its legs, its history.
    with django_assert_num_queries(3):
        assert page(client, order).status_code == 200
