"""The order pages: list (filters, paging, polling), create/edit, detail actions and inline notes."""

from datetime import date, timedelta

import pytest
from django.core.cache import cache
from django.template import Context, Template
from django.test import Client

from orders import services
from orders.domain import Actor
from orders.models import NoteChange, Order, StatusChange

HX = {"HX-Request": "true", "HX-Current-URL": "http://testserver/orders/"}


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()


def form_data(order_no="SO-9", **overrides):
    data = {
        "order_no": order_no,
        "order_type": "delivery",
        "customer_name": "Ann Smith",
        "customer_email": "ann@example.com",
        "line1": "1 High Street",
        "town": "Birmingham",
        "postal_code": "b2 4qa",
        "country": "GB",
        "required_date": (date.today() + timedelta(days=5)).isoformat(),
        "lines-0-line_no": "1",
        "lines-0-sku": "SOFA-3",
        "lines-0-quantity": "1",
        "lines-0-stock_location": "MAN",
        "lines-0-delivery_method": "BHM-VANS",
        "lines-1-line_no": "2",
        "lines-1-sku": "CHAIR",
        "lines-1-quantity": "2",
        "lines-1-stock_location": "BHM",
        "lines-1-delivery_method": "BHM-VANS",
    }
    data.update(overrides)
    return data


# --- List ---------------------------------------------------------------------------------------


def test_list_filters_by_search_status_and_type(office, make_order):
    make_order("SO-1", customer={"name": "Ann Smith"}, customer_reference="REF-77")
    make_order("SO-2", customer={"name": "Bob Jones"})
    page = office.get("/orders/", {"q": "bob"}).content.decode()
    assert 'href="/orders/SO-2/"' in page and 'href="/orders/SO-1/"' not in page
    page = office.get("/orders/", {"q": "REF-7"}).content.decode()
    assert 'href="/orders/SO-1/"' in page and 'href="/orders/SO-2/"' not in page
    page = office.get("/orders/", {"q": "B2 4QA"}).content.decode()
    assert 'href="/orders/SO-1/"' in page and 'href="/orders/SO-2/"' in page
    page = office.get("/orders/", {"status": "cancelled"}).content.decode()
    assert "No orders match these filters." in page


def test_list_filters_through_lines_without_repeating_orders(office, make_order):
    from tests.conftest import line

    make_order("SO-1", lines=[line(1, stock_location="MAN"), line(2, stock_location="MAN")])
    make_order("SO-2")
    page = office.get("/orders/", {"stock_location": "MAN"}).content.decode()
    assert page.count('href="/orders/SO-1/"') == 1 and 'href="/orders/SO-2/"' not in page


def test_bad_filter_values_are_reported_beside_the_field(office, make_order):
    make_order("SO-1")
    response = office.get("/orders/", {"required_from": "soon", "status": "lost"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Enter a valid date." in page
    assert "Select a valid choice. lost is not one of the available choices." in page
    assert 'href="/orders/SO-1/"' not in page


def test_pages_come_without_counting_the_table(office, make_order):
    for n in range(5):
        make_order(f"SO-{n}")
    first = office.get("/orders/", {"per_page": 25, "sort": "order_no"}).content.decode()
    assert "Next page" not in first
    for n in range(5, 30):
        make_order(f"SO-{n:02d}")
    first = office.get("/orders/", {"per_page": 25, "sort": "order_no"}).content.decode()
    assert 'rel="next" href="?per_page=25&amp;sort=order_no&amp;page=2"' in first
    second = office.get("/orders/", {"per_page": 25, "sort": "order_no", "page": 2}).content.decode()
    assert "Next page" not in second and "Previous page" in second


@pytest.mark.parametrize("order_no", ["SO-1", "ab.c_d-1~", 'A&B <x> "q"', "Ünï côdé 7", "x'y+;=@:~"])
def test_a_list_row_links_and_notes_as_url_and_the_note_display_do(office, make_order, order_no):
    """The rows are built in Python (orders/templatetags/portal.py): the same text as `{% url %}` and
    the inline notes' own display, for a plain order number and for ones to quote and escape."""
    make_order(order_no, driver_notes="Ring <twice> & wait", location_instructions="")
    page = office.get("/orders/").content.decode()
    context = Context({"n": order_no, "notes": "Ring <twice> & wait"})
    for cell in (
        "<td><a href=\"{% url 'orders:order_detail' n %}\">{{ n }}</a></td>",
        "{% note_display n 'driver_notes' notes True %}",
        "{% note_display n 'location_instructions' '' True %}",
    ):
        assert Template("{% load portal %}" + cell).render(context) in page


@pytest.mark.parametrize("per_page", [25, 100])
def test_list_query_count_does_not_grow_with_the_page(office, make_order, django_assert_num_queries, per_page):
    for n in range(30):
        make_order(f"SO-{n:02d}")
    office.get("/orders/")  # warm the per-status counts cache
    # user, latest change (ETag), the page of orders; the session and the status counts come from the cache.
    with django_assert_num_queries(3):
        response = office.get("/orders/", {"per_page": per_page}, headers=HX)
    assert response.status_code == 200


def test_htmx_gets_the_results_fragment_and_vary(office, make_order):
    make_order("SO-1")
    full = office.get("/orders/")
    part = office.get("/orders/", headers=HX)
    assert "<html" in full.content.decode() and "<html" not in part.content.decode()
    assert part.content.decode().lstrip().startswith('<div id="order-results">')
    assert "HX-Request" in full["Vary"] and "HX-Request" in part["Vary"]


def test_polling_gets_304_until_an_order_changes(office, make_order):
    order = make_order("SO-1")
    etag = office.get("/orders/", headers=HX)["ETag"]
    unchanged = office.get("/orders/", headers={**HX, "If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    services.update_order(order, actor=Actor.system(), fields={"driver_notes": "Ring twice"})
    changed = office.get("/orders/", headers={**HX, "If-None-Match": etag})
    assert changed.status_code == 200 and "Ring twice" in changed.content.decode()


def test_the_full_pages_etag_read_with_the_select_options_is_the_pollers(office, make_order):
    # A full page reads its latest change in the statement of the select options; the poller's
    # fragment reads it alone: the two must give the same ETag, or the first poll never gets 304.
    order = make_order("SO-1")
    full = office.get("/orders/", {"status": "ready"})
    etag = full["ETag"]
    assert f'{{"If-None-Match": "\\u0022{etag[1:-1]}\\u0022"}}' in full.content.decode()
    poll = office.get("/orders/", {"status": "ready"}, headers={**HX, "If-None-Match": etag})
    assert poll.status_code == 304
    services.update_order(order, actor=Actor.system(), fields={"driver_notes": "Ring twice"})
    assert office.get("/orders/", {"status": "ready"})["ETag"] != etag


def test_per_status_counts_are_shown(office, make_order):
    make_order("SO-1")
    make_order("SO-2")
    assert '<span class="badge badge-green">Ready to plan 2</span>' in office.get("/orders/").content.decode()


# --- Create and edit ----------------------------------------------------------------------------


def test_create_an_order_with_two_lines_one_needing_a_movement(office, office_user, depots):
    response = office.post("/orders/new/", form_data())
    assert response.status_code == 302 and response["Location"] == "/orders/SO-9/"
    order = Order.objects.get(order_no="SO-9")
    assert order.source_user == office_user and order.postal_code == "B2 4QA"
    assert order.status == Order.Status.AWAITING_STOCK
    assert [(m.from_location.code, m.to_location.code) for m in order.movements.all()] == [("MAN", "BHM")]
    page = office.get("/orders/SO-9/").content.decode()
    assert "MAN → BHM" in page and "Order SO-9 created." in page


def test_htmx_create_answers_with_hx_location(office, depots):
    response = office.post("/orders/new/", form_data(), headers=HX)
    assert response.status_code == 200
    assert '"path": "/orders/SO-9/"' in response["HX-Location"]


def test_bad_values_are_shown_beside_their_fields_and_kept(office, depots):
    data = form_data(
        customer_name="",
        postal_code="NOT A CODE",
        **{"lines-1-quantity": "0", "lines-1-sku": "CHAIR-typed", "lines-0-stock_location": "XXX"},
    )
    response = office.post("/orders/new/", data)
    assert response.status_code == 422
    page = response.content.decode()
    assert 'id="id_customer_name_error"><li>This field is required.</li>' in page
    assert 'id="id_lines-1-quantity_error"><li>Ensure this value is greater than or equal to 1.</li>' in page
    assert 'id="id_lines-0-stock_location_error"><li>Select a valid choice.' in page
    assert 'value="CHAIR-typed"' in page
    assert not Order.objects.exists()


def test_domain_errors_come_from_the_api_rules(office, make_order):
    make_order("SO-9")
    response = office.post("/orders/new/", form_data(postal_code="12345"))
    page = response.content.decode()
    assert response.status_code == 422
    assert 'id="id_postal_code_error"' in page
    response = office.post("/orders/new/", form_data())
    assert response.status_code == 422
    assert 'id="id_order_no_error"><li>An order with order_no SO-9 already exists.</li>' in response.content.decode()
    response = office.post("/orders/new/", form_data(order_no="A/B"))
    assert 'id="id_order_no_error"' in response.content.decode()


def test_multi_order_with_legs_in_one_form(office, depots):
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    data = form_data(order_type="multi", line1="", postal_code="", town="")
    data.update(
        {
            "lines-0-sequence": "1",
            "lines-1-sequence": "2",
            "groups-0-sequence": "1",
            "groups-0-group_type": "delivery",
            "groups-0-line1": "1 High Street",
            "groups-0-postal_code": "B2 4QA",
            "groups-0-country": "GB",
            "groups-0-required_date": tomorrow,
            "groups-1-sequence": "2",
            "groups-1-group_type": "delivery",
            "groups-1-line1": "9 Low Road",
            "groups-1-postal_code": "M1 1AA",
            "groups-1-country": "GB",
        }
    )
    response = office.post("/orders/new/", data)
    assert response.status_code == 302, response.content.decode()
    order = Order.objects.get(order_no="SO-9")
    assert [g.postal_code for g in order.groups.all()] == ["B2 4QA", "M1 1AA"]
    assert order.lines.get(line_no=2).group.sequence == 2


def test_add_line_row_moves_the_counters_on(office, depots):
    response = office.get("/orders/new/line-row/", {"lines-next": 2, "lines-next-no": 3}, headers=HX)
    page = response.content.decode()
    assert 'name="lines-2-line_no" value="3"' in page
    assert 'id="lines-next" name="lines-next" value="3" hx-swap-oob="true"' in page


def test_trunking_hint_comes_from_the_rule(office, depots):
    on = (date.today() + timedelta(days=3)).isoformat()
    response = office.get(
        "/orders/trunking-hint/",
        {
            "prefix": "lines-0",
            "lines-0-stock_location": "MAN",
            "lines-0-delivery_method": "BHM-VANS",
            "lines-0-on_hand_date": on,
        },
    )
    due = date.today() + timedelta(days=5)
    assert response.content.decode() == (
        f'<span class="hint-movement">Needs a movement MAN → BHM, due {due:%a} {due.day} {due:%b}</span>'
    )
    same = office.get(
        "/orders/trunking-hint/",
        {"prefix": "lines-0", "lines-0-stock_location": "BHM", "lines-0-delivery_method": "BHM-VANS"},
    )
    assert same.content.decode() == "<span>No movement: stock is at BHM.</span>"
    assert office.get("/orders/trunking-hint/", {"prefix": "x"}).status_code == 400


def test_edit_saves_through_the_service(office, make_order):
    order = make_order("SO-1")
    page = office.get("/orders/SO-1/edit/").content.decode()
    assert 'name="version" value="1"' in page
    data = form_data(customer_name="Ann Jones", version="1")
    data.pop("order_no")
    data.pop("order_type")
    response = office.post("/orders/SO-1/edit/", data)
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.customer_name == "Ann Jones" and order.version == 2
    assert sorted(order.lines.values_list("sku", flat=True)) == ["CHAIR", "SOFA-3"]


def test_a_stale_save_is_refused_and_shows_what_differs(office, make_order):
    order = make_order("SO-1")
    services.update_order(order, actor=Actor.system(), fields={"customer_name": "Changed Elsewhere"})
    data = form_data(customer_name="Ann Mine", version="1")
    data.pop("order_no")
    data.pop("order_type")
    response = office.post("/orders/SO-1/edit/", data)
    assert response.status_code == 409
    page = response.content.decode()
    assert "Not saved: someone else changed this order after you opened it." in page
    assert "<tr><td>Customer name</td><td>Changed Elsewhere</td><td>Ann Mine</td></tr>" in page
    assert 'name="version" value="2"' in page
    order.refresh_from_db()
    assert order.customer_name == "Changed Elsewhere"


# --- Detail, actions, notes ---------------------------------------------------------------------


def test_detail_shows_everything_with_constant_queries(office, make_order, django_assert_max_num_queries):
    make_order("SO-1")
    with django_assert_max_num_queries(12):
        page = office.get("/orders/SO-1/").content.decode()
    assert "Status timeline" in page and "Order created." in page
    assert "/track/" in page and 'data-copy="tracking-url"' in page
    assert office.get("/orders/NOPE/").status_code == 404


def test_hand_status_moves_only_within_the_allowed_transitions(office, make_order):
    order = make_order("SO-1")
    page = office.get("/orders/SO-1/").content.decode()
    assert '<option value="planned">Planned</option>' in page
    assert '<option value="completed">' not in page
    refused = office.post("/orders/SO-1/status/", {"target": "completed", "reason": "x", "version": 1})
    assert refused.status_code == 409
    assert "cannot become completed by hand" in refused.content.decode()
    response = office.post("/orders/SO-1/status/", {"target": "planned", "reason": "Route 7 tomorrow", "version": 1})
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == Order.Status.PLANNED
    last = StatusChange.objects.filter(order=order, subject="order").last()
    assert (last.actor_label, last.note) == ("olive", "By hand: Route 7 tomorrow")


def test_failing_by_hand_needs_a_failure_reason(office, make_order):
    order = make_order("SO-1")
    services.plan_order(order, actor=Actor.system())
    services.start_order(order, actor=Actor.system())
    response = office.post("/orders/SO-1/status/", {"target": "failed", "reason": "Nobody in"})
    assert response.status_code == 409
    response = office.post(
        "/orders/SO-1/status/", {"target": "failed", "reason": "Nobody in", "failure_reason": "NOT-HOME"}
    )
    assert response.status_code == 302
    assert Order.objects.get(pk=order.pk).status == Order.Status.FAILED


def test_cancel_from_the_detail_page(office, make_order):
    order = make_order("SO-1")
    response = office.post("/orders/SO-1/cancel/", {"reason": "Customer rang", "version": 1}, headers=HX)
    assert response.status_code == 200 and "HX-Location" in response
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    again = office.post("/orders/SO-1/cancel/", {"reason": "again"})
    assert again.status_code == 409
    assert "The order is cancelled; it cannot become cancelled from there." in again.content.decode()


def test_inline_note_editor_get_post_and_who_changed_it(office, make_order):
    order = make_order("SO-1")
    editor = office.get("/orders/SO-1/notes/driver_notes/", headers=HX).content.decode()
    assert "data-inline-editor" in editor and "data-cancel" in editor
    response = office.post(
        "/orders/SO-1/notes/driver_notes/", {"value": "Side gate, ring twice", "original": ""}, headers=HX
    )
    assert response.status_code == 200
    shown = response.content.decode()
    assert "Side gate, ring twice" in shown and "Changed by olive" in shown and "<form" not in shown
    change = NoteChange.objects.get(order=order)
    assert (change.field, change.previous_value, change.value, change.actor_label) == (
        "driver_notes",
        "",
        "Side gate, ring twice",
        "olive",
    )
    assert Order.objects.get(pk=order.pk).version == 2
    display = office.get("/orders/SO-1/notes/driver_notes/", {"show": 1}, headers=HX).content.decode()
    assert "Side gate, ring twice" in display and "<form" not in display


def test_note_changed_by_someone_else_meanwhile_is_not_overwritten(office, make_order):
    order = make_order("SO-1")
    services.update_notes(order, actor=Actor.system(), field="driver_notes", value="Theirs")
    response = office.post("/orders/SO-1/notes/driver_notes/", {"value": "Mine", "original": ""}, headers=HX)
    assert response.status_code == 409
    page = response.content.decode()
    assert "Someone else changed this note" in page and ">Theirs</textarea>" in page and "Mine" in page
    assert Order.objects.get(pk=order.pk).driver_notes == "Theirs"


def test_non_htmx_note_post_redirects_and_unknown_fields_404(office, make_order):
    make_order("SO-1")
    response = office.post("/orders/SO-1/notes/location_instructions/", {"value": "Back door", "original": ""})
    assert response.status_code == 302 and response["Location"] == "/orders/SO-1/"
    assert office.get("/orders/SO-1/notes/order_notes/").status_code == 404
    assert Client().get("/orders/SO-1/notes/driver_notes/").status_code == 302


def test_sorting_by_a_column_twice_reverses_it(office, make_order):
    make_order("SO-A")
    make_order("SO-B")
    page = office.get("/orders/", {"sort": "order_no"}).content.decode()
    assert page.index('href="/orders/SO-A/"') < page.index('href="/orders/SO-B/"')
    assert '<th scope="col" aria-sort="ascending"><a href="?sort=-order_no"' in page
    page = office.get("/orders/", {"sort": "-order_no"}).content.decode()
    assert page.index('href="/orders/SO-B/"') < page.index('href="/orders/SO-A/"')
    assert '<th scope="col" aria-sort="descending"><a href="?sort=order_no"' in page


def test_status_counts_follow_changes_but_not_more_often_than_the_floor(office, make_order):
    import time_machine
    from django.utils import timezone

    order = make_order("SO-1")
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        assert "Ready to plan 1</span>" in office.get("/orders/").content.decode()
        services.cancel_order(order, actor=Actor.system())
        # Within the floor the cached counts stand, even though an order changed.
        assert "Ready to plan 1</span>" in office.get("/orders/").content.decode()
        traveller.shift(11)
        page = office.get("/orders/").content.decode()
        assert "Ready to plan 0</span>" in page and "Cancelled 1</span>" in page


def test_location_instructions_are_edited_from_the_list_too(office, make_order):
    make_order("SO-1")
    page = office.get("/orders/").content.decode()
    assert 'hx-get="/orders/SO-1/notes/location_instructions/?labelled=1"' in page
    editor = office.get("/orders/SO-1/notes/location_instructions/", {"labelled": 1}, headers=HX).content.decode()
    assert '<input type="hidden" name="labelled" value="1">' in editor
    shown = office.post(
        "/orders/SO-1/notes/location_instructions/",
        {"value": "Back door", "original": "", "labelled": "1"},
        headers=HX,
    ).content.decode()
    assert '<span class="note-label">Location:</span>' in shown and "Back door" in shown
    assert Order.objects.get(order_no="SO-1").location_instructions == "Back door"


@pytest.mark.parametrize("page", ["abc", "-3", "0", "1" + "0" * 30])
def test_odd_page_numbers_show_the_first_page(office, make_order, page):
    make_order("SO-1")
    response = office.get("/orders/", {"page": page, "per_page": "7"})
    assert response.status_code == 200
    assert 'href="/orders/SO-1/"' in response.content.decode()


def test_a_status_move_without_a_reason_is_a_400(office, make_order):
    make_order("SO-1")
    response = office.post("/orders/SO-1/status/", {"target": "planned", "reason": ""})
    assert response.status_code == 400
    assert "Choose the new status and write the reason." in response.content.decode()
    assert Order.objects.get(order_no="SO-1").status == Order.Status.READY


def test_add_a_line_without_javascript_posts_the_form_back_with_one_more_row(office, depots):
    data = form_data(add_line="1", customer_name="Typed So Far")
    response = office.post("/orders/new/", data)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="lines-2-line_no" value="3"' in page and 'value="Typed So Far"' in page
    assert "Not saved yet" not in page
    assert not Order.objects.exists()


def test_editing_a_multi_order_changes_its_legs_through_the_services(office, depots):
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    data = form_data(order_type="multi", line1="", postal_code="", town="")
    legs = {
        "lines-0-sequence": "1",
        "lines-1-sequence": "2",
        "groups-0-sequence": "1",
        "groups-0-group_type": "delivery",
        "groups-0-line1": "1 High Street",
        "groups-0-postal_code": "B2 4QA",
        "groups-0-country": "GB",
        "groups-0-required_date": tomorrow,
        "groups-1-sequence": "2",
        "groups-1-group_type": "delivery",
        "groups-1-line1": "9 Low Road",
        "groups-1-postal_code": "M1 1AA",
        "groups-1-country": "GB",
    }
    assert office.post("/orders/new/", {**data, **legs}).status_code == 302
    page = office.get("/orders/SO-9/edit/").content.decode()
    assert 'name="groups-1-postal_code" value="M1 1AA"' in page and 'name="lines-1-sequence" value="2"' in page
    edit = {k: v for k, v in {**data, **legs}.items() if k not in ("order_no", "order_type")}
    edit.update({"version": "1", "groups-1-postal_code": "m2 2bb", "groups-1-group_type": "collection"})
    response = office.post("/orders/SO-9/edit/", edit)
    assert response.status_code == 302, response.content.decode()
    order = Order.objects.get(order_no="SO-9")
    leg = order.groups.get(sequence=2)
    assert (leg.postal_code, leg.group_type) == ("M2 2BB", "collection")
    bad = {**edit, "version": str(order.version), "groups-1-postal_code": "NOPE"}
    response = office.post("/orders/SO-9/edit/", bad)
    assert response.status_code == 422
    assert 'id="id_groups-1-postal_code_error"' in response.content.decode()
    assert order.groups.get(sequence=2).postal_code == "M2 2BB"
