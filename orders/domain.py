"""The status machine of SPEC §3, the actor of a change, and the domain's one exception family."""

from dataclasses import dataclass

from .models import Order, StatusChange, StockMovement

S = Order.Status

# Allowed order/group transitions. `planned → planned` is a re-plan (new date or route).
# Line changes take a planned or failed order back to ready/awaiting_stock (SPEC §3).
TRANSITIONS = {
    S.AWAITING_STOCK: {S.READY, S.CANCELLED},
    S.READY: {S.AWAITING_STOCK, S.PLANNED, S.CANCELLED},
    S.PLANNED: {S.READY, S.AWAITING_STOCK, S.PLANNED, S.IN_PROGRESS, S.CANCELLED},
    S.IN_PROGRESS: {S.COMPLETED, S.FAILED},
    S.FAILED: {S.AWAITING_STOCK, S.READY, S.PLANNED, S.CANCELLED},
    S.COMPLETED: set(),
    S.CANCELLED: set(),
}

MOVEMENT_TRANSITIONS = {
    StockMovement.Status.PENDING: {StockMovement.Status.DISPATCHED, StockMovement.Status.CANCELLED},
    StockMovement.Status.DISPATCHED: {StockMovement.Status.RECEIVED},
    StockMovement.Status.RECEIVED: set(),
    StockMovement.Status.CANCELLED: set(),
}

# Statuses in which lines, address and time window may still change.
EDITABLE_STATUSES = {S.AWAITING_STOCK, S.READY, S.PLANNED, S.FAILED}


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
    """If-Match named a version that is no longer current (412 in the API)."""

    def __init__(self, expected, current):
        super().__init__(
            f"The order has changed since version {expected}; it is now at version {current}. "
            "Fetch it again and reapply your change.",
            code="version_mismatch",
        )
        self.current = current


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
        return "system" if self.kind == StatusChange.ActorKind.SYSTEM else f"{self.kind}:{self.label}"
