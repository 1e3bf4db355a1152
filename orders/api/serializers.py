"""Shapes of the v1 API (docs/api.md). Reference data appears as its `code`.

Input serializers validate and resolve codes; they map the public nested shape (`customer`,
`address`) onto model field names, which is what orders/services.py takes. Writes never happen here,
and answers are not made here either: orders/representation.py renders the order and the movement;
the output fields below describe that shape in the OpenAPI schema.
"""

from rest_framework import serializers

from ..addresses import AddressError, clean_address
from ..models import (
    AddressFields,
    DeliveryMethod,
    FailureReason,
    Lane,
    Order,
    OrderGroup,
    ServiceLevel,
    StockLocation,
    StockMovement,
)
from ..services import MAX_GROUPS_PER_ORDER, MAX_LINES_PER_ORDER
from .fields import CodeField, NewCodeField, OrderNoField

ADDRESS_FIELDS = AddressFields.ADDRESS_FIELDS
MAX_LINES = MAX_LINES_PER_ORDER
MAX_GROUPS = MAX_GROUPS_PER_ORDER


class AddressSerializer(serializers.Serializer):
    """An address: valid with line1 + postal_code + country, or with lat + lng."""

    line1 = serializers.CharField(max_length=100, required=False, allow_blank=True)
    line2 = serializers.CharField(max_length=100, required=False, allow_blank=True)
    line3 = serializers.CharField(max_length=100, required=False, allow_blank=True)
    town = serializers.CharField(max_length=100, required=False, allow_blank=True)
    county = serializers.CharField(max_length=100, required=False, allow_blank=True)
    postal_code = serializers.CharField(max_length=20, required=False, allow_blank=True)
    country = serializers.CharField(
        max_length=2, required=False, allow_blank=True, help_text="ISO 3166-1 alpha-2, e.g. GB."
    )
    lat = serializers.DecimalField(
        max_digits=9, decimal_places=6, min_value=-90, max_value=90, required=False, allow_null=True
    )
    lng = serializers.DecimalField(
        max_digits=9, decimal_places=6, min_value=-180, max_value=180, required=False, allow_null=True
    )

    def validate(self, attrs):
        # In a PATCH, the address given is merged with the one stored before it is checked.
        # `partial` is set on the root serializer only; a nested one must ask the root.
        partial = getattr(self.root, "partial", False)
        instance = getattr(self.root, "instance", None) if partial and self.source == "*" else None
        merged = {f: getattr(instance, f) for f in ADDRESS_FIELDS} if instance is not None else {}
        merged.update(attrs)
        try:
            cleaned = clean_address(merged)
        except AddressError as exc:
            raise serializers.ValidationError({exc.field: [exc.message]} if exc.field else exc.message)
        for f in ("country", "postal_code"):
            if f in attrs or (f == "postal_code" and "country" in attrs and merged.get(f)):
                attrs[f] = cleaned[f]
        return attrs


def _time_window(attrs, instance=None):
    # In a PATCH one end may come alone: check it against the other end as stored.
    start = attrs.get("required_time_from", getattr(instance, "required_time_from", None))
    end = attrs.get("required_time_to", getattr(instance, "required_time_to", None))
    if start and end and start > end:
        raise serializers.ValidationError({"required_time_to": ["The window must end after it starts."]})


class CustomerSerializer(serializers.Serializer):
    name = serializers.CharField(source="customer_name", max_length=100)
    mobile = serializers.CharField(source="customer_mobile", max_length=30, required=False, allow_blank=True)
    email = serializers.EmailField(source="customer_email", max_length=254, required=False, allow_blank=True)
    phone = serializers.CharField(source="customer_phone", max_length=30, required=False, allow_blank=True)


class LineSerializer(serializers.Serializer):
    """An item line. In PATCH, only `line_no` is required; given fields change, others stay."""

    line_no = serializers.IntegerField(min_value=1, max_value=9999)
    sequence = serializers.IntegerField(
        source="group.sequence",
        min_value=1,
        max_value=MAX_GROUPS,
        required=False,
        help_text="The group (leg) the line belongs to. Needed for new lines of a multi order in PATCH.",
    )
    sku = serializers.CharField(max_length=50)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    quantity = serializers.IntegerField(min_value=1, max_value=100000)
    weight_kg = serializers.DecimalField(
        max_digits=9, decimal_places=3, min_value=0, required=False, allow_null=True, coerce_to_string=False
    )
    cube_m3 = serializers.DecimalField(
        max_digits=9, decimal_places=4, min_value=0, required=False, allow_null=True, coerce_to_string=False
    )
    stock_location = CodeField(StockLocation, help_text="Code of the depot that holds the stock.")
    on_hand_date = serializers.DateField(
        required=False, help_text="When the item is in stock at stock_location. Default: today."
    )
    delivery_method = CodeField(DeliveryMethod, help_text="Code of the fleet doing the final mile.")
    assembly_minutes = serializers.IntegerField(min_value=0, max_value=1440, required=False)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    delivered_quantity = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="Set on completion; below quantity for a partial delivery."
    )

    def validate_on_hand_date(self, value):
        # Trunking adds transit days to it; a date at the end of the calendar would overflow.
        if value.year >= 9999:
            raise serializers.ValidationError("Use a date before the year 9999.")
        return value

    def to_internal_value(self, data):
        return self.finish_internal(super().to_internal_value(data))

    def finish_internal(self, attrs):
        # The fast create validator (orders/api/validation.py) calls this too.
        group = attrs.pop("group", None)
        if group is not None:
            attrs["sequence"] = group["sequence"]
        return attrs


class GroupSerializer(serializers.Serializer):
    """A group (leg): its own address, time window, status and lines."""

    sequence = serializers.IntegerField(min_value=1, max_value=MAX_GROUPS)
    group_type = serializers.ChoiceField(choices=OrderGroup.Type.choices)
    address = AddressSerializer(source="*")
    required_date = serializers.DateField(required=False, allow_null=True)
    required_time_from = serializers.TimeField(required=False, allow_null=True)
    required_time_to = serializers.TimeField(required=False, allow_null=True)
    status = serializers.ChoiceField(choices=Order.Status.choices, read_only=True)
    plan = serializers.JSONField(read_only=True, allow_null=True, help_text="Route details once planned.")
    lines = LineSerializer(many=True, max_length=MAX_LINES)

    def validate(self, attrs):
        _time_window(attrs, self.instance)
        return attrs


class GroupUpdateSerializer(GroupSerializer):
    """PATCH of one group: any of group_type, address, required date and window."""

    sequence = serializers.IntegerField(read_only=True)
    lines = LineSerializer(many=True, read_only=True)


class MovementLineSerializer(serializers.Serializer):
    line_no = serializers.IntegerField()
    sku = serializers.CharField()
    quantity = serializers.IntegerField()


class MovementSerializer(serializers.Serializer):
    """A stock movement (trunking) between two depots for one order."""

    reference = serializers.CharField(read_only=True)
    order_no = serializers.CharField(source="order.order_no", read_only=True)
    from_location = serializers.CharField(source="from_location.code", read_only=True)
    to_location = serializers.CharField(source="to_location.code", read_only=True)
    status = serializers.ChoiceField(choices=StockMovement.Status.choices, read_only=True)
    ship_date = serializers.DateField(read_only=True)
    due_date = serializers.DateField(read_only=True)
    version = serializers.IntegerField(read_only=True)
    lines = MovementLineSerializer(many=True, read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)


class OrderSerializer(serializers.Serializer):
    """An order with all its fields, lines, groups and movements."""

    order_no = OrderNoField()
    order_date = serializers.DateField(required=False, help_text="Default: today.")
    order_type = serializers.ChoiceField(choices=Order.Type.choices, default=Order.Type.DELIVERY)
    customer = CustomerSerializer(source="*")
    address = AddressSerializer(
        source="*",
        required=False,
        help_text="Required for delivery and collection orders; a multi order's defaults to its first group's.",
    )
    customer_reference = serializers.CharField(max_length=100, required=False, allow_blank=True)
    customer_address = AddressSerializer(required=False, allow_null=True)
    service_level = CodeField(ServiceLevel, required=False, allow_null=True)
    unload_minutes = serializers.IntegerField(
        min_value=0,
        max_value=1440,
        required=False,
        allow_null=True,
        help_text="Default: the service level's default_unload_minutes.",
    )
    required_date = serializers.DateField(required=False, allow_null=True)
    required_time_from = serializers.TimeField(required=False, allow_null=True)
    required_time_to = serializers.TimeField(required=False, allow_null=True)
    order_notes = serializers.CharField(required=False, allow_blank=True, max_length=5000, help_text="Office only.")
    location_instructions = serializers.CharField(
        required=False, allow_blank=True, max_length=5000, help_text="About the address; visible to drivers."
    )
    driver_notes = serializers.CharField(
        required=False, allow_blank=True, max_length=5000, help_text="Visible to drivers."
    )
    status = serializers.ChoiceField(choices=Order.Status.choices, read_only=True)
    version = serializers.IntegerField(read_only=True, help_text="Raised by one on every change; the ETag.")
    tracking_url = serializers.CharField(read_only=True, help_text="Public tracking page for the customer.")
    earliest_delivery_date = serializers.DateField(read_only=True, allow_null=True)
    attempt_count = serializers.IntegerField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)
    source = serializers.CharField(
        read_only=True, help_text="Who created it: `api_client:<client name>`, `user:<username>` or `system`."
    )
    lines = LineSerializer(
        many=True,
        required=False,
        max_length=MAX_LINES,
        help_text="Delivery and collection orders: the lines. Multi orders: every group's lines (read only).",
    )
    groups = GroupSerializer(
        many=True,
        required=False,
        max_length=MAX_GROUPS,
        help_text="Multi orders: two or more groups, each with its lines. Every order has at least one.",
    )
    movements = MovementSerializer(many=True, read_only=True)

    def validate_customer_address(self, value):
        # Kept in a JSONField, which cannot encode Decimal: every field, lat/lng as strings.
        if value is None:
            return None
        stored = {f: value.get(f, "") for f in ADDRESS_FIELDS if f not in ("lat", "lng")}
        for f in ("lat", "lng"):
            stored[f] = None if value.get(f) is None else str(value[f])
        return stored

    def validate(self, attrs):
        # Which of `lines` and `groups` an order type takes is the API's shape; how many lines and
        # groups an order needs or may have is the domain's rule (services.create_order).
        _time_window(attrs)
        order_type = attrs.get("order_type", Order.Type.DELIVERY)
        if order_type == Order.Type.MULTI:
            if attrs.get("lines"):
                raise serializers.ValidationError({"lines": ["A multi order's lines go inside its groups."]})
        else:
            if attrs.get("groups"):
                raise serializers.ValidationError(
                    {"groups": ["Only multi orders take groups; a delivery or collection order takes lines."]}
                )
            if not attrs.get("line1") and attrs.get("lat") is None:
                raise serializers.ValidationError({"address": ["This field is required."]})
        return attrs


class PartialLineSerializer(LineSerializer):
    """A line in PATCH: everything but line_no optional (required for new lines, checked by the service)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if name != "line_no" and not field.read_only:
                field.required = False

    def validate(self, attrs):
        # A partial (PATCH) root lets DRF skip every missing field, line_no included: insist on it here.
        if "line_no" not in attrs:
            raise serializers.ValidationError({"line_no": ["This field is required."]})
        return attrs


class OrderUpdateSerializer(OrderSerializer):
    """PATCH of an order: header fields, and lines matched by line_no."""

    order_no = serializers.CharField(read_only=True)
    order_type = serializers.ChoiceField(choices=Order.Type.choices, read_only=True)
    customer = CustomerSerializer(source="*", required=False)
    address = AddressSerializer(source="*", required=False)
    lines = PartialLineSerializer(many=True, required=False, max_length=MAX_LINES)
    groups = GroupSerializer(many=True, read_only=True)
    replace_lines = serializers.BooleanField(
        write_only=True, default=False, help_text="With `lines`: remove the lines not given."
    )

    def validate(self, attrs):
        _time_window(attrs, self.instance)
        return attrs


class LinesReplaceSerializer(serializers.Serializer):
    """PUT lines: the given lines become the order's lines."""

    lines = LineSerializer(many=True, max_length=MAX_LINES)


class CancelSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=1000, help_text="Why it was cancelled.")


class MovementActionSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=1000)


class HistorySerializer(serializers.Serializer):
    status = serializers.CharField()
    previous_status = serializers.CharField(allow_null=True)
    at = serializers.DateTimeField()
    actor = serializers.CharField(help_text="`system`, `user:<name>`, `api_client:<name>` or `inbound_source:<name>`.")
    note = serializers.CharField()


class OrderStatusSerializer(serializers.Serializer):
    order_no = serializers.CharField()
    status = serializers.ChoiceField(choices=Order.Status.choices)
    tracking_url = serializers.CharField()
    history = HistorySerializer(many=True)
    movements = MovementSerializer(many=True)
    pod = serializers.JSONField(allow_null=True, help_text="Proof of delivery, once completed.")


class BulkResultSerializer(serializers.Serializer):
    order_no = serializers.CharField(allow_null=True)
    result = serializers.ChoiceField(choices=["created", "error"])
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class BulkResponseSerializer(serializers.Serializer):
    results = BulkResultSerializer(many=True)


# --- Reference data -----------------------------------------------------------------------------


class ReferenceSerializer(serializers.ModelSerializer):
    """Reference data, addressed by a `code` that is unique (active or not) and never changes."""

    code = NewCodeField(help_text="Unique code by which the item is addressed and referenced, e.g. BHM.")

    def validate_code(self, value):
        if self.instance is not None:
            if value != self.instance.code:
                raise serializers.ValidationError(
                    "A code cannot change once made: integrations know it. Create a new one."
                )
            return value
        # A code taken already is a 400 with the field named, not a database conflict.
        model = self.Meta.model
        if model.objects.filter(code=value).exists():
            raise serializers.ValidationError(f"A {model._meta.verbose_name} with this code exists already.")
        return value


class StockLocationSerializer(ReferenceSerializer):
    address = AddressSerializer(source="*", required=False)

    class Meta:
        model = StockLocation
        fields = ["code", "name", "address", "active"]


class DeliveryMethodSerializer(ReferenceSerializer):
    depot = CodeField(StockLocation, help_text="Code of the stock location the fleet runs from.")

    class Meta:
        model = DeliveryMethod
        fields = ["code", "name", "depot", "active"]

    def validate_depot(self, value):
        if self.instance is not None and value.pk != self.instance.depot_id:
            raise serializers.ValidationError(
                "A fleet's depot cannot change: open orders were trunked to it. Create a new delivery method."
            )
        return value


class ServiceLevelSerializer(ReferenceSerializer):
    default_unload_minutes = serializers.IntegerField(min_value=0, max_value=1440, required=False)

    class Meta:
        model = ServiceLevel
        fields = ["code", "name", "description", "default_unload_minutes", "active"]


class FailureReasonSerializer(ReferenceSerializer):
    class Meta:
        model = FailureReason
        fields = ["code", "description", "active"]


class LaneSerializer(serializers.ModelSerializer):
    from_location = CodeField(StockLocation)
    to_location = CodeField(StockLocation)
    transit_days = serializers.IntegerField(min_value=0, max_value=60)

    class Meta:
        model = Lane
        fields = ["id", "from_location", "to_location", "transit_days"]
        validators = []

    def validate(self, attrs):
        from_location = attrs.get("from_location", getattr(self.instance, "from_location", None))
        to_location = attrs.get("to_location", getattr(self.instance, "to_location", None))
        if from_location == to_location:
            raise serializers.ValidationError({"to_location": ["A lane joins two different depots."]})
        clash = Lane.objects.filter(from_location=from_location, to_location=to_location)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise serializers.ValidationError({"to_location": ["A lane between these depots exists already."]})
        return attrs
