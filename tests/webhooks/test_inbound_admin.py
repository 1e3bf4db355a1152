"""Inbound sources and events in the Django admin: the secret shown once, events read only."""

import re

import pytest
from django.contrib.messages import get_messages

from webhooks.models import InboundEvent, InboundSource

from .inbound_helpers import payload


def shown_secrets(response):
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    return [re.search(r"(whsec_\S+)$", m).group(1) for m in messages if "whsec_" in m]


def test_adding_a_source_shows_its_secret_once(admin_client):
    response = admin_client.post("/admin/webhooks/inboundsource/add/", {"name": "driver-app", "active": "on"})
    assert response.status_code == 302
    source = InboundSource.objects.get()
    assert shown_secrets(response) == [source.secret]
    first = admin_client.get(f"/admin/webhooks/inboundsource/{source.pk}/change/").content.decode()
    again = admin_client.get(f"/admin/webhooks/inboundsource/{source.pk}/change/").content.decode()
    assert source.secret in first  # the one-time message, shown after the redirect
    assert source.secret not in again


def test_the_rotate_action_gives_new_secrets(admin_client, planner):
    old = planner.source.secret
    response = admin_client.post(
        "/admin/webhooks/inboundsource/",
        {"action": "rotate_secret", "_selected_action": [planner.source.pk]},
    )
    planner.source.refresh_from_db()
    assert shown_secrets(response) == [planner.source.secret] != [old]
    assert planner.source.rotated_at is not None


@pytest.mark.parametrize("events", [1, 12])
def test_the_event_list_takes_a_fixed_number_of_queries(
    admin_client, make_order, planner, django_assert_num_queries, events
):
    make_order("SO-1")
    for n in range(events):
        planner.post(payload("order_planned", route_ref=f"R-{n}"))
    admin_client.get("/admin/webhooks/inboundevent/")  # warms the session
    # User, the source filter, two counts, the page (with source and order), the type filter, the date
    # hierarchy's range and days: eight, and none per row (the session comes from the cache).
    with django_assert_num_queries(8):
        response = admin_client.get("/admin/webhooks/inboundevent/")
    assert response.status_code == 200
    assert response.content.decode().count('class="field-webhook_id"') == events


def test_events_are_records_that_cannot_be_changed(admin_client, make_order, planner):
    make_order("SO-1")
    planner.send("order_planned")
    event = InboundEvent.objects.get()
    assert admin_client.get(f"/admin/webhooks/inboundevent/{event.pk}/change/").status_code == 200
    response = admin_client.post(f"/admin/webhooks/inboundevent/{event.pk}/change/", {"result": "ignored"})
    assert response.status_code == 403
    assert admin_client.post(f"/admin/webhooks/inboundevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin_client.get("/admin/webhooks/inboundevent/add/").status_code == 403
    assert InboundEvent.objects.get().result == "applied"
