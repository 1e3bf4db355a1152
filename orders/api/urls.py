from django.urls import path
from rest_framework.routers import SimpleRouter

from . import imports, routes, views

router = SimpleRouter()
router.register("orders", views.OrderViewSet, basename="order")
router.register("stock-movements", views.MovementViewSet, basename="movement")
router.register("stock-locations", views.StockLocationViewSet, basename="stock-location")
router.register("delivery-methods", views.DeliveryMethodViewSet, basename="delivery-method")
router.register("service-levels", views.ServiceLevelViewSet, basename="service-level")
router.register("failure-reasons", views.FailureReasonViewSet, basename="failure-reason")
router.register("lanes", views.LaneViewSet, basename="lane")

urlpatterns = [
    # Before the router's orders/<order_no>/, which would otherwise take "import" for an order number.
    path("orders/import/", imports.OrderImportView.as_view(), name="order-import"),
    path("import-jobs/<int:id>/", imports.ImportJobView.as_view(), name="import-job"),
    path("routes/", routes.RouteListView.as_view(), name="route-list"),
    *router.urls,
]
