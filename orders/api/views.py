"""The v1 REST API (docs/api.md): viewsets that validate, scope and call orders/services.py.

They never write themselves, and they answer with orders/representation.py's shapes.
"""

import re

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from .. import reference, representation, services
from ..domain import Actor, OrderError
from ..identifiers import code_problem, order_no_problem, order_path
from ..models import ApiClient, DeliveryMethod, FailureReason, Lane, Order, ServiceLevel, StockLocation
from . import idempotency, validation
from .auth import sees_all
from .errors import exception_handler
from .fields import ORDER_NO_SCHEMA
from .filters import MovementFilter, OrderFilter, filter_parameters, validated_filters

# The webhooks app's API pages its lists with the same helpers.
__all__ = ["filter_parameters", "validated_filters"]
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
)

# Work limits per request, answered with 400 before any work is done (docs/security.md).
MAX_BULK_ORDERS = 500
MAX_BULK_LINES = 5000
MAX_LINES = services.MAX_LINES_PER_ORDER

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
ORDER_NO = OpenApiParameter(
    "order_no", ORDER_NO_SCHEMA, OpenApiParameter.PATH, description="The order number, percent-encoded."
)
SEQUENCE = OpenApiParameter("sequence", OpenApiTypes.INT, OpenApiParameter.PATH)
MOVEMENT_REF = OpenApiParameter("reference", OpenApiTypes.STR, OpenApiParameter.PATH, description="e.g. MV-000123")


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


def order_response(order, status_code=status.HTTP_200_OK, headers=None, *, created=False):
    """The whole order after a write (the outbox has just read what it needs, so this reads nothing);
    after a create, the order.created event's own rendering of it (`representation.created_dict`)."""
    data = representation.created_dict(order) if created else representation.order_dict(order)
    return Response(data, status=status_code, headers={"ETag": etag(data["version"]), **(headers or {})})


def lines_in(item):
    """How many lines an order body carries across its groups, counted before anything else is read."""
    if not isinstance(item, dict):
        return 0
    count = len(item["lines"]) if isinstance(item.get("lines"), list) else 0
    groups = item.get("groups")
    if isinstance(groups, list):
        count += sum(len(g["lines"]) for g in groups if isinstance(g, dict) and isinstance(g.get("lines"), list))
    return count


def too_many_lines(item):
    count = lines_in(item)
    if count > MAX_LINES:
        return {"lines": [f"An order has at most {MAX_LINES} lines across all its groups; this one has {count}."]}
    return None


def _create_arguments(validated):
    """(fields, lines, groups) for services.create_order from an OrderSerializer's validated data."""
    data = dict(validated)
    lines, groups = data.pop("lines", None), data.pop("groups", None)
    return data, lines, groups


def _refusal(exc):
    """A bulk result's errors for an order the domain or the database refused."""
    if isinstance(exc, OrderError):
        return {"order_no": [exc.message]}
    answer = exception_handler(exc, {}).data
    return answer.get("errors") or {"non_field_errors": [answer["detail"]]}


class Pagination(CursorPagination):
    """Cursor pages; a cursor that was not made by us answers 400, whatever the list's ordering."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = ("-created_at", "-id")
    invalid_cursor_message = "The cursor is not valid: use `next` or `previous` of the last page as given."

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError({"cursor": [self.invalid_cursor_message]})

    def paginate_queryset(self, queryset, request, view=None):
        try:
            return super().paginate_queryset(queryset, request, view)
        except (ValueError, TypeError, OverflowError, DjangoValidationError):
            # A well-formed cursor whose position does not fit the ordering (`p=abc` for an id).
            raise ValidationError({"cursor": [self.invalid_cursor_message]})


class OrderPagination(Pagination):
    """Order pages also stop early once they hold `line_budget` lines (at least one order a page), so
    a page of large orders stays a few hundred kilobytes. `next` carries on from the first order left
    out; a page reached through `previous` is not trimmed.

    The page holds `representation.order_values` rows (dicts), rendered together by
    `representation.order_dicts`; `trim` applies the budget to the rendered page."""

    line_budget = 2000

    def trim(self, rendered):
        """The rendered orders that fit the line budget (the rows of the page are trimmed alike)."""
        if not self.page or (self.cursor is not None and self.cursor.reverse):
            return rendered
        total = 0
        for index, data in enumerate(rendered):
            total += len(data["lines"])
            if total > self.line_budget and index > 0:
                self.next_position = self._get_position_from_instance(self.page[index], self.ordering)
                self.has_next = True
                self.page = self.page[:index]
                return rendered[:index]
        return rendered


class MovementPagination(Pagination):
    ordering = ("ship_date", "id")


class ReferencePagination(Pagination):
    page_size = 100
    max_page_size = 500
    ordering = "code"


class LanePagination(ReferencePagination):
    ordering = "id"


class ApiViewSet(viewsets.GenericViewSet):
    """Scopes for the whole API, declared once: reads need `orders:read`, writes `orders:write`."""

    read_scope = ApiClient.Scope.ORDERS_READ
    write_scope = ApiClient.Scope.ORDERS_WRITE
    pagination_class = Pagination

    def actor(self):
        return Actor.for_client(self.request.auth)

    def paginated(self, queryset, render):
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response([render(item) for item in page])


# --- Orders -------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        operation_id="orders_list",
        summary="List orders",
        parameters=OrderFilter.parameters(),
        responses=OrderSerializer(many=True),
    ),
    create=extend_schema(
        operation_id="orders_create",
        summary="Create an order",
        parameters=[IDEMPOTENCY_KEY],
        request=OrderSerializer,
        responses={201: OrderSerializer, 200: OpenApiResponse(OrderSerializer, description="A replay.")},
    ),
    retrieve=extend_schema(
        operation_id="orders_retrieve",
        summary="One order",
        parameters=[ORDER_NO],
        responses={200: OrderSerializer, 304: OpenApiResponse(description="Not modified (If-None-Match).")},
    ),
    partial_update=extend_schema(
        operation_id="orders_partial_update",
        summary="Change an order",
        description="Header fields given change; `lines` are matched by `line_no`: new ones are added, given "
        "ones changed, missing ones kept unless `replace_lines` is true. A change to a planned order's lines, "
        "address or window takes it off its plan. An order keeps at least one line (a multi order one on each "
        "delivery leg) and at most 500.",
        parameters=[ORDER_NO, IF_MATCH],
        request=OrderUpdateSerializer,
        responses=OrderSerializer,
    ),
)
class OrderViewSet(idempotency.IdempotentCreate, mixins.ListModelMixin, ApiViewSet):
    """Orders, addressed by `order_no`. A client sees its own orders; `orders:all` sees every one."""

    lookup_field = "order_no"
    serializer_class = OrderSerializer
    pagination_class = OrderPagination
    lookup_value_regex = "[^/]+"
    extra_error_codes = {
        "create": (409, 422),
        "partial_update": (409, 412),
        "lines": (409, 412),
        "groups": (409, 412),
        "cancel": (409, 412),
    }

    def get_queryset(self):
        queryset = Order.objects.all()
        if not sees_all(self.request.auth):
            queryset = queryset.filter(source_client=self.request.auth)
        return queryset

    def get_object(self, queryset=None):
        """The order this client may see, or 404 (another client's order is 404 too)."""
        order_no = self.kwargs["order_no"]
        if order_no_problem(order_no):
            raise NotFound("No such order.")
        try:
            return (queryset if queryset is not None else self.get_queryset()).get(order_no=order_no)
        except Order.DoesNotExist:
            raise NotFound("No such order.")

    def list(self, request):
        # A page is one query for its orders' columns and two for their groups, lines and movements
        # (representation.order_dicts), whatever its size: no model instances, no prefetch querysets.
        queryset = representation.order_values(OrderFilter.apply(request, self.get_queryset()))
        paginator = self.paginator
        ordering = request.query_params.get("ordering")
        if ordering in ("created_at", "-created_at", "updated_at", "-updated_at"):
            paginator.ordering = (ordering, "-id" if ordering.startswith("-") else "id")
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(paginator.trim(representation.order_dicts(page)))

    preloaded = None

    def claim_along(self, request):
        """The reference data this create needs, read in the Idempotency-Key claim's statement (one round
        trip for both); not for a body with too many lines, which `create` refuses before reading any."""
        if too_many_lines(request.data):
            return None
        plan = reference.plan_load([request.data])
        if plan.sql is None:
            self.preloaded = plan.loaded
            return None

        def received(rows):
            self.preloaded = plan.received(rows)

        return plan.sql, plan.params, received

    def create(self, request):
        limit = too_many_lines(request.data)
        if limit:
            raise ValidationError(limit)
        loaded = self.preloaded if self.preloaded is not None else reference.load([request.data])
        # OrderSerializer's rules, compiled once (orders/api/validation.py): the same answer, faster.
        validated = validation.validate_order(request.data, loaded.tables)
        order = self._create(validated, loaded.prepared)
        return order_response(order, status.HTTP_201_CREATED, {"Location": order_path(order.order_no)}, created=True)

    def _create(self, validated, prepared=None):
        fields, lines, groups = _create_arguments(validated)
        # With an Idempotency-Key the whole request is one transaction, rolled back on a refusal.
        return services.create_order(
            actor=self.actor(),
            fields=fields,
            lines=lines,
            groups=groups,
            prepared=prepared,
            savepoint=not self.in_transaction,
        )

    @extend_schema(
        operation_id="orders_bulk_create",
        summary="Create up to 500 orders",
        description="Each order is created or refused on its own; the answer has one result per order, in the "
        "order given. Up to 500 orders and 5,000 lines in all. If the server fails part-way, no order of the "
        "request is kept.",
        request=OrderSerializer(many=True),
        responses={200: BulkResponseSerializer},
    )
    @action(detail=False, methods=["post"])
    def bulk(self, request):
        items = request.data
        if not isinstance(items, list):
            raise ValidationError({"non_field_errors": ["Send a JSON array of orders."]})
        if len(items) > MAX_BULK_ORDERS:
            raise ValidationError({"non_field_errors": [f"Send at most {MAX_BULK_ORDERS} orders at once."]})
        total = sum(lines_in(item) for item in items)
        if total > MAX_BULK_LINES:
            raise ValidationError(
                {"non_field_errors": [f"Send at most {MAX_BULK_LINES} lines in one request; this one has {total}."]}
            )
        # Every order is validated first, against reference data read once for the whole request;
        # then the valid ones are created together (services.create_orders), each still answered on
        # its own. All or nothing on a server error: one transaction, and only an unforeseen failure,
        # which answers 500, rolls back the orders already made.
        loaded = reference.load(items)
        results, valid = [], []
        for item in items:
            result, validated = self._bulk_check(item, loaded.tables)
            results.append(result)
            if validated is not None:
                valid.append((result, validated))
        with transaction.atomic():
            outcomes = services.create_orders(
                actor=self.actor(),
                orders=[_create_arguments(validated) for _, validated in valid],
                prepared=loaded.prepared,
            )
        for (result, _), outcome in zip(valid, outcomes, strict=True):
            if isinstance(outcome, Order):
                result["result"] = "created"
            else:
                result["result"], result["errors"] = "error", _refusal(outcome)
        return Response({"results": results})

    def _bulk_check(self, item, tables):
        """(the order's result, its validated data or None when refused)."""
        order_no = item.get("order_no") if isinstance(item, dict) else None
        order_no = order_no if isinstance(order_no, str) else None
        errors = too_many_lines(item)
        if errors is None:
            validated, errors = validation.check_order(item, tables)
        if errors is not None:
            return {"order_no": order_no, "result": "error", "errors": errors}, None
        # Name the order as it is stored (trimmed), not as it was sent.
        return {"order_no": validated["order_no"], "result": "created", "errors": {}}, validated

    def retrieve(self, request, order_no):
        order = self.get_object(representation.with_related(self.get_queryset()))
        tag = etag(order.version)
        if request.headers.get("If-None-Match") == tag:
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": tag})
        return Response(representation.order_dict(order), headers={"ETag": tag})

    def partial_update(self, request, order_no):
        order = self.get_object()
        version = expected_version(request)
        serializer = OrderUpdateSerializer(order, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        lines = data.pop("lines", None)
        replace = data.pop("replace_lines", False)
        order = services.update_order(
            order, actor=self.actor(), fields=data, lines=lines, replace_lines=replace, expected_version=version
        )
        return order_response(order)

    @extend_schema(
        operation_id="orders_lines_replace",
        summary="Replace an order's lines",
        description="The lines given become the order's lines. An order keeps at least one line (a multi order "
        "one on each delivery leg) and at most 500.",
        parameters=[ORDER_NO, IF_MATCH],
        request=LinesReplaceSerializer,
        responses=OrderSerializer,
    )
    @action(detail=True, methods=["put"])
    def lines(self, request, order_no):
        order = self.get_object()
        version = expected_version(request)
        serializer = LinesReplaceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        lines = serializer.validated_data["lines"]
        if not order.is_multi:
            for line in lines:
                line.pop("sequence", None)
        order = services.replace_lines(order, actor=self.actor(), lines=lines, expected_version=version)
        return order_response(order)

    @extend_schema(
        operation_id="orders_groups_partial_update",
        summary="Change one group (leg)",
        parameters=[ORDER_NO, SEQUENCE, IF_MATCH],
        request=GroupUpdateSerializer,
        responses=OrderSerializer,
    )
    @action(detail=True, methods=["patch"], url_path=r"groups/(?P<sequence>[0-9]+)")
    def groups(self, request, order_no, sequence):
        order = self.get_object()
        version = expected_version(request)
        group = order.groups.filter(sequence=int(sequence)).first()
        if group is None:
            raise NotFound("The order has no such group.")
        serializer = GroupUpdateSerializer(group, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        order = services.update_group(
            order, int(sequence), actor=self.actor(), fields=serializer.validated_data, expected_version=version
        )
        return order_response(order)

    @extend_schema(
        operation_id="orders_status",
        summary="An order's status and history",
        parameters=[ORDER_NO],
        responses=OrderStatusSerializer,
    )
    @action(detail=True, methods=["get"])
    def status(self, request, order_no):
        order = self.get_object()
        return Response(representation.status_dict(order), headers={"ETag": etag(order.version)})

    @extend_schema(
        operation_id="orders_cancel",
        summary="Cancel an order",
        description="Cancels the order and its pending movements. An order in progress, completed or "
        "cancelled answers 409.",
        parameters=[ORDER_NO, IF_MATCH],
        request=CancelSerializer,
        responses=OrderSerializer,
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, order_no):
        order = self.get_object()
        version = expected_version(request)
        serializer = CancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        order = services.cancel_order(
            order, actor=self.actor(), note=serializer.validated_data.get("note", ""), expected_version=version
        )
        return order_response(order)


# --- Stock movements ----------------------------------------------------------------------------


MOVEMENT_ACTION = {
    "request": MovementActionSerializer,
    "responses": MovementSerializer,
    "parameters": [MOVEMENT_REF, IF_MATCH],
}


@extend_schema_view(
    list=extend_schema(
        operation_id="stock_movements_list",
        summary="List stock movements",
        parameters=MovementFilter.parameters(),
        responses=MovementSerializer(many=True),
    ),
    dispatch_movement=extend_schema(
        operation_id="stock_movements_dispatch",
        summary="Mark a movement dispatched",
        description="Only a pending movement can be dispatched. If-Match takes the movement's version.",
        **MOVEMENT_ACTION,
    ),
    receive_movement=extend_schema(
        operation_id="stock_movements_receive",
        summary="Mark a movement received",
        description="Only a dispatched movement can be received. When it was the order's last one, the order "
        "becomes ready.",
        **MOVEMENT_ACTION,
    ),
)
class MovementViewSet(mixins.ListModelMixin, ApiViewSet):
    """Stock movements (trunking), addressed by `reference`: listed, dispatched and received."""

    lookup_field = "reference"
    serializer_class = MovementSerializer
    lookup_value_regex = "[^/]+"
    pagination_class = MovementPagination
    extra_error_codes = {"dispatch_movement": (409, 412), "receive_movement": (409, 412)}

    def get_queryset(self):
        queryset = representation.movements_with_related()
        if not sees_all(self.request.auth):
            queryset = queryset.filter(order__source_client=self.request.auth)
        return queryset

    def list(self, request):
        return self.paginated(MovementFilter.apply(request, self.get_queryset()), representation.movement_dict)

    def _move(self, request, reference, service):
        if code_problem(reference) or not self.get_queryset().filter(reference=reference).exists():
            raise NotFound("No such stock movement.")
        version = expected_version(request)
        serializer = MovementActionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        movement = service(
            reference, actor=self.actor(), expected_version=version, note=serializer.validated_data.get("note", "")
        )
        return Response(representation.movement_dict(movement), headers={"ETag": etag(movement.version)})

    @action(detail=True, methods=["post"], url_path="dispatch", url_name="dispatch")
    def dispatch_movement(self, request, reference):
        return self._move(request, reference, services.dispatch_movement)

    @action(detail=True, methods=["post"], url_path="receive", url_name="receive")
    def receive_movement(self, request, reference):
        return self._move(request, reference, services.receive_movement)


# --- Reference data -----------------------------------------------------------------------------


class ReferenceViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    ApiViewSet,
):
    """Read with any valid key; create and change with `reference:write`. Nothing is deleted:
    set `active` to false to retire a code (orders keep theirs)."""

    read_scope = None
    write_scope = ApiClient.Scope.REFERENCE_WRITE
    lookup_field = "code"
    lookup_value_regex = "[^/]+"
    pagination_class = ReferencePagination

    def get_object(self):
        if code_problem(self.kwargs[self.lookup_field]):
            raise NotFound("No such item.")
        return super().get_object()

    @transaction.atomic
    def perform_create(self, serializer):
        serializer.save()

    @transaction.atomic
    def perform_update(self, serializer):
        serializer.save()


def _reference_schema(name):
    return extend_schema_view(
        list=extend_schema(summary=f"List {name}s"),
        retrieve=extend_schema(summary=f"One {name}, by code"),
        create=extend_schema(summary=f"Create a {name}"),
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


@_reference_schema("lane")
class LaneViewSet(ReferenceViewSet):
    queryset = Lane.objects.select_related("from_location", "to_location")
    serializer_class = LaneSerializer
    lookup_field = "pk"
    lookup_value_regex = "[0-9]{1,18}"
    pagination_class = LanePagination

    def get_object(self):
        return super(ReferenceViewSet, self).get_object()
