"""GET /api/v1/stock-movements/ and dispatch/receive (docs/trunking.md, docs/api.md)."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from orders import services
from orders.domain import Actor
from orders.models import OutboxEvent, StatusChange, StockMovement
from tests.conftest import day, line

URL = "/api/v1/stock-movements/"
INSTANT_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def ref(order_no, from_location):
    return StockMovement.objects.get(order__order_no=order_no, from_location__code=from_location).reference


def counts():
    return {m.__name__: m.objects.count() for m in (StockMovement, StatusChange, OutboxEvent)}


@pytest.fixture
def alice_client(alice):
    return alice[0]


@pytest.fixture
def board(alice_client, bob, make_order):
    """Alice's movements on three lanes, one dispatched, one cancelled; and one of Bob's."""
    make_order("SO-1", client=alice_client, lines=[line(1, "MAN", quantity=2), line(2, "LDS")])
    make_order("SO-2", client=alice_client, lines=[line(1, "MAN", on_hand_date=day(5).isoformat())])
    make_order("SO-3", client=alice_client, lines=[line(1, "BHM", "LDS-VANS")])
    services.cancel_order(
        make_order("SO-4", client=alice_client, lines=[line(1, "LDS", on_hand_date=day(1).isoformat())]),
        actor=Actor.system(),
    )
    services.dispatch_movement(ref("SO-1", "LDS"), actor=Actor.system())
    make_order("BOB-1", client=bob[0], lines=[line(1, "MAN")])


def listed(response):
    return [(m["order_no"], m["from_location"], m["to_location"]) for m in response.json()["results"]]


# In ship date order, then creation order.
EVERY = [
    ("SO-1", "MAN", "BHM"),
    ("SO-1", "LDS", "BHM"),
    ("SO-3", "BHM", "LDS"),
    ("SO-4", "LDS", "BHM"),
    ("SO-2", "MAN", "BHM"),
]


def test_the_movement_list_is_a_page_of_whole_movements(alice_api, board):
    response = alice_api.get(URL)

    assert response.status_code == 200
    page = response.json()
    assert (page["next"], page["previous"]) == (None, None)
    assert listed(response) == EVERY
    first = page["results"][0]
    assert INSTANT_RE.match(first.pop("created_at"))
    assert INSTANT_RE.match(first.pop("updated_at"))
    assert first == {
        "reference": ref("SO-1", "MAN"),
        "order_no": "SO-1",
        "from_location": "MAN",
        "to_location": "BHM",
        "status": "pending",
        "ship_date": day(0).isoformat(),
        "due_date": day(2).isoformat(),
        "version": 1,
        "lines": [{"line_no": 1, "sku": "SKU-1", "quantity": 2}],
    }
    by_ref = {m["reference"]: m for m in page["results"]}
    assert (by_ref[ref("SO-2", "MAN")]["ship_date"], by_ref[ref("SO-2", "MAN")]["due_date"]) == (
        day(5).isoformat(),
        day(7).isoformat(),
    )
    # No lane BHM→LDS: the default of one day.
    assert (by_ref[ref("SO-3", "BHM")]["ship_date"], by_ref[ref("SO-3", "BHM")]["due_date"]) == (
        day(0).isoformat(),
        day(1).isoformat(),
    )
    assert [by_ref[ref(o, f)]["status"] for o, f, _ in EVERY] == [
        "pending",
        "dispatched",
        "pending",
        "cancelled",
        "pending",
    ]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "pending"}, [EVERY[0], EVERY[2], EVERY[4]]),
        ({"status": "dispatched"}, [EVERY[1]]),
        ({"status": "cancelled"}, [EVERY[3]]),
        ({"status": "received"}, []),
        ({"status": "pending,dispatched"}, [EVERY[0], EVERY[1], EVERY[2], EVERY[4]]),
        ({"from_location": "MAN"}, [EVERY[0], EVERY[4]]),
        ({"from_location": "LDS"}, [EVERY[1], EVERY[3]]),
        ({"to_location": "LDS"}, [EVERY[2]]),
        ({"to_location": "BHM", "from_location": "MAN", "status": "pending"}, [EVERY[0], EVERY[4]]),
        ({"to_location": "MAN"}, []),
        ({"ship_date": "{today}"}, [EVERY[0], EVERY[1], EVERY[2]]),
        ({"ship_date": "{in5}"}, [EVERY[4]]),
        ({"ship_date_from": "{tomorrow}"}, [EVERY[3], EVERY[4]]),
        ({"ship_date_to": "{tomorrow}"}, EVERY[:4]),
        ({"ship_date_from": "{tomorrow}", "ship_date_to": "{tomorrow}"}, [EVERY[3]]),
    ],
)
def test_each_movement_filter_returns_exactly_the_matching_movements(alice_api, board, params, expected):
    dates = {"today": day(0).isoformat(), "tomorrow": day(1).isoformat(), "in5": day(5).isoformat()}
    params = {k: v.format(**dates) for k, v in params.items()}

    response = alice_api.get(URL, params)

    assert response.status_code == 200
    assert listed(response) == expected


def test_the_movement_list_pages_with_a_cursor(alice_api, board):
    first = alice_api.get(URL, {"page_size": 2})
    second = alice_api.get(first.json()["next"])
    third = alice_api.get(second.json()["next"])

    assert listed(first) + listed(second) + listed(third) == EVERY
    assert third.json()["next"] is None


@pytest.mark.parametrize(
    ("params", "errors"),
    [
        ({"status": "lost"}, {"status": ["Choose from: pending, dispatched, received, cancelled."]}),
        ({"status": "pending,lost"}, {"status": ["Choose from: pending, dispatched, received, cancelled."]}),
        ({"from_location": "XXX"}, {"from_location": ["Unknown stock location code 'XXX'."]}),
        ({"to_location": "XXX"}, {"to_location": ["Unknown stock location code 'XXX'."]}),
        (
            {"from_location": "\x00"},
            {"from_location": ["Not a valid stock location code."]},
        ),
        (
            {"ship_date": "2026-13-45"},
            {"ship_date": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]},
        ),
        (
            {"ship_date_from": "tomorrow"},
            {"ship_date_from": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]},
        ),
        (
            {"ship_date_to": "27/11/2026"},
            {"ship_date_to": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]},
        ),
    ],
)
def test_bad_movement_filter_values_are_refused_with_400(alice_api, board, params, errors):
    response = alice_api.get(URL, params)

    assert response.status_code == 400
    assert response.json() == {"errors": errors}


# Authentication (1), the page with each movement's depots and order (1), and the movements' lines (1).
LIST_QUERIES = 3


def test_the_movement_list_takes_the_same_number_of_queries_for_few_and_many(
    alice_api, alice_client, make_order, django_assert_num_queries
):
    def make(start, count):
        for n in range(start, start + count):
            make_order(f"Q-{n}", client=alice_client, lines=[line(1, "MAN"), line(2, "LDS"), line(3, "LDS")])

    make(0, 3)
    alice_api.get(URL)  # records the key's first use, a write that happens once
    with django_assert_num_queries(LIST_QUERIES):
        few = alice_api.get(URL)
    make(3, 12)
    with django_assert_num_queries(LIST_QUERIES):
        many = alice_api.get(URL)
    with django_assert_num_queries(LIST_QUERIES + 1):  # + checking the depot code
        filtered = alice_api.get(URL, {"from_location": "LDS", "status": "pending"})

    assert (len(few.json()["results"]), len(many.json()["results"]), len(filtered.json()["results"])) == (6, 30, 15)


# --- Dispatch and receive -----------------------------------------------------------------------


def test_dispatching_then_receiving_the_last_movement_makes_the_order_ready(alice_api, alice_client, make_order):
    make_order("SO-1", client=alice_client, lines=[line(1, "MAN")])
    reference = ref("SO-1", "MAN")

    dispatched = alice_api.post(f"{URL}{reference}/dispatch/", {"note": "On the 06:00 trunk."})
    waiting = alice_api.get("/api/v1/orders/SO-1/").json()["status"]
    received = alice_api.post(f"{URL}{reference}/receive/")

    assert dispatched.status_code == 200
    assert dispatched.headers["ETag"] == '"2"'
    assert {k: dispatched.json()[k] for k in ("reference", "order_no", "status", "version")} == {
        "reference": reference,
        "order_no": "SO-1",
        "status": "dispatched",
        "version": 2,
    }
    assert waiting == "awaiting_stock"
    assert received.status_code == 200
    assert received.headers["ETag"] == '"3"'
    assert (received.json()["status"], received.json()["version"]) == ("received", 3)
    status = alice_api.get("/api/v1/orders/SO-1/status/").json()
    assert status["status"] == "ready"
    assert [(m["reference"], m["status"]) for m in status["movements"]] == [(reference, "received")]
    assert alice_api.get("/api/v1/orders/SO-1/").json()["status"] == "ready"
    movement_history = list(
        StatusChange.objects.filter(subject="movement", movement__reference=reference)
        .order_by("id")
        .values_list("previous_status", "status", "actor_label", "note")
    )
    assert movement_history[1:] == [
        ("pending", "dispatched", "alice-erp", "On the 06:00 trunk."),
        ("dispatched", "received", "alice-erp", f"{reference} received."),
    ]
    assert list(OutboxEvent.objects.filter(movement__reference=reference).values_list("type", flat=True)) == [
        "stock_movement.created",
        "stock_movement.status_changed",
        "stock_movement.status_changed",
    ]


def test_an_order_stays_awaiting_stock_until_its_last_movement_is_received(alice_api, alice_client, make_order):
    make_order("SO-1", client=alice_client, lines=[line(1, "MAN"), line(2, "LDS")])
    man, lds = ref("SO-1", "MAN"), ref("SO-1", "LDS")

    for reference in (man, lds):
        alice_api.post(f"{URL}{reference}/dispatch/")
    alice_api.post(f"{URL}{man}/receive/")
    after_first = alice_api.get("/api/v1/orders/SO-1/").json()["status"]
    alice_api.post(f"{URL}{lds}/receive/")
    after_last = alice_api.get("/api/v1/orders/SO-1/").json()["status"]

    assert (after_first, after_last) == ("awaiting_stock", "ready")


def test_receiving_stock_early_does_not_ready_an_order_whose_on_hand_date_is_in_the_future(
    alice_api, alice_client, make_order
):
    make_order("SO-1", client=alice_client, lines=[line(1, "MAN", on_hand_date=day(3).isoformat())])
    reference = ref("SO-1", "MAN")

    alice_api.post(f"{URL}{reference}/dispatch/")
    received = alice_api.post(f"{URL}{reference}/receive/")

    assert received.status_code == 200
    assert alice_api.get("/api/v1/orders/SO-1/").json()["status"] == "awaiting_stock"
    due = timezone.localdate() + timedelta(days=5)
    assert services.release_due_orders(on=due) == ["SO-1"]
    assert alice_api.get("/api/v1/orders/SO-1/").json()["status"] == "ready"


def test_receiving_a_movement_that_was_not_dispatched_answers_409(alice_api, alice_client, make_order):
    make_order("SO-1", client=alice_client, lines=[line(1, "MAN")])
    reference = ref("SO-1", "MAN")
    before = counts()

    response = alice_api.post(f"{URL}{reference}/receive/")

    assert response.status_code == 409
    assert response.json() == {
        "detail": f"{reference} has not been dispatched yet; it can only be received after dispatch."
    }
    assert counts() == before
    assert StockMovement.objects.get(reference=reference).status == "pending"


@pytest.mark.parametrize(
    ("actions", "again", "detail"),
    [
        (["dispatch"], "dispatch", "{ref} is dispatched; it cannot become dispatched."),
        (["dispatch", "receive"], "receive", "{ref} is received; it cannot become received."),
        (["dispatch", "receive"], "dispatch", "{ref} is received; it cannot become dispatched."),
    ],
)
def test_a_movement_cannot_take_the_same_step_twice_or_go_back(
    alice_api, alice_client, make_order, actions, again, detail
):
    make_order("SO-1", client=alice_client, lines=[line(1, "MAN")])
    reference = ref("SO-1", "MAN")
    for action in actions:
        assert alice_api.post(f"{URL}{reference}/{action}/").status_code == 200
    before = counts()

    response = alice_api.post(f"{URL}{reference}/{again}/")

    assert response.status_code == 409
    assert response.json() == {"detail": detail.format(ref=reference)}
    assert counts() == before


@pytest.mark.parametrize("action", ["dispatch", "receive"])
def test_a_cancelled_movement_cannot_be_dispatched_or_received(alice_api, alice_client, make_order, action):
    services.cancel_order(make_order("SO-1", client=alice_client, lines=[line(1, "MAN")]), actor=Actor.system())
    reference = ref("SO-1", "MAN")

    response = alice_api.post(f"{URL}{reference}/{action}/")

    assert response.status_code == 409
    target = {"dispatch": "dispatched", "receive": "received"}[action]
    assert response.json() == {"detail": f"{reference} is cancelled; it cannot become {target}."}


def test_a_movement_write_with_a_stale_if_match_answers_412_and_changes_nothing(alice_api, alice_client, make_order):
    make_order("SO-1", client=alice_client, lines=[line(1, "MAN")])
    reference = ref("SO-1", "MAN")
    alice_api.post(f"{URL}{reference}/dispatch/")
    before = counts()

    response = alice_api.post(f"{URL}{reference}/receive/", headers={"If-Match": '"1"'})

    assert response.status_code == 412
    assert response.json() == {
        "detail": "The stock movement has changed since version 1; it is now at version 2. "
        "Fetch it again and reapply your change."
    }
    assert counts() == before
    assert StockMovement.objects.get(reference=reference).status == "dispatched"


@pytest.mark.parametrize("if_match", ['"1"', "*"])
def test_a_movement_write_with_a_current_if_match_is_applied(alice_api, alice_client, make_order, if_match):
    make_order("SO-1", client=alice_client, lines=[line(1, "MAN")])
    reference = ref("SO-1", "MAN")

    response = alice_api.post(f"{URL}{reference}/dispatch/", headers={"If-Match": if_match})

    assert response.status_code == 200
    assert response.json()["status"] == "dispatched"


def test_a_movement_write_with_a_garbled_if_match_answers_400(alice_api, alice_client, make_order):
    make_order("SO-1", client=alice_client, lines=[line(1, "MAN")])
    reference = ref("SO-1", "MAN")

    response = alice_api.post(f"{URL}{reference}/dispatch/", headers={"If-Match": "yesterday"})

    assert response.status_code == 400
    assert response.json() == {"errors": {"If-Match": ['If-Match must be an ETag such as "3".']}}
    assert StockMovement.objects.get(reference=reference).status == "pending"


@pytest.mark.parametrize("reference", ["MV-999999", "NOPE", "X" * 30])
@pytest.mark.parametrize("action", ["dispatch", "receive"])
def test_an_unknown_movement_answers_404(alice_api, ops_api, depots, reference, action):
    for caller in (alice_api, ops_api):
        response = caller.post(f"{URL}{reference}/{action}/")

        assert response.status_code == 404
        assert response.json() == {"detail": "No such stock movement."}


def test_a_bad_note_on_dispatch_is_refused_with_400(alice_api, alice_client, make_order):
    make_order("SO-1", client=alice_client, lines=[line(1, "MAN")])
    reference = ref("SO-1", "MAN")

    response = alice_api.post(f"{URL}{reference}/dispatch/", {"note": "x" * 1001})

    assert response.status_code == 400
    assert response.json() == {"errors": {"note": ["Ensure this field has no more than 1000 characters."]}}
    assert StockMovement.objects.get(reference=reference).status == "pending"


def test_a_line_on_a_dispatched_movement_cannot_change_through_the_api(alice_api, alice_client, make_order):
    make_order("SO-1", client=alice_client, lines=[line(1, "MAN", quantity=2)])
    reference = ref("SO-1", "MAN")
    alice_api.post(f"{URL}{reference}/dispatch/")
    current = alice_api.get("/api/v1/orders/SO-1/").json()

    response = alice_api.patch("/api/v1/orders/SO-1/", {"lines": [{"line_no": 1, "quantity": 3}]})

    assert response.status_code == 409
    assert response.json() == {
        "detail": f"Line 1 (SKU-1) is on stock movement {reference}, which was already dispatched; its quantity, "
        "stock location and delivery method can no longer change."
    }
    assert alice_api.get("/api/v1/orders/SO-1/").json() == current


def test_the_dispatch_answer_is_the_movement_as_the_list_shows_it(alice_api, alice_client, make_order):
    make_order("SO-1", client=alice_client, lines=[line(1, "MAN")])
    reference = ref("SO-1", "MAN")
    dispatched = alice_api.post(f"{URL}{reference}/dispatch/").json()

    listed_movement = alice_api.get(URL).json()["results"][0]

    assert listed_movement == dispatched
