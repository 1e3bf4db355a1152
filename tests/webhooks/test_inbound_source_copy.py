"""Each web process keeps a copy of the sources it verified requests with (webhooks/inbound.py
`source_named`), so a request needs no statement to find its secret. The copy must never let a
request through that the source's row as it stands would refuse: a secret rotated, a source
deactivated or renamed — by another process, which cannot tell this one — holds from the next
request on, and a new secret works at once."""

import pytest

from orders.models import Order, OutboxEvent, StatusChange
from tests.conftest import reload
from webhooks import inbound
from webhooks.models import InboundEvent, InboundSource

from .inbound_helpers import Sender

pytestmark = pytest.mark.django_db

REFUSED = {"detail": "No webhook-signature matches the body."}


@pytest.fixture
def known(make_order, planner):
    """The planner's source, copied by this process through one applied event."""
    make_order("SO-WARM")
    assert planner.send("order_planned", order_no="SO-WARM").json()["result"] == "applied"
    copy, is_copy = inbound.source_named(planner.source.name)
    assert is_copy and copy.secret == planner.secret
    return planner


def state(order_no):
    order = Order.objects.get(order_no=order_no)
    return order.status, order.version, StatusChange.objects.count(), OutboxEvent.objects.count()


def assert_refused_and_nothing_stored(response, order_no, before):
    assert response.status_code == 401
    assert response.json() == REFUSED
    assert state(order_no) == before
    assert InboundEvent.objects.count() == 1  # the warm-up's only


def rotated_elsewhere(source):
    """A new secret written straight to the row, as another process (the admin, the command) would."""
    secret = InboundSource().set_new_secret()
    InboundSource.objects.filter(pk=source.pk).update(secret=secret)
    return secret


def test_a_secret_rotated_elsewhere_refuses_the_old_one_at_once_and_takes_the_new_one(known, make_order):
    make_order("SO-1")
    before = state("SO-1")
    new_secret = rotated_elsewhere(known.source)

    assert_refused_and_nothing_stored(known.send("order_planned", order_no="SO-1"), "SO-1", before)

    rotated = Sender(InboundSource.objects.get(pk=known.source.pk), new_secret)
    assert rotated.send("order_planned", order_no="SO-1").json()["result"] == "applied"
    assert reload(Order.objects.get(order_no="SO-1")).status == "planned"


def test_a_source_deactivated_elsewhere_is_refused_although_the_copy_still_verifies(known, make_order):
    # The secret is unchanged, so the request verifies against this process's copy: only the claim's
    # check of the source's row stops it.
    make_order("SO-1")
    before = state("SO-1")
    InboundSource.objects.filter(pk=known.source.pk).update(active=False)

    assert_refused_and_nothing_stored(known.send("order_planned", order_no="SO-1"), "SO-1", before)
    copy, _ = inbound.source_named(known.source.name)
    assert copy is None  # forgotten


def test_a_source_renamed_elsewhere_no_longer_answers_to_its_old_name(known, make_order):
    make_order("SO-1")
    before = state("SO-1")
    InboundSource.objects.filter(pk=known.source.pk).update(name="renamed-planner")

    assert_refused_and_nothing_stored(known.send("order_planned", order_no="SO-1"), "SO-1", before)


def test_a_duplicate_after_a_rotation_is_refused_too(known, make_order):
    make_order("SO-1")
    assert known.send("order_planned", order_no="SO-1", webhook_id="msg_twice").json()["result"] == "applied"
    rotated_elsewhere(known.source)

    response = known.send("order_planned", order_no="SO-1", webhook_id="msg_twice")

    assert response.status_code == 401 and response.json() == REFUSED
    assert InboundEvent.objects.get(webhook_id="msg_twice").duplicates == 0


def test_a_rotation_between_the_read_and_the_claim_is_refused(make_order, planner, monkeypatch):
    # The source read fresh, then rotated before the claim: the claim is what decides, and it refuses.
    make_order("SO-1")
    before = state("SO-1")
    stale = InboundSource.active_named(planner.source.name)
    rotated_elsewhere(planner.source)
    inbound._SOURCES.pop(planner.source.name, None)
    monkeypatch.setattr(InboundSource, "active_named", classmethod(lambda cls, name: stale))

    response = planner.send("order_planned", order_no="SO-1")

    assert response.status_code == 401 and response.json() == REFUSED
    assert state("SO-1") == before
    assert InboundEvent.objects.count() == 0


def test_a_refused_event_is_recorded_only_while_the_source_holds(known, make_order):
    # The refusal is recorded by a claim of its own, which checks the source as well.
    InboundSource.objects.filter(pk=known.source.pk).update(active=False)

    response = known.send("order_planned", order_no="SO-NOWHERE")

    assert response.status_code == 401 and response.json() == REFUSED
    assert InboundEvent.objects.count() == 1
