"""Create, bulk create (a JSON array) and a cursor-paginated list of 50, as generic views."""

from django.urls import path
from rest_framework import generics
from rest_framework.pagination import CursorPagination

from orders.models import Order

from .serializers import OrderSerializer


class Pagination(CursorPagination):
    page_size = 50
    ordering = ("-created_at", "-id")


class OrderList(generics.ListCreateAPIView):
    queryset = Order.objects.select_related("service_level").prefetch_related(
        "lines__stock_location", "lines__delivery_method"
    )
    serializer_class = OrderSerializer
    pagination_class = Pagination


class OrderBulk(generics.CreateAPIView):
    serializer_class = OrderSerializer

    def get_serializer(self, *args, **kwargs):
        return super().get_serializer(*args, many=True, **kwargs)


urlpatterns = [
    path("naive/orders/", OrderList.as_view()),
    path("naive/orders/bulk/", OrderBulk.as_view()),
]
