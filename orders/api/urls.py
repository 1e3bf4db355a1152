from django.urls import path
from rest_framework.routers import SimpleRouter

from . import imports, routes, views

router = SimpleRouter()
router.register("stock-locations", views.StockLocationViewSet, basename="stock-location")
router.register("delivery-methods", views.DeliveryMethodViewSet, basename="delivery-method")
router.register("service-levels", views.ServiceLevelViewSet, basename="service-level")
router.register("failure-reasons", views.FailureReasonViewSet, basename="failure-reason")
router.register("lanes", views.LaneViewSet, basename="lane")

urlpatterns = [
    path("orders/", views.OrderListCreateView.as_view(), name="order-list"),
    path("orders/bulk/", views.OrderBulkCreateView.as_view(), name="order-bulk"),
    # Before orders/<order_no>/, which would otherwise take "import" for an order number.
    path("orders/import/", imports.OrderImportView.as_view(), name="order-import"),
    path("import-jobs/<int:id>/", imports.ImportJobView.as_view(), name="import-job"),
    path("orders/<str:order_no>/", views.OrderDetailView.as_view(), name="order-detail"),
    path("orders/<str:order_no>/lines/", views.OrderLinesView.as_view(), name="order-lines"),
    path("orders/<str:order_no>/groups/<int:sequence>/", views.OrderGroupView.as_view(), name="order-group"),
    path("orders/<str:order_no>/status/", views.OrderStatusView.as_view(), name="order-status"),
    path("orders/<str:order_no>/cancel/", views.OrderCancelView.as_view(), name="order-cancel"),
    path("stock-movements/", views.MovementListView.as_view(), name="movement-list"),
    path("stock-movements/<str:reference>/dispatch/", views.MovementDispatchView.as_view(), name="movement-dispatch"),
    path("stock-movements/<str:reference>/receive/", views.MovementReceiveView.as_view(), name="movement-receive"),
    path("routes/", routes.RouteListView.as_view(), name="route-list"),
    *router.urls,
]
