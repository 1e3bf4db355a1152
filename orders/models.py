"""The order domain: reference data, orders with their groups and lines, stock movements,
status history, the outbox of events, API clients and idempotency keys."""

import hashlib
import hmac
import secrets

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django.utils import timezone

from .identifiers import CODE_MAX_LENGTH, ORDER_NO_MAX_LENGTH, validate_code, validate_order_no


class AddressFields(models.Model):
    """An address. Valid with line1 + postal_code + country, or with lat + lng (orders/addresses.py)."""

    line1 = models.CharField(max_length=100, blank=True)
    line2 = models.CharField(max_length=100, blank=True)
    line3 = models.CharField(max_length=100, blank=True)
    town = models.CharField(max_length=100, blank=True)
    county = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, blank=True)
    lat = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    lng = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)

    ADDRESS_FIELDS = ("line1", "line2", "line3", "town", "county", "postal_code", "country", "lat", "lng")

    class Meta:
        abstract = True

    def address_dict(self):
        return {name: getattr(self, name) for name in self.ADDRESS_FIELDS}


class ReferenceQuerySet(models.QuerySet):
    def active(self):
        return self.filter(active=True)


class ReferenceData(models.Model):
    """Reference data, addressed by a unique `code` (orders/identifiers.py says what it may hold).

    Nothing is deleted: `active=False` retires a code; orders keep theirs, new lines cannot use it.
    """

    code = models.CharField(max_length=CODE_MAX_LENGTH, unique=True, validators=[validate_code])
    active = models.BooleanField(default=True)

    objects = ReferenceQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["code"]

    def __str__(self):
        return self.code


def actor_label(kind, name=""):
    """How an actor is written everywhere (history, events, an order's `source`): `system` or `kind:name`."""
    return "system" if kind == "system" else f"{kind}:{name}"


class Versioned(models.Model):
    """A row whose `version` rises on every change; writers may name the version they last read."""

    version = models.PositiveIntegerField(default=1)

    class Meta:
        abstract = True

    def version_matches(self, expected):
        """True unless the caller named a version (If-Match, a form's hidden field) that is no longer current."""
        return expected is None or expected == self.version


class StockLocation(ReferenceData, AddressFields):
    """A depot that holds stock and runs fleets."""

    name = models.CharField(max_length=100)


class DeliveryMethod(ReferenceData):
    """A fleet of vehicles doing final-mile work from one depot."""

    name = models.CharField(max_length=100)
    depot = models.ForeignKey(StockLocation, on_delete=models.PROTECT, related_name="delivery_methods")


class ServiceLevel(ReferenceData):
    """What the customer bought: two-man delivery, room of choice, assembly..."""

    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    default_unload_minutes = models.PositiveIntegerField(default=0)


class Lane(models.Model):
    """How long stock takes between two depots. Pairs without a lane take DEFAULT_TRANSIT_DAYS."""

    DEFAULT_TRANSIT_DAYS = 1

    from_location = models.ForeignKey(StockLocation, on_delete=models.PROTECT, related_name="lanes_out")
    to_location = models.ForeignKey(StockLocation, on_delete=models.PROTECT, related_name="lanes_in")
    transit_days = models.PositiveIntegerField(default=DEFAULT_TRANSIT_DAYS)

    class Meta:
        ordering = ["from_location__code", "to_location__code"]
        constraints = [
            models.UniqueConstraint(fields=["from_location", "to_location"], name="lane_unique_pair"),
            models.CheckConstraint(condition=~Q(from_location=models.F("to_location")), name="lane_distinct_ends"),
        ]

    def __str__(self):
        return f"{self.from_location.code}→{self.to_location.code} ({self.transit_days}d)"


class FailureReason(ReferenceData):
    """A reason a driver can give for a failed delivery."""

    description = models.CharField(max_length=200)


class ApiClient(models.Model):
    """An outside system (ERP, WMS, web shop) calling the REST API with its own key.

    Only a SHA-256 digest of the key is kept. Keys are 190 bits of randomness, so a fast digest is
    enough: there is nothing to brute-force the way there is with a human password.
    """

    class Scope(models.TextChoices):
        ORDERS_READ = "orders:read", "Read orders"
        ORDERS_WRITE = "orders:write", "Create and change orders"
        ORDERS_ALL = "orders:all", "See and change every client's orders"
        REFERENCE_WRITE = "reference:write", "Change reference data"
        WEBHOOKS_MANAGE = "webhooks:manage", "Manage webhook subscriptions"

    KEY_PREFIX = "sp_"

    name = models.CharField(max_length=100, unique=True)
    key_id = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "API client"

    def __str__(self):
        return self.name

    # DRF reads these on request.user.
    is_authenticated = True
    is_anonymous = False

    @staticmethod
    def hash_secret(secret):
        return hashlib.sha256(secret.encode()).hexdigest()

    def set_new_key(self):
        """Give the client a new key and return it; only its digest is stored."""
        self.key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(24)
        self.key_hash = self.hash_secret(secret)
        return f"{self.KEY_PREFIX}{self.key_id}_{secret}"

    @classmethod
    def split_key(cls, key):
        """Return (key_id, secret) of a well-formed key, or None."""
        if not key.startswith(cls.KEY_PREFIX):
            return None
        key_id, sep, secret = key[len(cls.KEY_PREFIX) :].partition("_")
        if not sep or len(key_id) != 12 or not secret:
            return None
        return key_id, secret

    def check_secret(self, secret):
        return hmac.compare_digest(self.key_hash, self.hash_secret(secret))

    def has_scope(self, scope):
        return scope in self.scopes


class Order(AddressFields, Versioned):
    """A customer order: a header, one or more groups (legs) and their item lines.

    The address and required date/time here are the order's own; for a delivery or collection
    order they are also its single group's, for a multi order they repeat the first group's.
    """

    class Status(models.TextChoices):
        AWAITING_STOCK = "awaiting_stock", "Awaiting stock"
        READY = "ready", "Ready to plan"
        PLANNED = "planned", "Planned"
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Type(models.TextChoices):
        DELIVERY = "delivery", "Delivery"
        COLLECTION = "collection", "Collection"
        MULTI = "multi", "Multi-leg"

    order_no = models.CharField(max_length=ORDER_NO_MAX_LENGTH, unique=True, validators=[validate_order_no])
    order_date = models.DateField(default=timezone.localdate)
    order_type = models.CharField(max_length=20, choices=Type.choices, default=Type.DELIVERY)
    customer_name = models.CharField(max_length=100)
    customer_mobile = models.CharField(max_length=30, blank=True)
    customer_email = models.EmailField(blank=True)
    customer_phone = models.CharField(max_length=30, blank=True)
    customer_reference = models.CharField(max_length=100, blank=True)
    customer_address = models.JSONField(null=True, blank=True)
    service_level = models.ForeignKey(
        ServiceLevel, on_delete=models.PROTECT, null=True, blank=True, related_name="orders"
    )
    unload_minutes = models.PositiveIntegerField(null=True, blank=True)
    required_date = models.DateField(null=True, blank=True)
    required_time_from = models.TimeField(null=True, blank=True)
    required_time_to = models.TimeField(null=True, blank=True)
    order_notes = models.TextField(blank=True)
    location_instructions = models.TextField(blank=True)
    driver_notes = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.AWAITING_STOCK)
    status_changed_at = models.DateTimeField(auto_now_add=True)
    tracking_token = models.CharField(max_length=43, unique=True, editable=False)
    earliest_delivery_date = models.DateField(null=True, blank=True)
    attempt_count = models.PositiveIntegerField(default=0)
    failure_reason = models.ForeignKey(FailureReason, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    pod = models.JSONField(null=True, blank=True, help_text="Proof of delivery, once completed.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # No index of its own: order_client_created_id_idx starts with this column (one index fewer to write per create).
    source_client = models.ForeignKey(
        ApiClient, on_delete=models.PROTECT, null=True, blank=True, related_name="orders", db_index=False
    )
    source_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(required_time_from__isnull=True)
                | Q(required_time_to__isnull=True)
                | Q(required_time_from__lte=models.F("required_time_to")),
                name="order_time_window_ordered",
            ),
        ]
        indexes = [
            # Every list's tie-breaker is `id`, so each index that serves an ORDER BY ends with it: the
            # first rows come straight off the index, with no sort of the whole match (docs/performance.md
            # has the plans at 1,000,000 orders).
            # API list, default and ?ordering=created_at: ORDER BY created_at DESC, id DESC, cursor pages
            # (created_at < …); also the office list's default sort (-created).
            models.Index(fields=["created_at", "id"], name="order_created_idx"),
            # API list for a client that does not see every order: WHERE source_client_id = … ORDER BY
            # created_at DESC, id DESC.
            models.Index(fields=["source_client", "created_at", "id"], name="order_client_created_id_idx"),
            # API list ?ordering=updated_at&updated_since=… (integrations syncing changes): WHERE updated_at
            # >= … ORDER BY updated_at, id; the office list's -updated sort; MAX(updated_at) of its ETag.
            models.Index(fields=["updated_at", "id"], name="order_updated_id_idx"),
            # API list ?status=… (default ordering) and the office list ?status=… (default sort): WHERE
            # status IN (…) ORDER BY created_at DESC, id DESC.
            models.Index(fields=["status", "created_at", "id"], name="order_status_created_idx"),
            # Office list ?status=…&sort=required_date (the planners' view) and the API's required_date
            # filters with a status: WHERE status = … ORDER BY required_date, id.
            models.Index(fields=["status", "required_date", "id"], name="order_status_required_id_idx"),
            # Office list ?sort=required_date / -required_date and ?required_from/to without a status.
            models.Index(fields=["required_date", "id"], name="order_required_id_idx"),
            # Office list ?sort=status / -status: ORDER BY status, id.
            models.Index(fields=["status", "id"], name="order_status_id_idx"),
            # Office list ?sort=customer / -customer: ORDER BY customer_name, id.
            models.Index(fields=["customer_name", "id"], name="order_customer_id_idx"),
            # Periodic release job: orders still awaiting stock.
            models.Index(
                fields=["earliest_delivery_date"],
                condition=Q(status="awaiting_stock"),
                name="order_awaiting_stock_idx",
            ),
            # Office list search ?q= (orders/filters.py OrderFilter.search), PostgreSQL only (SQLite has
            # none; migration 0007 skips them there): istartswith is UPPER(col) LIKE 'TERM%', which a
            # text_pattern_ops B-tree on UPPER(col) answers as a range; iexact on the postal code is
            # UPPER(postal_code) = …, which the same index answers.
            models.Index(OpClass(Upper("order_no"), name="text_pattern_ops"), name="order_no_search_idx"),
            models.Index(OpClass(Upper("postal_code"), name="text_pattern_ops"), name="order_postal_search_idx"),
            models.Index(
                OpClass(Upper("customer_reference"), name="text_pattern_ops"), name="order_reference_search_idx"
            ),
            # ?q= also matches inside the customer's name (icontains: UPPER(customer_name) LIKE '%TERM%'),
            # which no B-tree can answer: a pg_trgm GIN index does.
            GinIndex(OpClass(Upper("customer_name"), name="gin_trgm_ops"), name="order_customer_trgm_idx"),
        ]

    def __str__(self):
        return self.order_no

    def save(self, *args, **kwargs):
        if not self.tracking_token:
            self.tracking_token = secrets.token_urlsafe(24)  # 192 bits
        super().save(*args, **kwargs)

    @property
    def tracking_url(self):
        return f"{settings.PUBLIC_BASE_URL}/track/{self.tracking_token}/"

    @property
    def source(self):
        """Who created it, written as actors are: `api_client:<name>`, `user:<username>` or `system`."""
        if self.source_client_id:
            return actor_label(StatusChange.ActorKind.API_CLIENT, self.source_client.name)
        if self.source_user_id:
            return actor_label(StatusChange.ActorKind.USER, self.source_user.get_username())
        return actor_label(StatusChange.ActorKind.SYSTEM)

    @property
    def is_multi(self):
        return self.order_type == self.Type.MULTI

    def can_become(self, target):
        return target in ORDER_TRANSITIONS[self.status]

    def cancel_allowed(self):
        """An order can be cancelled until it is on the road; a finished one stays as it ended."""
        return self.can_become(self.Status.CANCELLED)

    def is_editable(self):
        """Whether lines, address and time window may still change."""
        return self.status in EDITABLE_STATUSES


class OrderGroup(AddressFields):
    """A leg of an order: where and when one delivery or collection happens, with its own status."""

    class Type(models.TextChoices):
        DELIVERY = "delivery", "Delivery"
        COLLECTION = "collection", "Collection"

    # No index of its own: group_unique_sequence starts with this column (one index fewer to write per create).
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="groups", db_index=False)
    sequence = models.PositiveIntegerField()
    group_type = models.CharField(max_length=20, choices=Type.choices)
    required_date = models.DateField(null=True, blank=True)
    required_time_from = models.TimeField(null=True, blank=True)
    required_time_to = models.TimeField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Order.Status.choices, default=Order.Status.AWAITING_STOCK)
    status_changed_at = models.DateTimeField(auto_now_add=True)
    plan = models.JSONField(
        null=True, blank=True, help_text="Route details once planned: planned_date, route_ref, eta, driver..."
    )

    class Meta:
        ordering = ["order", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["order", "sequence"], name="group_unique_sequence"),
            models.CheckConstraint(condition=Q(sequence__gte=1), name="group_sequence_positive"),
        ]

    def __str__(self):
        return f"{self.order_id}/{self.sequence}"

    def can_become(self, target):
        return target in ORDER_TRANSITIONS[self.status]

    def is_editable(self):
        """Whether this leg's address, time window and lines may still change."""
        return self.status in EDITABLE_STATUSES


class OrderLine(models.Model):
    """An item line: what to deliver, where its stock is, and which fleet does the final mile."""

    # No index of its own: line_unique_line_no starts with this column (one index fewer to write per create).
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines", db_index=False)
    group = models.ForeignKey(OrderGroup, on_delete=models.CASCADE, related_name="lines")
    line_no = models.PositiveIntegerField()
    sku = models.CharField(max_length=50)
    description = models.CharField(max_length=200, blank=True)
    quantity = models.PositiveIntegerField()
    weight_kg = models.DecimalField(max_digits=9, decimal_places=3, null=True, blank=True)
    cube_m3 = models.DecimalField(max_digits=9, decimal_places=4, null=True, blank=True)
    # No index of its own: line_location_order_idx starts with this column (one index fewer to write per create).
    stock_location = models.ForeignKey(StockLocation, on_delete=models.PROTECT, related_name="+", db_index=False)
    on_hand_date = models.DateField(default=timezone.localdate)
    # No index of its own: line_method_order_idx starts with this column (one index fewer to write per create).
    delivery_method = models.ForeignKey(DeliveryMethod, on_delete=models.PROTECT, related_name="+", db_index=False)
    assembly_minutes = models.PositiveIntegerField(default=0)
    notes = models.TextField(blank=True)
    delivered_quantity = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["order", "line_no"]
        constraints = [
            models.UniqueConstraint(fields=["order", "line_no"], name="line_unique_line_no"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="line_quantity_positive"),
        ]
        indexes = [
            # API list ?delivery_method= and ?stock_location= filter orders through their lines.
            models.Index(fields=["delivery_method", "order"], name="line_method_order_idx"),
            models.Index(fields=["stock_location", "order"], name="line_location_order_idx"),
        ]

    def __str__(self):
        return f"{self.order_id}#{self.line_no}"


class StockMovement(Versioned):
    """Trunking: stock moved between depots for one order on one lane (docs/trunking.md)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DISPATCHED = "dispatched", "Dispatched"
        RECEIVED = "received", "Received"
        CANCELLED = "cancelled", "Cancelled"

    reference = models.CharField(max_length=20, unique=True, null=True, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="movements")
    # No index of its own: movement_lane_ship_idx starts with this column (one index fewer to write per create).
    from_location = models.ForeignKey(StockLocation, on_delete=models.PROTECT, related_name="+", db_index=False)
    to_location = models.ForeignKey(StockLocation, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    ship_date = models.DateField()
    due_date = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["ship_date", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(due_date__gte=models.F("ship_date")), name="movement_due_after_ship"),
            # One open (not cancelled) pending movement per order and lane.
            models.UniqueConstraint(
                fields=["order", "from_location", "to_location"],
                condition=Q(status="pending"),
                name="movement_one_pending_per_lane",
            ),
        ]
        indexes = [
            # Movement board and API list: by status and ship date, by lane.
            models.Index(fields=["status", "ship_date"], name="movement_status_ship_idx"),
            models.Index(fields=["from_location", "to_location", "ship_date"], name="movement_lane_ship_idx"),
        ]

    def __str__(self):
        return self.reference or f"movement {self.pk}"

    def can_become(self, target):
        return target in MOVEMENT_TRANSITIONS[self.status]

    @property
    def frozen(self):
        """Dispatched or received: the stock has left, so its lines can no longer change."""
        return self.status in (self.Status.DISPATCHED, self.Status.RECEIVED)


class StockMovementLine(models.Model):
    """How much of one order line a movement carries."""

    movement = models.ForeignKey(StockMovement, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(OrderLine, on_delete=models.SET_NULL, null=True, related_name="movement_lines")
    line_no = models.PositiveIntegerField()
    sku = models.CharField(max_length=50)
    quantity = models.PositiveIntegerField()

    class Meta:
        ordering = ["movement", "line_no"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="movement_line_quantity_positive"),
        ]

    def __str__(self):
        return f"{self.movement_id}: {self.sku} x{self.quantity}"


# The status machine (docs/status-machine.md): the statuses an order or a leg may move to from each
# status. `planned → planned` is a re-plan (new date or route); a change of lines takes a planned or
# failed order back to ready or awaiting_stock.
_S = Order.Status
ORDER_TRANSITIONS = {
    _S.AWAITING_STOCK: {_S.READY, _S.CANCELLED},
    _S.READY: {_S.AWAITING_STOCK, _S.PLANNED, _S.CANCELLED},
    _S.PLANNED: {_S.READY, _S.AWAITING_STOCK, _S.PLANNED, _S.IN_PROGRESS, _S.CANCELLED},
    _S.IN_PROGRESS: {_S.COMPLETED, _S.FAILED},
    _S.FAILED: {_S.AWAITING_STOCK, _S.READY, _S.PLANNED, _S.CANCELLED},
    _S.COMPLETED: set(),
    _S.CANCELLED: set(),
}
# Statuses in which lines, address and time window may still change.
EDITABLE_STATUSES = frozenset({_S.AWAITING_STOCK, _S.READY, _S.PLANNED, _S.FAILED})

_MS = StockMovement.Status
MOVEMENT_TRANSITIONS = {
    _MS.PENDING: {_MS.DISPATCHED, _MS.CANCELLED},
    _MS.DISPATCHED: {_MS.RECEIVED},
    _MS.RECEIVED: set(),
    _MS.CANCELLED: set(),
}


class StatusChange(models.Model):
    """One status change of an order, a group or a movement: from, to, when, by whom, and why."""

    class Subject(models.TextChoices):
        ORDER = "order", "Order"
        GROUP = "group", "Group"
        MOVEMENT = "movement", "Stock movement"

    class ActorKind(models.TextChoices):
        USER = "user", "User"
        API_CLIENT = "api_client", "API client"
        INBOUND_SOURCE = "inbound_source", "Inbound source"
        SYSTEM = "system", "System"

    # No index of its own: statuschange_order_at_idx starts with this column (one index fewer to write per create).
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="history", db_index=False)
    subject = models.CharField(max_length=20, choices=Subject.choices)
    group = models.ForeignKey(OrderGroup, on_delete=models.CASCADE, null=True, blank=True, related_name="history")
    movement = models.ForeignKey(StockMovement, on_delete=models.CASCADE, null=True, blank=True, related_name="history")
    previous_status = models.CharField(max_length=20, blank=True)
    status = models.CharField(max_length=20)
    at = models.DateTimeField(auto_now_add=True)
    actor_kind = models.CharField(max_length=20, choices=ActorKind.choices)
    actor_label = models.CharField(max_length=150)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            # Status endpoint and order page: an order's history in time order.
            models.Index(fields=["order", "at"], name="statuschange_order_at_idx"),
        ]

    def __str__(self):
        return f"{self.subject} {self.previous_status or '∅'}→{self.status}"

    @property
    def actor(self):
        return actor_label(self.actor_kind, self.actor_label)


class OutboxEvent(models.Model):
    """An outbound webhook event, written in the same transaction as the change that caused it.

    Immutable once written; the webhooks app fans it out to subscriptions.
    """

    class Type(models.TextChoices):
        ORDER_CREATED = "order.created"
        ORDER_UPDATED = "order.updated"
        ORDER_STATUS_CHANGED = "order.status_changed"
        ORDER_COMPLETED = "order.completed"
        ORDER_FAILED = "order.failed"
        ORDER_CANCELLED = "order.cancelled"
        MOVEMENT_CREATED = "stock_movement.created"
        MOVEMENT_STATUS_CHANGED = "stock_movement.status_changed"

    type = models.CharField(max_length=40, choices=Type.choices)
    occurred_at = models.DateTimeField()
    # No index of its own: outbox_order_idx starts with this column (one index fewer to write per create).
    order = models.ForeignKey(Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False)
    movement = models.ForeignKey(StockMovement, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    payload = models.JSONField(help_text='The body sent: {"type", "timestamp", "data"}.')

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["order", "id"], name="outbox_order_idx")]

    def __str__(self):
        return f"{self.type} #{self.pk}"


class IdempotencyKey(models.Model):
    """A client's Idempotency-Key with the hash of its request body and, once done, the response."""

    class State(models.TextChoices):
        IN_FLIGHT = "in_flight", "In flight"
        DONE = "done", "Done"

    # No index of its own: idempotency_unique_client_key starts with this column (one index fewer to write per create).
    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=20, choices=State.choices, default=State.IN_FLIGHT)
    response_status = models.PositiveIntegerField(null=True)
    response_body = models.JSONField(null=True)
    response_headers = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "key"], name="idempotency_unique_client_key")]
        # Expired keys are purged by age.
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_idx")]

    def __str__(self):
        return f"{self.client_id}:{self.key}"


class NoteChange(models.Model):
    """Who changed an order's driver notes or location instructions, when, and to what.

    The office edits these inline many times a day; each change is kept so nothing is overwritten
    silently and the page can say who wrote the current text.
    """

    class Field(models.TextChoices):
        DRIVER_NOTES = "driver_notes", "Driver notes"
        LOCATION_INSTRUCTIONS = "location_instructions", "Location instructions"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="note_changes")
    field = models.CharField(max_length=30, choices=Field.choices)
    previous_value = models.TextField(blank=True)
    value = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True)
    actor_kind = models.CharField(max_length=20, choices=StatusChange.ActorKind.choices)
    actor_label = models.CharField(max_length=150)

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            # Order page: the latest change of each note.
            models.Index(fields=["order", "field", "at"], name="notechange_order_field_idx"),
        ]

    def __str__(self):
        return f"{self.order_id} {self.field} by {self.actor_label}"


class ImportJob(models.Model):
    """One upload of the Stream order layout (docs/import.md), read by a background job.

    The file is kept here, gzip-compressed, rather than on disk: web processes and Celery workers
    may run on different machines that share only PostgreSQL and Redis, and a row goes away with
    its job. Compressed, a 100,000-row upload is a few megabytes, and the job streams it back.
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    file_name = models.CharField(max_length=255, blank=True)
    file_size = models.PositiveBigIntegerField(default=0)
    file_gzip = models.BinaryField()
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created = models.JSONField(default=list, help_text="Order numbers created, in file order.")
    errors = models.JSONField(default=list, help_text="[{row, column, order_no, message}], by file line.")
    error_count = models.PositiveIntegerField(default=0, help_text="All errors found, also those past the list's cap.")
    failure = models.TextField(blank=True, help_text="Why the job as a whole failed, if it did.")
    started_by_client = models.ForeignKey(
        ApiClient, on_delete=models.PROTECT, null=True, blank=True, related_name="import_jobs"
    )
    started_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    attempts = models.PositiveIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The sweeper's lookup of jobs whose worker may have died.
            models.Index(
                fields=["heartbeat_at"], condition=Q(state__in=["queued", "running"]), name="importjob_unfinished_idx"
            ),
            # The imports page and API: a client's own jobs, newest first.
            models.Index(fields=["started_by_client", "created_at"], name="importjob_client_created_idx"),
        ]

    def __str__(self):
        return f"import #{self.pk} ({self.state})"

    @property
    def finished(self):
        return self.state in (self.State.DONE, self.State.FAILED)
