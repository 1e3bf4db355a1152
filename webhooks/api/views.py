"""`/api/v1/webhook-subscriptions/` and `/api/v1/webhook-deliveries/` (scope webhooks:manage).

Every object belongs to the API client that created it; another client's is 404.
"""

from django.db import transaction
from django.db.models import Prefetch
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound
from rest_framework.response import Response

from orders.api.filters import filter_parameters, validated_filters
from orders.api.views import Pagination as ApiPagination
from orders.models import ApiClient

from .. import delivery as service
from .. import tasks
from ..models import Delivery, DeliveryAttempt, Subscription
from .serializers import (
    DeliveryFilterSerializer,
    DeliverySerializer,
    RedeliveredSerializer,
    RedeliverFailedSerializer,
    SubscriptionSerializer,
)

MANAGE = ApiClient.Scope.WEBHOOKS_MANAGE
ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The id.")


class SubscriptionDisabled(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The subscription is disabled; enable it first (PATCH active: true)."


class Pagination(ApiPagination):
    """The API's cursor pages (a forged cursor answers 400, as on every list), newest first."""

    ordering = "-id"


class OwnObjectMixin:
    """Another client's object, like one that does not exist, is 404 with a plain message."""

    not_found = "Not found."

    def get_object(self):
        try:
            return super().get_object()
        except Http404:
            raise NotFound(self.not_found)


def queue_after_commit(ids):
    transaction.on_commit(lambda: tasks.enqueue(ids))


@extend_schema_view(
    list=extend_schema(summary="List webhook subscriptions"),
    retrieve=extend_schema(summary="One webhook subscription", parameters=[ID]),
    create=extend_schema(
        summary="Subscribe to webhook events",
        description="The answer carries the whsec_ `secret`, shown this once: keep it to verify signatures.",
    ),
    update=extend_schema(summary="Replace a webhook subscription", parameters=[ID]),
    partial_update=extend_schema(
        summary="Change a webhook subscription",
        description="Setting `active` to true re-enables a disabled subscription and clears `disabled_reason`.",
        parameters=[ID],
    ),
    destroy=extend_schema(summary="Delete a webhook subscription and its deliveries", parameters=[ID]),
)
class SubscriptionViewSet(OwnObjectMixin, viewsets.ModelViewSet):
    not_found = "No such webhook subscription."
    read_scope = write_scope = MANAGE
    serializer_class = SubscriptionSerializer
    pagination_class = Pagination
    lookup_value_regex = r"[0-9]{1,18}"
    http_method_names = ["get", "post", "put", "patch", "delete"]
    extra_error_codes = {"POST": (409,)}

    def get_queryset(self):
        return Subscription.objects.filter(client=self.request.auth).order_by("-id")

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "show_secret": self.action in ("create", "rotate_secret")}

    def perform_create(self, serializer):
        with transaction.atomic():
            serializer.save(client=self.request.auth)

    def perform_update(self, serializer):
        with transaction.atomic():
            instance = serializer.instance
            was_active = instance.active
            subscription = serializer.save()
            if subscription.active and not was_active:
                service.enable(subscription)

    @extend_schema(
        summary="Rotate a subscription's secret",
        description="Answers with the new secret (shown once). For 24 hours every request carries two "
        "signatures, one with the new secret and one with the old, so receivers can switch without a gap.",
        request=None,
        parameters=[ID],
        responses=SubscriptionSerializer,
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        with transaction.atomic():
            subscription = self.get_queryset().select_for_update().get(pk=self.get_object().pk)
            subscription.rotate_secret()
            subscription.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
        return Response(self.get_serializer(subscription).data)

    @extend_schema(
        summary="Send again every failed delivery since a time",
        description="Queues again every delivery of this subscription that failed at or after `since` "
        "(same webhook-id as before). 409 while the subscription is disabled.",
        request=RedeliverFailedSerializer,
        parameters=[ID],
        responses={202: RedeliveredSerializer},
    )
    @action(detail=True, methods=["post"], url_path="redeliver-failed")
    def redeliver_failed(self, request, pk=None):
        subscription = self.get_object()
        serializer = RedeliverFailedSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if not subscription.active:
            raise SubscriptionDisabled()
        with transaction.atomic():
            ids = service.redeliver_failed_since(subscription, serializer.validated_data["since"])
            queue_after_commit(ids)
        return Response({"redelivered": len(ids)}, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(
    list=extend_schema(
        summary="List webhook deliveries",
        parameters=[
            *filter_parameters(DeliveryFilterSerializer),
        ],
    ),
    retrieve=extend_schema(summary="One webhook delivery with its attempts", parameters=[ID]),
)
class DeliveryViewSet(OwnObjectMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    not_found = "No such webhook delivery."
    read_scope = write_scope = MANAGE
    serializer_class = DeliverySerializer
    pagination_class = Pagination
    lookup_value_regex = r"[0-9]{1,18}"
    extra_error_codes = {"POST": (409,)}

    def get_queryset(self):
        queryset = Delivery.objects.filter(subscription__client=self.request.auth).prefetch_related(
            Prefetch("attempts", queryset=DeliveryAttempt.objects.order_by("id"))
        )
        if self.action == "list":
            filters = validated_filters(self.request, DeliveryFilterSerializer)
            if "subscription" in filters:
                queryset = queryset.filter(subscription_id=filters["subscription"])
            event_type = filters.get("event_type") or filters.get("event")
            if event_type:
                queryset = queryset.filter(event_type=event_type)
            if "state" in filters:
                queryset = queryset.filter(state=filters["state"])
        return queryset.order_by("-id")

    @extend_schema(
        summary="Send a delivery again",
        description="Queues the delivery for another round of attempts, with the same webhook-id, whatever "
        "its state. 409 while its subscription is disabled.",
        request=None,
        parameters=[ID],
        responses={202: DeliverySerializer},
    )
    @action(detail=True, methods=["post"])
    def redeliver(self, request, pk=None):
        delivery = self.get_object()
        if not delivery.subscription.active:
            raise SubscriptionDisabled()
        with transaction.atomic():
            ids = service.redeliver(delivery)
            queue_after_commit(ids)
        delivery = self.get_queryset().get(pk=delivery.pk)
        return Response(self.get_serializer(delivery).data, status=status.HTTP_202_ACCEPTED)
