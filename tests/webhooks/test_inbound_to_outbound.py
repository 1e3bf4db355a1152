"""A status event from the field reaches the subscribers as signed outbound webhooks, through the outbox."""

from standardwebhooks import Webhook

from orders.models import OutboxEvent
from webhooks import delivery, tasks

from .conftest import subscribe


def test_a_completion_from_the_field_is_delivered_to_a_subscriber(
    make_order, planner, hooks_client, receiver, outbound
):
    make_order("SO-1", client=hooks_client[0])
    subscription = subscribe(hooks_client[0], receiver.url, event_types=["order.completed"])
    planner.send("order_planned")
    planner.send("order_in_progress")
    assert planner.send("order_completed").json()["result"] == "applied"

    [delivery_id] = delivery.fan_out(OutboxEvent.objects.values_list("id", flat=True))
    tasks.deliver.apply(args=(delivery_id,))

    [request] = receiver.requests
    body = Webhook(subscription.secret).verify(request["body"], request["headers"])
    assert body == OutboxEvent.objects.get(type="order.completed").payload
    assert (body["type"], body["data"]["order_no"], body["data"]["status"]) == ("order.completed", "SO-1", "completed")
