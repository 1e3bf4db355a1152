"""orders/domain.py beyond the status graph: its exceptions, the version check and the actors.

Written from the survivors of mutation testing (docs/mutation.md): each test pins what a caller
reads from these objects (the message and code the API and the pages show, the version a 412
names, the actor label history records), so a one-line change to one of them fails here.
"""

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from orders.domain import Actor, InputError, OrderError, VersionMismatch, check_version
from orders.models import Order, StatusChange, StockMovement


def test_an_order_error_is_a_conflict_unless_it_names_its_code():
    error = OrderError("The order is already cancelled.")
    assert (error.message, error.code, str(error)) == ("The order is already cancelled.", "conflict", error.message)
    assert OrderError("Not that one.", code="stale").code == "stale"


def test_a_version_mismatch_says_which_version_the_caller_had_and_which_is_current():
    error = VersionMismatch(3, 5)
    assert error.message == (
        "The order has changed since version 3; it is now at version 5. Fetch it again and reapply your change."
    )
    assert str(error) == error.message
    assert (error.code, error.current) == ("version_mismatch", 5)
    assert VersionMismatch(1, 2, "stock movement").message.startswith("The stock movement has changed since version 1;")


def test_check_version_passes_the_current_version_or_none():
    order = Order(version=4)
    check_version(order, 4)
    check_version(order, None)


def test_check_version_refuses_an_older_version_of_an_order_naming_both():
    try:
        check_version(Order(version=4), 3)
    except VersionMismatch as error:
        assert error.message == (
            "The order has changed since version 3; it is now at version 4. Fetch it again and reapply your change."
        )
        assert (error.code, error.current) == ("version_mismatch", 4)
    else:
        raise AssertionError("a stale version of an order was accepted")


def test_check_version_refuses_an_older_version_of_a_movement_calling_it_a_stock_movement():
    try:
        check_version(StockMovement(version=2), 1)
    except VersionMismatch as error:
        assert error.message == (
            "The stock movement has changed since version 1; it is now at version 2. "
            "Fetch it again and reapply your change."
        )
        assert error.current == 2
    else:
        raise AssertionError("a stale version of a movement was accepted")


def test_an_input_error_names_one_place_and_keys_it_by_its_top_level_field():
    error = InputError(["lines", 2, "sequence"], "Use a number.")
    assert isinstance(error, ValidationError)
    assert error.problems == {("lines", 2, "sequence"): "Use a number."}
    assert error.message_dict == {"lines": ["Use a number."]}


def test_an_input_error_at_several_places_keeps_each_path_as_a_tuple():
    error = InputError.at(
        {
            ("customer_name",): "Required.",
            ("lines", 0, "sku"): "Unknown SKU.",
            ("lines", 1, "sku"): "Unknown SKU too.",
        }
    )
    assert error.problems == {
        ("customer_name",): "Required.",
        ("lines", 0, "sku"): "Unknown SKU.",
        ("lines", 1, "sku"): "Unknown SKU too.",
    }
    assert error.message_dict == {"customer_name": ["Required."], "lines": ["Unknown SKU.", "Unknown SKU too."]}


def test_an_input_error_built_from_problems_keeps_them_all():
    problems = {("customer_name",): "Required.", ("customer_email",): "Enter a valid email address."}
    error = InputError(problems=problems)
    assert error.problems == problems
    assert error.message_dict == {
        "customer_name": ["Required."],
        "customer_email": ["Enter a valid email address."],
    }


def test_an_office_user_acts_under_their_user_name():
    user = User(username="dispatch.anna")
    actor = Actor.for_user(user)
    assert (actor.kind, actor.label, actor.user, actor.client) == (
        StatusChange.ActorKind.USER,
        "dispatch.anna",
        user,
        None,
    )
    assert str(actor) == "user:dispatch.anna"


def test_an_inbound_source_acts_under_its_name():
    actor = Actor.for_inbound("route-planner")
    assert (actor.kind, actor.label, actor.user, actor.client) == (
        StatusChange.ActorKind.INBOUND_SOURCE,
        "route-planner",
        None,
        None,
    )
    assert str(actor) == "inbound_source:route-planner"


def test_the_system_is_written_as_system():
    assert (Actor.system().kind, str(Actor.system())) == (StatusChange.ActorKind.SYSTEM, "system")
