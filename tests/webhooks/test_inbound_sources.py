"""manage.py create_inbound_source, and the periodic purge of remembered events."""

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from stream_portal.tasks import purge_inbound_events
from webhooks.models import InboundEvent, InboundSource

from .inbound_helpers import Sender

pytestmark = pytest.mark.django_db


def run(*args):
    from io import StringIO

    out = StringIO()
    call_command("create_inbound_source", *args, stdout=out)
    return out.getvalue().splitlines()


def test_create_prints_the_secret_alone_on_the_last_line():
    lines = run("route-planner")
    source = InboundSource.objects.get()
    assert lines[0] == "Created inbound source 'route-planner'."
    assert lines[1] == "It posts signed status events to /webhooks/inbound/route-planner/."
    assert lines[-1] == source.secret
    assert lines[-1].startswith("whsec_")
    assert len(lines[-1]) == len("whsec_") + 32  # 192 bits, base64


def test_the_printed_secret_signs_events_that_are_accepted(make_order):
    secret = run("driver-app")[-1]
    make_order("SO-1")
    sender = Sender(InboundSource.objects.get(name="driver-app"), secret)
    assert sender.send("order_planned").json()["result"] == "applied"


def test_rotate_issues_a_new_secret():
    first = run("route-planner")[-1]
    lines = run("route-planner", "--rotate")
    source = InboundSource.objects.get()
    assert lines[0] == "Issued a new secret to inbound source 'route-planner'; its previous secret no longer works."
    assert lines[-1] == source.secret != first
    assert source.rotated_at is not None


def test_a_name_taken_already_is_refused_without_rotate():
    first = run("route-planner")[-1]
    with pytest.raises(CommandError, match="already exists. Use --rotate"):
        run("route-planner")
    assert InboundSource.objects.get().secret == first


def test_rotate_of_an_unknown_source_is_refused():
    with pytest.raises(CommandError, match="There is no inbound source named 'nobody'"):
        run("nobody", "--rotate")
    assert not InboundSource.objects.exists()


@pytest.mark.parametrize("name", ["route planner", "a/b", "", "x" * 51])
def test_a_name_that_cannot_be_part_of_a_url_is_refused(name):
    with pytest.raises(CommandError):
        run(name)
    assert not InboundSource.objects.exists()


def test_events_are_remembered_for_at_least_seven_days_then_purged(make_order, planner):
    make_order("SO-1")
    planner.send("order_planned", webhook_id="msg_old")
    planner.send("order_in_progress", webhook_id="msg_week")
    planner.send("order_failed", webhook_id="msg_new")
    now = timezone.now()
    InboundEvent.objects.filter(webhook_id="msg_old").update(received_at=now - timedelta(days=31))
    InboundEvent.objects.filter(webhook_id="msg_week").update(received_at=now - timedelta(days=8))

    assert purge_inbound_events() == 1
    assert sorted(InboundEvent.objects.values_list("webhook_id", flat=True)) == ["msg_new", "msg_week"]
    # An id eight days old is still known: the same id is a duplicate, not a new event.
    assert planner.send("order_in_progress", webhook_id="msg_week").json()["result"] == "duplicate"


def test_the_purge_runs_from_beat(settings):
    assert settings.CELERY_BEAT_SCHEDULE["purge-inbound-events"]["task"] == "stream_portal.tasks.purge_inbound_events"
