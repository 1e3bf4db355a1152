"""The order detail page and the webhooks app: the page loads the order's deliveries from a webhooks
fragment (orders never imports webhooks), and shows a proof of delivery far from the address in words."""

import pytest

from webhooks import delivery
from webhooks.models import Subscription

from .office_helpers import create_order, fan_out_and_send, text

HOME = {"lat": "52.479700", "lng": "-1.898600"}
COVENTRY = {"lat": 52.4068, "lng": -1.5197}  # about 27 km from HOME
NEXT_DOOR = {"lat": 52.4799, "lng": -1.8989}  # 30 m away


def test_the_detail_page_loads_the_deliveries_fragment_on_load(office, depots):
    create_order("SO-1")
    html = office.get("/orders/SO-1/").content.decode()
    assert '<h2 id="h-webhook-deliveries">Webhook deliveries</h2>' in html
    assert 'hx-get="/webhooks/office/orders/SO-1/deliveries/" hx-trigger="load" hx-swap="outerHTML"' in html


def test_the_fragment_lists_the_orders_deliveries_with_their_last_attempt(admin, outbound, receiver, depots):
    Subscription.objects.create(url=receiver.url, event_types=["*"], description="Warehouse")
    receiver.answers = [(503, {}, b"busy")]
    create_order("SO-1")
    create_order("SO-2")  # another order's deliveries stay off this page
    fan_out_and_send()
    response = admin.get("/webhooks/office/orders/SO-1/deliveries/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response["Vary"].count("HX-Request") == 1
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="order-deliveries">')  # a fragment, not a page
    page = text(response)
    assert page.startswith("Event Receiver State Last attempt order.created")
    assert f"{receiver.url} Pending 1 attempt" in page
    assert "HTTP 503 ·" in page
    assert page.count("order.created") == 1
    assert f'href="/settings/webhooks/{Subscription.objects.get().pk}/"' in html


def test_an_order_without_deliveries_says_so(office, depots):
    create_order("SO-1")
    response = office.get("/webhooks/office/orders/SO-1/deliveries/")
    assert text(response) == "No webhook deliveries for this order."


def test_an_unknown_order_is_404(office, db):
    assert office.get("/webhooks/office/orders/NOPE/deliveries/").status_code == 404


@pytest.mark.parametrize("count", [1, 8])
def test_the_fragment_costs_the_same_queries_however_many_deliveries(office, depots, django_assert_num_queries, count):
    for n in range(count):
        Subscription.objects.create(url=f"https://h{n}.example.com/", event_types=["*"])
    create_order("SO-1")
    delivery.fan_out(delivery.events_not_fanned_out())
    # user, order, deliveries with subscriptions, attempts (the session comes from the cache)
    with django_assert_num_queries(4):
        response = office.get("/webhooks/office/orders/SO-1/deliveries/")
    assert text(response).count("Not tried yet.") == count


def test_a_completion_far_from_the_address_is_shown_in_words(office, planner, depots):
    create_order(
        "SO-1",
        address={**HOME, "line1": "1 High Street", "town": "Birmingham", "postal_code": "B2 4QA", "country": "GB"},
    )
    for name in ("order_planned", "order_in_progress"):
        assert planner.send(name, order_no="SO-1").status_code == 200
    assert (
        planner.send("order_completed", order_no="SO-1", pod={"signed_by": "A. Smith", **COVENTRY}).status_code == 200
    )
    page = text(office.get("/orders/SO-1/"))
    assert "Proof of delivery Completed 26" in page
    assert "m from the delivery address: check with the driver that it reached the right door." in page


def test_a_completion_at_the_door_has_no_warning(office, planner, depots):
    create_order(
        "SO-1",
        address={**HOME, "line1": "1 High Street", "town": "Birmingham", "postal_code": "B2 4QA", "country": "GB"},
    )
    for name in ("order_planned", "order_in_progress"):
        assert planner.send(name, order_no="SO-1").status_code == 200
    assert (
        planner.send("order_completed", order_no="SO-1", pod={"signed_by": "A. Smith", **NEXT_DOOR}).status_code == 200
    )
    page = text(office.get("/orders/SO-1/"))
    assert "Proof of delivery" in page
    assert "from the delivery address" not in page
