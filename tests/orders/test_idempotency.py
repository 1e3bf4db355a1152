"""Idempotency-Key (orders/api/idempotency.py) beyond the replay tests of test_api_orders.py: a key
left in flight by a request that died, the purge of old keys, the key's alphabet, and what a server
error does to a key. Written from the survivors of mutation testing (docs/mutation.md)."""

import hashlib
from datetime import date, timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework.response import Response

from orders import services
from orders.api import idempotency
from orders.models import IdempotencyKey, Order
from tests.conftest import order_body

URL = "/api/v1/orders/"


def left_in_flight(client, key, body, age):
    record = IdempotencyKey.objects.create(client=client, key=key, request_hash=idempotency.body_hash(body))
    IdempotencyKey.objects.filter(pk=record.pk).update(created_at=timezone.now() - age)
    return record


def test_a_key_left_in_flight_past_the_timeout_is_taken_over_by_the_same_request(alice, alice_api, depots):
    body = order_body("SO-1")
    left_in_flight(alice[0], "died", body, timedelta(seconds=121))

    response = alice_api.post(URL, body, headers={"Idempotency-Key": "died"})

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers
    record = IdempotencyKey.objects.get()
    assert (record.state, record.response_status, record.request_hash) == ("done", 201, idempotency.body_hash(body))
    assert record.created_at > timezone.now() - timedelta(seconds=60)
    assert Order.objects.get().order_no == "SO-1"

    again = alice_api.post(URL, body, headers={"Idempotency-Key": "died"})
    assert (again.status_code, again.headers["Idempotent-Replayed"]) == (201, "true")


def test_a_key_in_flight_within_the_timeout_still_answers_409(alice, alice_api, depots):
    body = order_body("SO-1")
    left_in_flight(alice[0], "busy", body, timedelta(seconds=110))

    response = alice_api.post(URL, body, headers={"Idempotency-Key": "busy"})

    assert response.status_code == 409
    assert Order.objects.count() == 0


def test_a_key_left_in_flight_is_not_taken_over_by_another_body(alice, alice_api, depots):
    left_in_flight(alice[0], "died", order_body("SO-1"), timedelta(seconds=121))

    response = alice_api.post(URL, order_body("SO-2"), headers={"Idempotency-Key": "died"})

    assert response.status_code == 422
    assert response.json() == {"detail": "This Idempotency-Key was already used with a different request body."}
    assert Order.objects.count() == 0


@pytest.mark.parametrize("key", ["!", "~" * 255, "Az09-_.:/+=!~"])
def test_any_printable_ascii_key_of_1_to_255_characters_is_taken(alice_api, depots, key):
    response = alice_api.post(URL, order_body(), headers={"Idempotency-Key": key})

    assert response.status_code == 201
    assert IdempotencyKey.objects.get().key == key


def test_purge_removes_the_keys_older_than_a_day_and_says_how_many(alice):
    client = alice[0]
    for key, age in [("old-1", timedelta(hours=25)), ("old-2", timedelta(days=3)), ("fresh", timedelta(hours=23))]:
        left_in_flight(client, key, {}, age)

    assert idempotency.purge_expired() == 2
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]
    assert idempotency.purge_expired() == 0


def test_a_server_error_gives_the_key_back_and_release_frees_only_a_key_in_flight(alice):
    client = alice[0]
    failed = IdempotencyKey.objects.create(client=client, key="failed", request_hash="h")
    idempotency.finish(failed, Response({"detail": "boom"}, status=500))
    assert not IdempotencyKey.objects.filter(key="failed").exists()

    busy = IdempotencyKey.objects.create(client=client, key="busy", request_hash="h")
    other = IdempotencyKey.objects.create(client=client, key="other", request_hash="h")
    done = IdempotencyKey.objects.create(client=client, key="done", request_hash="h", state="done")
    idempotency.release(busy)
    idempotency.release(done)
    assert sorted(IdempotencyKey.objects.values_list("key", flat=True)) == ["done", "other"]
    assert other.pk != busy.pk


def test_an_answer_kept_without_a_renderer_is_its_data_as_json(alice):
    record = IdempotencyKey.objects.create(client=alice[0], key="plain", request_hash="h")
    response = Response({"n": 1, "when": date(2030, 1, 2)}, status=200, headers={"ETag": '"3"'})

    idempotency.finish(record, response)

    record.refresh_from_db()
    assert (record.state, record.response_status) == ("done", 200)
    assert record.response_body == {"n": 1, "when": "2030-01-02"}
    assert record.response_headers == {"ETag": '"3"'}


def test_the_body_hash_ignores_key_order_and_spacing_but_not_values():
    assert idempotency.body_hash({"a": 1, "b": [1, 2]}) == idempotency.body_hash({"b": [1, 2], "a": 1})
    assert idempotency.body_hash({"a": 1}) != idempotency.body_hash({"a": 2})
    # The canonical text: sorted keys, no spaces, ASCII escapes.
    assert idempotency.body_hash({"b": "é", "a": 1}) == hashlib.sha256(b'{"a":1,"b":"\\u00e9"}').hexdigest()


def test_a_replay_finds_the_clients_own_key_among_others(alice_api, bob_api, depots):
    alice_api.post(URL, order_body("SO-A1"), headers={"Idempotency-Key": "nightly"})
    alice_api.post(URL, order_body("SO-A2"), headers={"Idempotency-Key": "hourly"})
    bob_api.post(URL, order_body("SO-B1"), headers={"Idempotency-Key": "nightly"})

    again = alice_api.post(URL, order_body("SO-A1"), headers={"Idempotency-Key": "nightly"})

    assert (again.status_code, again.headers["Idempotent-Replayed"]) == (201, "true")
    assert again.json()["order_no"] == "SO-A1"


@pytest.mark.parametrize(
    ("state", "age", "outcome"),
    [
        pytest.param("done", timedelta(hours=24), 422, id="done-exactly-24-hours-ago-is-still-kept"),
        pytest.param("in_flight", timedelta(seconds=120), 409, id="in-flight-exactly-120-seconds-is-still-busy"),
    ],
)
def test_a_key_exactly_at_its_limit_is_not_yet_taken_over(alice, alice_api, depots, state, age, outcome):
    with time_machine.travel(timezone.now(), tick=False):
        record = left_in_flight(alice[0], "edge", order_body("SO-1"), age)
        IdempotencyKey.objects.filter(pk=record.pk).update(state=state, response_status=201, response_body={})
        body = order_body("SO-1" if state == "in_flight" else "SO-2")

        response = alice_api.post(URL, body, headers={"Idempotency-Key": "edge"})

    assert response.status_code == outcome
    assert Order.objects.count() == 0


def test_taking_over_an_expired_key_clears_its_old_answer_and_marks_it_in_flight(alice):
    client = alice[0]
    old = IdempotencyKey.objects.create(
        client=client,
        key="daily",
        request_hash="old",
        state="done",
        response_status=201,
        response_body={"order_no": "SO-1"},
        response_headers={"ETag": '"1"'},
    )
    twin = IdempotencyKey.objects.create(client=client, key="twin", request_hash="h", state="done")
    long_ago = timezone.now() - timedelta(days=2)
    IdempotencyKey.objects.filter(pk__in=[old.pk, twin.pk]).update(created_at=long_ago)

    record, replay = idempotency.begin(client, "daily", "new")

    assert replay is None
    record.refresh_from_db()
    assert (record.pk, record.request_hash, record.state) == (old.pk, "new", "in_flight")
    assert (record.response_status, record.response_body, record.response_headers) == (None, None, {})
    assert record.created_at > long_ago
    twin.refresh_from_db()
    assert (twin.state, twin.created_at) == ("done", long_ago)


@pytest.mark.parametrize("key", [None, "crash-1"])
def test_a_create_that_crashes_raises_its_own_error_and_keeps_no_key(alice, alice_api, depots, monkeypatch, key):
    def crash(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(services, "create_order", crash)
    headers = {"Idempotency-Key": key} if key else {}

    with pytest.raises(RuntimeError, match="disk on fire"):
        alice_api.post(URL, order_body(), headers=headers)

    assert IdempotencyKey.objects.count() == 0
    monkeypatch.undo()
    assert alice_api.post(URL, order_body(), headers=headers).status_code == 201


def test_a_create_whose_answer_cannot_be_kept_leaves_no_order_and_can_be_retried(alice_api, depots, monkeypatch):
    # The claim, the order and the kept answer are one transaction: no order without its answer.
    def lose_the_answer(record, response, **options):
        raise RuntimeError("connection lost")

    monkeypatch.setattr(idempotency, "finish", lose_the_answer)
    with pytest.raises(RuntimeError, match="connection lost"):
        alice_api.post(URL, order_body("SO-1"), headers={"Idempotency-Key": "retry-me"})

    assert (Order.objects.count(), IdempotencyKey.objects.count()) == (0, 0)
    monkeypatch.undo()
    retry = alice_api.post(URL, order_body("SO-1"), headers={"Idempotency-Key": "retry-me"})
    assert retry.status_code == 201
    assert "Idempotent-Replayed" not in retry.headers


def test_of_two_requests_taking_over_one_expired_key_only_the_first_wins(alice, monkeypatch):
    client = alice[0]
    IdempotencyKey.objects.create(client=client, key="race", request_hash="h", state="done", response_status=201)
    IdempotencyKey.objects.filter(key="race").update(created_at=timezone.now() - timedelta(days=2))
    read = IdempotencyKey.objects.get

    def read_then_lose_the_race(**lookup):
        stale = read(**lookup)
        # Another request takes the key over between this one's read and its conditional update.
        IdempotencyKey.objects.filter(pk=stale.pk).update(created_at=timezone.now(), request_hash="theirs")
        return stale

    monkeypatch.setattr(IdempotencyKey.objects, "get", read_then_lose_the_race)
    with pytest.raises(idempotency.KeyInFlight):
        idempotency.begin(client, "race", "mine")

    monkeypatch.undo()
    assert IdempotencyKey.objects.get(key="race").request_hash == "theirs"


@pytest.mark.django_db(transaction=True)
def test_keeping_an_answer_commits_only_when_asked_and_leaves_the_callers_transaction_to_it(alice):
    # `finish` sends the COMMIT with the answer only for the create's own transaction (commit=True);
    # any other caller's transaction stays open and can still be rolled back, claim and answer with it.
    from django.db import transaction
    from rest_framework.renderers import JSONRenderer

    def answered(order_no):
        response = Response({"order_no": order_no}, status=201)
        response.accepted_renderer, response.accepted_media_type = JSONRenderer(), "application/json"
        response.renderer_context = {}
        return response

    with transaction.atomic():
        record, replay = idempotency.begin(alice[0], "left-open", "h1")
        assert replay is None
        idempotency.finish(record, answered("SO-1"))
        transaction.set_rollback(True)
    assert not IdempotencyKey.objects.filter(key="left-open").exists()

    with transaction.atomic():
        record, _ = idempotency.begin(alice[0], "committed", "h2")
        idempotency.finish(record, answered("SO-2"), commit=True)
        transaction.set_rollback(True)  # too late: the COMMIT went with the answer
    kept = IdempotencyKey.objects.get(key="committed")
    assert (kept.state, kept.response_status, kept.response_body) == ("done", 201, {"order_no": "SO-2"})
