"""GET /api/v1/routes/?date=: the routes planned for a day, for picking in the warehouse.

A route is every leg whose plan (from an `order.planned` event, or the office) names that
`planned_date` and `route_ref`, unless the leg was cancelled. Legs taken off their plan lose it
and drop out. Stops come in ETA order; `Accept: text/csv` gives the same as a pick list, one row
per line. Two queries whatever the number of routes, stops and lines.
"""

import csv
import io
from itertools import groupby

from django.db.models import Prefetch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import renderers, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from ..exports import spreadsheet_safe
from ..models import ApiClient, Order, OrderGroup, OrderLine
from .auth import sees_all

CSV_COLUMNS = [
    "route_ref",
    "planned_date",
    "vehicle",
    "driver",
    "stop",
    "order_no",
    "sequence",
    "eta_from",
    "eta_to",
    "line_no",
    "sku",
    "description",
    "quantity",
    "stock_location",
]


class RouteQuerySerializer(serializers.Serializer):
    date = serializers.DateField(help_text="The day of the routes (YYYY-MM-DD).")


class PickLineSerializer(serializers.Serializer):
    line_no = serializers.IntegerField(help_text="Line number within the order.")
    sku = serializers.CharField(help_text="The item's stock-keeping unit.")
    description = serializers.CharField(help_text="The item's description.")
    quantity = serializers.IntegerField(help_text="How many to pick.")
    stock_location = serializers.CharField(help_text="Code of the depot that holds the item.")


class StopSerializer(serializers.Serializer):
    order_no = serializers.CharField(help_text="The order number.")
    sequence = serializers.IntegerField(help_text="The leg of the order (1 for a delivery or collection order).")
    eta_from = serializers.CharField(allow_null=True, help_text="Start of the planned arrival window (HH:MM).")
    eta_to = serializers.CharField(allow_null=True, help_text="End of the planned arrival window (HH:MM).")
    lines = PickLineSerializer(many=True, help_text="The leg's item lines.")


class RouteSerializer(serializers.Serializer):
    route_ref = serializers.CharField(help_text="The route planner's reference for the route.")
    planned_date = serializers.DateField(help_text="The day of the route.")
    vehicle = serializers.CharField(allow_null=True, help_text="The vehicle, as the route planner names it.")
    driver = serializers.CharField(allow_null=True, help_text="The driver, as the route planner names them.")
    stops = StopSerializer(many=True, help_text="The stops in ETA order.")


class RouteListSerializer(serializers.Serializer):
    next = serializers.CharField(allow_null=True, help_text="Always null: one day's routes come in one answer.")
    previous = serializers.CharField(allow_null=True, help_text="Always null.")
    results = RouteSerializer(many=True, help_text="The day's routes, by route_ref.")


class PickListRenderer(renderers.BaseRenderer):
    """The routes as CSV, one row per line to pick, in route and stop order."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for route in data["results"]:
            for position, stop in enumerate(route["stops"], start=1):
                for line in stop["lines"]:
                    row = {**route, **stop, **line, "stop": position}
                    writer.writerow([spreadsheet_safe(row[column]) for column in CSV_COLUMNS])
        return out.getvalue().encode(self.charset)


def _stop_key(group):
    plan = group.plan
    # str(): a plan edited by hand in the admin may hold numbers; sorting must not fail on them.
    return (
        str(plan.get("eta_from") or "99:99"),
        str(plan.get("eta_to") or "99:99"),
        group.order.order_no,
        group.sequence,
    )


def routes_for(client, day):
    """The routes of `day` this client may see, as the API shows them."""
    lines = OrderLine.objects.select_related("stock_location").order_by("line_no")
    groups = (
        OrderGroup.objects.filter(plan__planned_date=day.isoformat())
        .exclude(status=Order.Status.CANCELLED)
        .select_related("order")
        .prefetch_related(Prefetch("lines", queryset=lines))
    )
    if not sees_all(client):
        groups = groups.filter(order__source_client=client)
    groups = sorted(groups, key=lambda g: (str(g.plan.get("route_ref") or ""), _stop_key(g)))
    routes = []
    for route_ref, stops in groupby(groups, key=lambda g: str(g.plan.get("route_ref") or "")):
        stops = list(stops)
        routes.append(
            {
                "route_ref": route_ref,
                "planned_date": day.isoformat(),
                "vehicle": next((s.plan["vehicle"] for s in stops if s.plan.get("vehicle")), None),
                "driver": next((s.plan["driver"] for s in stops if s.plan.get("driver")), None),
                "stops": [
                    {
                        "order_no": stop.order.order_no,
                        "sequence": stop.sequence,
                        "eta_from": stop.plan.get("eta_from"),
                        "eta_to": stop.plan.get("eta_to"),
                        "lines": [
                            {
                                "line_no": line.line_no,
                                "sku": line.sku,
                                "description": line.description,
                                "quantity": line.quantity,
                                "stock_location": line.stock_location.code,
                            }
                            for line in stop.lines.all()
                        ],
                    }
                    for stop in stops
                ],
            }
        )
    return routes


class RouteListView(APIView):
    read_scope = ApiClient.Scope.ORDERS_READ
    write_scope = ApiClient.Scope.ORDERS_WRITE
    extra_error_codes = {"GET": (400, 404)}  # a missing or bad ?date=; an unknown ?format= is 404
    renderer_classes = [renderers.JSONRenderer, PickListRenderer]
    # 400: a missing or malformed ?date= (the schema does not take this view for a list);
    # 404: a ?format= other than json or csv (DRF's content negotiation answers Not found).
    extra_error_codes = {"GET": (400, 404)}

    @extend_schema(
        operation_id="routes_list",
        summary="The routes planned for a day, for picking",
        description="Routes come from the route planner's `order.planned` events. Only your own orders' stops "
        "unless the key has `orders:all`. Send `Accept: text/csv` for a pick list: one row per line, columns "
        + ", ".join(CSV_COLUMNS)
        + ".",
        parameters=[
            OpenApiParameter("date", OpenApiTypes.DATE, required=True, description="The day (YYYY-MM-DD)."),
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                enum=["json", "csv"],
                description="Instead of the Accept header: `csv` for the pick list.",
            ),
        ],
        responses={
            (200, "application/json"): RouteListSerializer,
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The pick list."),
        },
    )
    def get(self, request):
        query = RouteQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        day = query.validated_data["date"]
        data = {"next": None, "previous": None, "results": routes_for(request.auth, day)}
        headers = {}
        if isinstance(request.accepted_renderer, PickListRenderer):
            headers["Content-Disposition"] = f'attachment; filename="pick-list-{day.isoformat()}.csv"'
        return Response(data, headers=headers)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code >= 400 or request.method != "GET":
            # Errors (and OPTIONS) are always JSON, whatever was asked for.
            response.accepted_renderer = renderers.JSONRenderer()
            response.accepted_media_type = "application/json"
        return response
