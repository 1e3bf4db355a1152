"""The domain's exceptions, the actor of a change, and how a multi order's status follows its legs.

The status graphs themselves live beside the statuses in models.py (`ORDER_TRANSITIONS`,
`MOVEMENT_TRANSITIONS`, `EDITABLE_STATUSES`) with the guard methods that read them
(`order.cancel_allowed()`, `order.is_editable()`, `movement.can_become()`); they are named here
too, so callers import the whole status machine from one module (docs/status-machine.md).
"""

from dataclasses import dataclass

from django.core.exceptions import ValidationError

from .models import EDITABLE_STATUSES, MOVEMENT_TRANSITIONS, ORDER_TRANSITIONS, Order, StatusChange, actor_label

S = Order.Status
TRANSITIONS = ORDER_TRANSITIONS

__all__ = [
    "EDITABLE_STATUSES",
    "MOVEMENT_TRANSITIONS",
    "TRANSITIONS",
    "Actor",
    "InputError",
    "OrderError",
    "StaleEvent",
    "TransitionNotAllowed",
    "VersionMismatch",
    "can_transition",
    "derive_order_status",
]


class OrderError(Exception):
    """A change the domain refuses: shown as a form error in pages, 409 in the API."""

    def __init__(self, message, *, code="conflict"):
        super().__init__(message)
        self.message = message
        self.code = code


class TransitionNotAllowed(OrderError):
    def __init__(self, current, target, what="order"):
        super().__init__(
            f"The {what} is {Order.Status(current).label.lower()}; it cannot become "
            f"{Order.Status(target).label.lower()} from there.",
            code="transition_not_allowed",
        )


class StaleEvent(OrderError):
    """An event older than the last status change: it must not move the status backwards."""

    def __init__(self, message):
        super().__init__(message, code="stale")


class VersionMismatch(OrderError):
    """The caller named a version that is no longer current (412 in the API)."""

    def __init__(self, expected, current, what="order"):
        super().__init__(
            f"The {what} has changed since version {expected}; it is now at version {current}. "
            "Fetch it again and reapply your change.",
            code="version_mismatch",
        )
        self.current = current


class InputError(ValidationError):
    """Input the domain refuses, naming where in the domain's own terms.

    A path is a tuple such as `("customer_name",)` or `("lines", 2, "sequence")` (the third line
    given); each door says it in its own words (the API as `lines.2.sequence`). `InputError(path,
    message)` names one place, `InputError.at({path: message, ...})` several. It is a Django
    ValidationError keyed by each top-level field, so forms show it on that field.
    """

    def __init__(self, path=None, message=None, *, problems=None):
        self.problems = dict(problems) if problems is not None else {tuple(path): message}
        by_field = {}
        for where, text in self.problems.items():
            by_field.setdefault(str(where[0]), []).append(text)
        super().__init__(by_field)

    @classmethod
    def at(cls, problems):
        return cls(problems={tuple(path): message for path, message in problems.items()})


def check_version(obj, expected):
    """Refuse a write whose caller read an older version of `obj` (an order or a movement)."""
    if not obj.version_matches(expected):
        what = "stock movement" if obj._meta.model_name == "stockmovement" else "order"
        raise VersionMismatch(expected, obj.version, what)


def can_transition(current, target):
    return target in TRANSITIONS[current]


def derive_order_status(group_statuses):
    """The status of an order from the statuses of its groups (the one group, or a multi order's legs)."""
    statuses = list(group_statuses)
    live = [s for s in statuses if s != S.CANCELLED]
    if not live:
        return S.CANCELLED
    if all(s == S.COMPLETED for s in live):
        return S.COMPLETED
    if S.IN_PROGRESS in live:
        return S.IN_PROGRESS
    if S.FAILED in live:
        return S.FAILED
    if S.COMPLETED in live:
        # Some legs done, others still to do: the order is under way.
        return S.IN_PROGRESS
    if S.AWAITING_STOCK in live:
        return S.AWAITING_STOCK
    if all(s == S.PLANNED for s in live):
        return S.PLANNED
    return S.READY


@dataclass(frozen=True)
class Actor:
    """Who made a change: an office user, an API client, an inbound source, or the system itself."""

    kind: str
    label: str
    user: object = None
    client: object = None

    @classmethod
    def system(cls):
        return cls(StatusChange.ActorKind.SYSTEM, "system")

    @classmethod
    def for_user(cls, user):
        return cls(StatusChange.ActorKind.USER, user.get_username(), user=user)

    @classmethod
    def for_client(cls, client):
        return cls(StatusChange.ActorKind.API_CLIENT, client.name, client=client)

    @classmethod
    def for_inbound(cls, name):
        return cls(StatusChange.ActorKind.INBOUND_SOURCE, name)

    def __str__(self):
        return actor_label(self.kind, self.label)
