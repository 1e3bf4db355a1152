"""Query filters of the API's lists: validated like bodies (bad values answer 400), applied in one place."""

from django.db.models import Exists, OuterRef
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from ..models import DeliveryMethod, Order, OrderLine, StockLocation, StockMovement
from .fields import CodeField


class MultiChoiceField(serializers.CharField):
    """A comma-separated list of choices, e.g. `status=ready,planned`."""

    def __init__(self, choices, **kwargs):
        self.choices = choices
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        values = [v.strip() for v in super().to_internal_value(data).split(",") if v.strip()]
        unknown = [v for v in values if v not in self.choices]
        if unknown or not values:
            raise serializers.ValidationError(f"Choose from: {', '.join(self.choices)}.")
        return values


def _dates(queryset, filters, field):
    """Apply `<field>`, `<field>_from` and `<field>_to` (inclusive) when given."""
    for suffix, lookup in (("", ""), ("_from", "__gte"), ("_to", "__lte")):
        if f"{field}{suffix}" in filters:
            queryset = queryset.filter(**{f"{field}{lookup}": filters[f"{field}{suffix}"]})
    return queryset


class FilterSet(serializers.Serializer):
    """Query parameters in, a filtered queryset out."""

    @classmethod
    def apply(cls, request, queryset):
        return cls().filter(queryset, validated_filters(request, cls))

    @classmethod
    def parameters(cls):
        """The OpenAPI parameters of the filters (the paginator adds `cursor` and `page_size`)."""
        return field_parameters(cls)


def field_parameters(serializer_class):
    """One OpenAPI query parameter per field of a filter serializer."""
    params = []
    for name, field in serializer_class().fields.items():
        kind = {
            serializers.DateField: OpenApiTypes.DATE,
            serializers.DateTimeField: OpenApiTypes.DATETIME,
        }.get(type(field), OpenApiTypes.STR)
        enum = list(field.choices) if isinstance(field, serializers.ChoiceField) else None
        params.append(OpenApiParameter(name, kind, description=field.help_text or "", enum=enum))
    return params


def filter_parameters(serializer_class):
    """The parameters of a list that pages by hand (an APIView): its filters, the cursor and the page size."""
    return [
        *field_parameters(serializer_class),
        OpenApiParameter("cursor", OpenApiTypes.STR, description="From `next` or `previous` of the last page."),
        OpenApiParameter("page_size", OpenApiTypes.INT, description="1–200, default 50."),
    ]


def validated_filters(request, serializer_class):
    """The query parameters checked by a filter serializer; bad values answer 400."""
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class OrderFilter(FilterSet):
    status = MultiChoiceField(
        choices=Order.Status.values, required=False, help_text="One or more statuses, comma-separated."
    )
    updated_since = serializers.DateTimeField(required=False, help_text="Orders changed at or after this instant.")
    required_date = serializers.DateField(required=False)
    required_date_from = serializers.DateField(required=False, help_text="required_date on or after.")
    required_date_to = serializers.DateField(required=False, help_text="required_date on or before.")
    order_type = serializers.ChoiceField(choices=Order.Type.choices, required=False)
    delivery_method = CodeField(
        DeliveryMethod, active_only=False, required=False, help_text="Orders with a line delivered by this fleet."
    )
    stock_location = CodeField(
        StockLocation, active_only=False, required=False, help_text="Orders with a line whose stock is at this depot."
    )
    ordering = serializers.ChoiceField(
        choices=["created_at", "-created_at", "updated_at", "-updated_at"],
        required=False,
        help_text="Default -created_at (newest first). Use updated_at with updated_since to sync changes.",
    )

    def filter(self, queryset, filters):
        if "status" in filters:
            queryset = queryset.filter(status__in=filters["status"])
        if "updated_since" in filters:
            queryset = queryset.filter(updated_at__gte=filters["updated_since"])
        queryset = _dates(queryset, filters, "required_date")
        if "order_type" in filters:
            queryset = queryset.filter(order_type=filters["order_type"])
        for name in ("delivery_method", "stock_location"):
            if name in filters:
                queryset = queryset.filter(
                    Exists(OrderLine.objects.filter(order=OuterRef("pk"), **{name: filters[name]}))
                )
        return queryset


class MovementFilter(FilterSet):
    status = MultiChoiceField(choices=StockMovement.Status.values, required=False)
    from_location = CodeField(StockLocation, active_only=False, required=False)
    to_location = CodeField(StockLocation, active_only=False, required=False)
    ship_date = serializers.DateField(required=False)
    ship_date_from = serializers.DateField(required=False)
    ship_date_to = serializers.DateField(required=False)

    def filter(self, queryset, filters):
        if "status" in filters:
            queryset = queryset.filter(status__in=filters["status"])
        for name in ("from_location", "to_location"):
            if name in filters:
                queryset = queryset.filter(**{name: filters[name]})
        return _dates(queryset, filters, "ship_date")
