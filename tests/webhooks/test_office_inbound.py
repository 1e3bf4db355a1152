"""Inbound sources in the office settings: list with the last event, create and rotate (secret shown
once, and it really signs), deactivate, and the events a source sent with their result and reason."""

import pytest

from webhooks.models import InboundEvent, InboundSource

from .inbound_helpers import Sender, make_source
from .office_helpers import create_order, text


def test_the_list_shows_each_source_with_its_last_event(admin, planner, depots):
    create_order("SO-1")
    assert planner.send("order_in_progress", order_no="SO-1").status_code == 200
    make_source("driver-app")
    response = admin.get("/settings/inbound/")
    assert response.status_code == 200
    page = text(response)
    assert "Inbound sources" in page
    assert "driver-app /webhooks/inbound/driver-app/ Active never never" in page
    last = InboundEvent.objects.get().received_at
    assert f"route-planner /webhooks/inbound/route-planner/ Active {last:%a %-d %b %Y}" in page
    assert "whsec_" not in response.content.decode()


@pytest.mark.parametrize("count", [1, 10])
def test_the_list_costs_the_same_queries_however_many_sources(admin, django_assert_num_queries, count):
    for n in range(count):
        make_source(f"source-{n}")
    # user, sources with their last event (the session comes from the cache)
    with django_assert_num_queries(2):
        response = admin.get("/settings/inbound/")
    assert text(response).count("Rotate secret of") == count


def test_a_new_source_shows_its_secret_once_and_the_secret_signs(admin, depots):
    response = admin.post("/settings/inbound/new/", {"name": "route-planner"})
    assert response.status_code == 200
    source = InboundSource.objects.get()
    assert source.active and source.secret.startswith("whsec_")
    page = text(response)
    assert "The signing secret of route-planner — copy it now. It is shown only this once" in page
    assert "posts to /webhooks/inbound/route-planner/ with it." in page
    assert f'value="{source.secret}"' in response.content.decode()
    assert source.secret not in admin.get("/settings/inbound/").content.decode()
    assert source.secret not in admin.get(f"/settings/inbound/{source.pk}/").content.decode()
    # The secret on the page is the one the receiving end checks.
    create_order("SO-1")
    assert Sender(source, source.secret).send("order_in_progress", order_no="SO-1").status_code == 200


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("route planner", "Use only letters, digits, hyphens or underscores: the name is part of a URL."),
        ("", "This field is required."),
        ("x" * 51, "Ensure this value has at most 50 characters (it has 51)."),
        ("taken", "An inbound source with this name already exists."),
    ],
)
def test_a_bad_name_is_answered_beside_the_field(admin, name, words):
    make_source("taken")
    response = admin.post("/settings/inbound/new/", {"name": name})
    assert response.status_code == 422
    assert words in text(response)
    assert 'id="id_name_error"' in response.content.decode()
    assert list(InboundSource.objects.values_list("name", flat=True)) == ["taken"]
    assert "whsec_" not in response.content.decode()


def test_rotation_shows_the_new_secret_once_and_the_old_one_stops_working(admin, planner, depots):
    create_order("SO-1")
    old = planner.secret
    response = admin.post(f"/settings/inbound/{planner.source.pk}/rotate/")
    assert response.status_code == 200
    planner.source.refresh_from_db()
    new = planner.source.secret
    assert new != old and planner.source.rotated_at is not None
    assert "The new signing secret of route-planner — copy it now." in text(response)
    assert "Requests signed with the old secret are refused from now on." in text(response)
    assert f'value="{new}"' in response.content.decode()
    assert planner.send("order_in_progress", order_no="SO-1").status_code == 401
    assert Sender(planner.source, new).send("order_in_progress", order_no="SO-1").status_code == 200
    assert new not in admin.get("/settings/inbound/").content.decode()


def test_a_deactivated_source_is_refused_and_can_be_activated_again(admin, planner, depots):
    create_order("SO-1")
    response = admin.post(f"/settings/inbound/{planner.source.pk}/active/", {"active": "false"})
    assert response.status_code == 302
    planner.source.refresh_from_db()
    assert not planner.source.active
    page = text(admin.get("/settings/inbound/"))
    assert "Inbound source route-planner is deactivated: its events are refused." in page
    assert "route-planner /webhooks/inbound/route-planner/ Deactivated" in page
    assert planner.send("order_in_progress", order_no="SO-1").status_code >= 400
    admin.post(f"/settings/inbound/{planner.source.pk}/active/", {"active": "true"})
    planner.source.refresh_from_db()
    assert planner.source.active
    assert planner.send("order_in_progress", order_no="SO-1").status_code == 200


def test_the_events_page_shows_each_result_and_why(admin, planner, depots):
    create_order("SO-1")
    assert planner.send("order_planned", order_no="SO-1", webhook_id="msg_one").status_code == 200
    assert planner.send("order_planned", order_no="SO-1", webhook_id="msg_one").status_code == 200
    assert planner.send("order_in_progress", order_no="SO-404", webhook_id="msg_two").status_code in (404, 422)
    response = admin.get(f"/settings/inbound/{planner.source.pk}/")
    assert response.status_code == 200
    page = text(response)
    assert "Events from route-planner" in page
    assert "2 events kept, newest first" in page
    applied, refused = InboundEvent.objects.get(webhook_id="msg_one"), InboundEvent.objects.get(webhook_id="msg_two")
    assert (
        f"order.planned msg_one SO-1 Applied HTTP 200 Sent again 1 time: each copy answered as a duplicate. "
        f"{applied.reason}" in page
    )
    assert f"order.in_progress msg_two — {refused.get_result_display()} HTTP {refused.response_status}" in page
    assert refused.reason == '{"detail": "There is no order SO-404."}'
    assert "Rejected HTTP 404 There is no order SO-404." in page  # the words, not the JSON
    assert 'href="/orders/SO-1/"' in response.content.decode()


def test_the_events_page_costs_the_same_queries_whatever_its_size(admin, planner, depots, django_assert_num_queries):
    create_order("SO-1")
    sizes = []
    for batch in (1, 6):
        while InboundEvent.objects.count() < batch:
            planner.send("order_in_progress", order_no="SO-1")
        # user, source, count, events with their orders (the session comes from the cache)
        with django_assert_num_queries(4):
            response = admin.get(f"/settings/inbound/{planner.source.pk}/")
        sizes.append(text(response).count("order.in_progress msg_"))
    assert sizes == [1, 6]


def test_unknown_sources_are_404(admin):
    assert admin.get("/settings/inbound/999/").status_code == 404
    assert admin.post("/settings/inbound/999/rotate/").status_code == 404
    assert admin.post("/settings/inbound/999/active/", {"active": "false"}).status_code == 404
