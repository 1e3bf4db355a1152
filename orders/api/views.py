"""The v1 REST API (SPEC §5). Views validate, scope and call orders/services.py; they never write."""

import re

from django.db import transaction
from django.db.models import Exists, OuterRef
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import events, services
from ..domain import Actor, OrderError
from ..models import (
    ApiClient,
    DeliveryMethod,
    FailureReason,
    Lane,
    Order,
    OrderLine,
    ServiceLevel,
    StockLocation,
    StockMovement,
)
from . import idempotency
from .auth import sees_all
from .errors import flatten
from .serializers import (
    BulkResponseSerializer,
    CancelSerializer,
    DeliveryMethodSerializer,
    FailureReasonSerializer,
    GroupUpdateSerializer,
    LaneSerializer,
    LinesReplaceSerializer,
    MovementActionSerializer,
    MovementSerializer,
    OrderSerializer,
    OrderStatusSerializer,
    OrderUpdateSerializer,
    ServiceLevelSerializer,
    StockLocationSerializer,
    history_representation,
    movement_queryset,
    order_queryset,
)

ORDER_NO_RE = re.compile(r"^[^\x00-\x1f/\\?#%]{1,50}$")
IDEMPOTENCY_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
MAX_BULK = 500

READ, WRITE = ApiClient.Scope.ORDERS_READ, ApiClient.Scope.ORDERS_WRITE

IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description='Optional. The version you last read, as its ETag (`"3"`). A stale version answers 412.',
)
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Optional, up to 255 printable characters, unique per request you mean. The same key and "
    "body within 24 h replays the first answer with `Idempotent-Replayed: true`; another body answers 422; "
    "a key whose first request is still running answers 409.",
)
ORDER_NO = OpenApiParameter("order_no", OpenApiTypes.STR, OpenApiParameter.PATH, description="The order number.")


def actor_of(request):
    return Actor.for_client(request.auth)


def expected_version(request):
    """The version named by If-Match, or None when absent or `*`."""
    value = request.headers.get("If-Match")
    if value is None or value.strip() == "*":
        return None
    match = re.fullmatch(r'\s*(?:W/)?"?(\d{1,9})"?\s*', value)
    if not match:
        raise ValidationError({"If-Match": ['If-Match must be an ETag such as "3".']})
    return int(match.group(1))


def etag(version):
    return f'"{version}"'


def scoped_orders(request, queryset=None):
    queryset = Order.objects.all() if queryset is None else queryset
    if sees_all(request.auth):
        return queryset
    return queryset.filter(source_client=request.auth)


def get_order(request, order_no, queryset=None):
    """The order this client may see, or 404 (another client's order is 404 too)."""
    if not ORDER_NO_RE.match(order_no):
        raise NotFound("No such order.")
    try:
        return scoped_orders(request, queryset).get(order_no=order_no)
    except Order.DoesNotExist:
        raise NotFound("No such order.")


def order_response(order, status_code=status.HTTP_200_OK, extra_headers=None):
    """The whole order after a write. The outbox has just rendered it for the change's events, so that
    rendering is reused when it is of the current version; otherwise the order is read afresh."""
    data = events.rendered(order)
    if data is None:
        data = OrderSerializer(order_queryset().get(pk=order.pk)).data
    headers = {"ETag": etag(data["version"]), **(extra_headers or {})}
    return Response(data, status=status_code, headers=headers)


class Pagination(CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = ("-created_at", "-id")


def _codes(model, label):
    def check(value):
        if "\x00" in value or not model.objects.filter(code=value).exists():
            raise serializers.ValidationError(f"Unknown {label} code {value!r}.")
        return value

    return check


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


class OrderFilterSerializer(serializers.Serializer):
    status = MultiChoiceField(
        choices=Order.Status.values, required=False, help_text="One or more statuses, comma-separated."
    )
    updated_since = serializers.DateTimeField(required=False, help_text="Orders changed at or after this instant.")
    required_date = serializers.DateField(required=False)
    required_date_from = serializers.DateField(required=False, help_text="required_date on or after.")
    required_date_to = serializers.DateField(required=False, help_text="required_date on or before.")
    order_type = serializers.ChoiceField(choices=Order.Type.choices, required=False)
    delivery_method = serializers.CharField(
        max_length=20,
        required=False,
        validators=[_codes(DeliveryMethod, "delivery method")],
        help_text="Orders with a line delivered by this fleet.",
    )
    stock_location = serializers.CharField(
        max_length=20,
        required=False,
        validators=[_codes(StockLocation, "stock location")],
        help_text="Orders with a line whose stock is at this depot.",
    )
    ordering = serializers.ChoiceField(
        choices=["created_at", "-created_at", "updated_at", "-updated_at"],
        required=False,
        help_text="Default -created_at (newest first). Use updated_at with updated_since to sync changes.",
    )


def filter_parameters(serializer_class):
    params = []
    for name, field in serializer_class().fields.items():
        kind = {
            serializers.DateField: OpenApiTypes.DATE,
            serializers.DateTimeField: OpenApiTypes.DATETIME,
        }.get(type(field), OpenApiTypes.STR)
        enum = list(field.choices) if isinstance(field, serializers.ChoiceField) else None
        params.append(OpenApiParameter(name, kind, description=field.help_text or "", enum=enum))
    params += [
        OpenApiParameter("cursor", OpenApiTypes.STR, description="From `next` or `previous` of the last page."),
        OpenApiParameter("page_size", OpenApiTypes.INT, description="1–200, default 50."),
    ]
    return params


def filter_dates(queryset, filters, field):
    """Apply `<field>`, `<field>_from` and `<field>_to` (inclusive) when given."""
    for suffix, lookup in (("", ""), ("_from", "__gte"), ("_to", "__lte")):
        if f"{field}{suffix}" in filters:
            queryset = queryset.filter(**{f"{field}{lookup}": filters[f"{field}{suffix}"]})
    return queryset


def validated_filters(request, serializer_class):
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class OrderListCreateView(APIView):
    read_scope, write_scope = READ, WRITE
    extra_error_codes = {"POST": (409, 422)}

    @extend_schema(
        operation_id="orders_list",
        summary="List orders",
        parameters=filter_parameters(OrderFilterSerializer),
        responses=OrderSerializer(many=True),
    )
    def get(self, request):
        filters = validated_filters(request, OrderFilterSerializer)
        queryset = scoped_orders(request, order_queryset())
        if "status" in filters:
            queryset = queryset.filter(status__in=filters["status"])
        if "updated_since" in filters:
            queryset = queryset.filter(updated_at__gte=filters["updated_since"])
        queryset = filter_dates(queryset, filters, "required_date")
        if "order_type" in filters:
            queryset = queryset.filter(order_type=filters["order_type"])
        if "delivery_method" in filters:
            lines = OrderLine.objects.filter(order=OuterRef("pk"), delivery_method__code=filters["delivery_method"])
            queryset = queryset.filter(Exists(lines))
        if "stock_location" in filters:
            lines = OrderLine.objects.filter(order=OuterRef("pk"), stock_location__code=filters["stock_location"])
            queryset = queryset.filter(Exists(lines))
        paginator = Pagination()
        if "ordering" in filters:
            field = filters["ordering"]
            paginator.ordering = (field, "-id" if field.startswith("-") else "id")
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(OrderSerializer(page, many=True).data)

    @extend_schema(
        operation_id="orders_create",
        summary="Create an order",
        parameters=[IDEMPOTENCY_KEY],
        request=OrderSerializer,
        responses={201: OrderSerializer, 200: OpenApiResponse(OrderSerializer, description="A replay.")},
    )
    def post(self, request):
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return self._create(request)
        if not IDEMPOTENCY_KEY_RE.match(key):
            raise ValidationError({"Idempotency-Key": ["Use 1–255 printable ASCII characters, no spaces."]})
        record, replay = idempotency.begin(request.auth, key, idempotency.body_hash(request.data))
        if replay is not None:
            return replay
        try:
            response = self._create(request)
        except Exception:
            idempotency.release(record)
            raise
        idempotency.finish(record, response)
        return response

    def _create(self, request):
        """Create, turning any refusal into its response here so that an idempotency key can keep it."""
        try:
            serializer = OrderSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            order = create_from_validated(serializer.validated_data, actor_of(request))
        except Exception as exc:  # noqa: BLE001 - answered by the API's exception handler
            response = self.handle_exception(exc)
            return response
        return order_response(
            order,
            status.HTTP_201_CREATED,
            {"Location": f"/api/v1/orders/{order.order_no}/"},
        )


def create_from_validated(data, actor):
    data = dict(data)
    lines = data.pop("lines", None)
    groups = data.pop("groups", None)
    return services.create_order(actor=actor, fields=data, lines=lines, groups=groups)


class OrderBulkCreateView(APIView):
    read_scope, write_scope = READ, WRITE

    @extend_schema(
        operation_id="orders_bulk_create",
        summary="Create up to 500 orders",
        description="Each order is created or rejected on its own; the answer has one result per order, "
        "in the order given.",
        request=OrderSerializer(many=True),
        responses={200: BulkResponseSerializer},
    )
    def post(self, request):
        items = request.data
        if not isinstance(items, list):
            raise ValidationError({"non_field_errors": ["Send a JSON array of orders."]})
        if len(items) > MAX_BULK:
            raise ValidationError({"non_field_errors": [f"Send at most {MAX_BULK} orders at once."]})
        actor = actor_of(request)
        results = []
        for item in items:
            order_no = item.get("order_no") if isinstance(item, dict) else None
            if not isinstance(order_no, str):
                order_no = None
            serializer = OrderSerializer(data=item)
            if not serializer.is_valid():
                results.append({"order_no": order_no, "result": "error", "errors": flatten(serializer.errors)})
                continue
            # Name the order as it is stored (trimmed, a number as text), not as it was sent.
            order_no = serializer.validated_data["order_no"]
            try:
                create_from_validated(serializer.validated_data, actor)
            except OrderError as exc:
                results.append({"order_no": order_no, "result": "error", "errors": {"order_no": [exc.message]}})
                continue
            except Exception as exc:  # noqa: BLE001 - one bad order must not sink the others
                response = self.handle_exception(exc)
                errors = response.data.get("errors") or {"non_field_errors": [response.data.get("detail", "")]}
                results.append({"order_no": order_no, "result": "error", "errors": errors})
                continue
            results.append({"order_no": order_no, "result": "created", "errors": {}})
        return Response({"results": results})


class OrderDetailView(APIView):
    read_scope, write_scope = READ, WRITE
    extra_error_codes = {"PATCH": (409, 412)}

    @extend_schema(
        operation_id="orders_retrieve",
        summary="One order",
        parameters=[ORDER_NO],
        responses={200: OrderSerializer, 304: OpenApiResponse(description="Not modified (If-None-Match).")},
    )
    def get(self, request, order_no):
        order = get_order(request, order_no, order_queryset())
        tag = etag(order.version)
        if request.headers.get("If-None-Match") == tag:
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": tag})
        return Response(OrderSerializer(order).data, headers={"ETag": tag})

    @extend_schema(
        operation_id="orders_partial_update",
        summary="Change an order",
        description="Header fields given change; `lines` are matched by `line_no`: new ones are added, given "
        "ones changed, missing ones kept unless `replace_lines` is true. A change to a planned order's lines, "
        "address or window takes it off its plan.",
        parameters=[ORDER_NO, IF_MATCH],
        request=OrderUpdateSerializer,
        responses=OrderSerializer,
    )
    def patch(self, request, order_no):
        order = get_order(request, order_no)
        version = expected_version(request)
        serializer = OrderUpdateSerializer(order, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        lines = data.pop("lines", None)
        replace = data.pop("replace_lines", False)
        order = services.update_order(
            order, actor=actor_of(request), fields=data, lines=lines, replace_lines=replace, expected_version=version
        )
        return order_response(order)


class OrderLinesView(APIView):
    read_scope, write_scope = READ, WRITE
    extra_error_codes = {"PUT": (409, 412)}

    @extend_schema(
        operation_id="orders_lines_replace",
        summary="Replace an order's lines",
        parameters=[ORDER_NO, IF_MATCH],
        request=LinesReplaceSerializer,
        responses=OrderSerializer,
    )
    def put(self, request, order_no):
        order = get_order(request, order_no)
        version = expected_version(request)
        serializer = LinesReplaceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        lines = serializer.validated_data["lines"]
        if not order.is_multi:
            for line in lines:
                line.pop("sequence", None)
        order = services.replace_lines(order, actor=actor_of(request), lines=lines, expected_version=version)
        return order_response(order)


class OrderGroupView(APIView):
    read_scope, write_scope = READ, WRITE
    extra_error_codes = {"PATCH": (409, 412)}

    @extend_schema(
        operation_id="orders_groups_partial_update",
        summary="Change one group (leg)",
        parameters=[ORDER_NO, OpenApiParameter("sequence", OpenApiTypes.INT, OpenApiParameter.PATH), IF_MATCH],
        request=GroupUpdateSerializer,
        responses=OrderSerializer,
    )
    def patch(self, request, order_no, sequence):
        order = get_order(request, order_no)
        version = expected_version(request)
        group = order.groups.filter(sequence=sequence).first()
        if group is None:
            raise NotFound("The order has no such group.")
        serializer = GroupUpdateSerializer(group, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        order = services.update_group(
            order, sequence, actor=actor_of(request), fields=serializer.validated_data, expected_version=version
        )
        return order_response(order)


class OrderStatusView(APIView):
    read_scope, write_scope = READ, WRITE

    @extend_schema(
        operation_id="orders_status",
        summary="An order's status and history",
        parameters=[ORDER_NO],
        responses=OrderStatusSerializer,
    )
    def get(self, request, order_no):
        order = get_order(request, order_no)
        movements = movement_queryset().filter(order=order).order_by("id")
        return Response(
            {
                "order_no": order.order_no,
                "status": order.status,
                "tracking_url": order.tracking_url,
                "history": history_representation(order),
                "movements": MovementSerializer(movements, many=True).data,
                "pod": order.pod if order.status == Order.Status.COMPLETED else None,
            },
            headers={"ETag": etag(order.version)},
        )


class OrderCancelView(APIView):
    read_scope, write_scope = READ, WRITE
    extra_error_codes = {"POST": (409, 412)}

    @extend_schema(
        operation_id="orders_cancel",
        summary="Cancel an order",
        description="Cancels the order and its pending movements. An order in progress, completed or "
        "cancelled answers 409.",
        parameters=[ORDER_NO, IF_MATCH],
        request=CancelSerializer,
        responses=OrderSerializer,
    )
    def post(self, request, order_no):
        order = get_order(request, order_no)
        version = expected_version(request)
        serializer = CancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        order = services.cancel_order(
            order, actor=actor_of(request), note=serializer.validated_data.get("note", ""), expected_version=version
        )
        return order_response(order)


# --- Stock movements ----------------------------------------------------------------------------


class MovementFilterSerializer(serializers.Serializer):
    status = MultiChoiceField(choices=StockMovement.Status.values, required=False)
    from_location = serializers.CharField(
        max_length=20, required=False, validators=[_codes(StockLocation, "stock location")]
    )
    to_location = serializers.CharField(
        max_length=20, required=False, validators=[_codes(StockLocation, "stock location")]
    )
    ship_date = serializers.DateField(required=False)
    ship_date_from = serializers.DateField(required=False)
    ship_date_to = serializers.DateField(required=False)


class MovementPagination(Pagination):
    ordering = ("ship_date", "id")


MOVEMENT_REF = OpenApiParameter("reference", OpenApiTypes.STR, OpenApiParameter.PATH, description="e.g. MV-000123")


class MovementListView(APIView):
    read_scope, write_scope = READ, WRITE

    @extend_schema(
        operation_id="stock_movements_list",
        summary="List stock movements",
        parameters=filter_parameters(MovementFilterSerializer),
        responses=MovementSerializer(many=True),
    )
    def get(self, request):
        filters = validated_filters(request, MovementFilterSerializer)
        queryset = movement_queryset()
        if not sees_all(request.auth):
            queryset = queryset.filter(order__source_client=request.auth)
        if "status" in filters:
            queryset = queryset.filter(status__in=filters["status"])
        for name in ("from_location", "to_location"):
            if name in filters:
                queryset = queryset.filter(**{f"{name}__code": filters[name]})
        queryset = filter_dates(queryset, filters, "ship_date")
        paginator = MovementPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(MovementSerializer(page, many=True).data)


class MovementActionView(APIView):
    read_scope, write_scope = READ, WRITE
    extra_error_codes = {"POST": (409, 412)}
    action = None

    def post(self, request, reference):
        queryset = StockMovement.objects.filter(reference=reference)
        if not sees_all(request.auth):
            queryset = queryset.filter(order__source_client=request.auth)
        if len(reference) > 20 or not queryset.exists():
            raise NotFound("No such stock movement.")
        version = expected_version(request)
        serializer = MovementActionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        service = services.dispatch_movement if self.action == "dispatch" else services.receive_movement
        movement = service(
            reference, actor=actor_of(request), expected_version=version, note=serializer.validated_data.get("note", "")
        )
        movement = movement_queryset().get(pk=movement.pk)
        return Response(MovementSerializer(movement).data, headers={"ETag": etag(movement.version)})


class MovementDispatchView(MovementActionView):
    action = "dispatch"

    @extend_schema(
        operation_id="stock_movements_dispatch",
        summary="Mark a movement dispatched",
        description="Only a pending movement can be dispatched. If-Match takes the movement's version.",
        parameters=[MOVEMENT_REF, IF_MATCH],
        request=MovementActionSerializer,
        responses=MovementSerializer,
    )
    def post(self, request, reference):
        return super().post(request, reference)


class MovementReceiveView(MovementActionView):
    action = "receive"

    @extend_schema(
        operation_id="stock_movements_receive",
        summary="Mark a movement received",
        description="Only a dispatched movement can be received. When it was the order's last one, the order "
        "becomes ready.",
        parameters=[MOVEMENT_REF, IF_MATCH],
        request=MovementActionSerializer,
        responses=MovementSerializer,
    )
    def post(self, request, reference):
        return super().post(request, reference)


# --- Reference data -----------------------------------------------------------------------------


class ReferencePagination(CursorPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = "code"


class ReferenceViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Read with any valid key; create and change with `reference:write`. Nothing is deleted:
    set `active` to false to retire a code (orders keep theirs)."""

    read_scope = None
    write_scope = ApiClient.Scope.REFERENCE_WRITE
    lookup_field = "code"
    lookup_value_regex = r"[^/]{1,20}"
    pagination_class = ReferencePagination

    def perform_create(self, serializer):
        with transaction.atomic():
            serializer.save()

    def perform_update(self, serializer):
        with transaction.atomic():
            serializer.save()


def _reference_schema(name):
    return extend_schema_view(
        list=extend_schema(summary=f"List {name}s"),
        retrieve=extend_schema(summary=f"One {name}, by code"),
        create=extend_schema(summary=f"Create a {name}", responses={201: None}),
        update=extend_schema(summary=f"Replace a {name}"),
        partial_update=extend_schema(summary=f"Change a {name}"),
    )


@_reference_schema("stock location")
class StockLocationViewSet(ReferenceViewSet):
    queryset = StockLocation.objects.all()
    serializer_class = StockLocationSerializer


@_reference_schema("delivery method")
class DeliveryMethodViewSet(ReferenceViewSet):
    queryset = DeliveryMethod.objects.select_related("depot")
    serializer_class = DeliveryMethodSerializer


@_reference_schema("service level")
class ServiceLevelViewSet(ReferenceViewSet):
    queryset = ServiceLevel.objects.all()
    serializer_class = ServiceLevelSerializer


@_reference_schema("failure reason")
class FailureReasonViewSet(ReferenceViewSet):
    queryset = FailureReason.objects.all()
    serializer_class = FailureReasonSerializer


class LanePagination(ReferencePagination):
    ordering = "id"


@_reference_schema("lane")
class LaneViewSet(ReferenceViewSet):
    queryset = Lane.objects.select_related("from_location", "to_location")
    serializer_class = LaneSerializer
    lookup_field = "pk"
    lookup_value_regex = r"[0-9]{1,18}"
    pagination_class = LanePagination
