from django.urls import path
from rest_framework.routers import SimpleRouter

from . import routes, views

router = SimpleRouter()
router.register("orders", views.OrderViewSet, basename="order")
router.register("stock-movements", views.MovementViewSet, basename="movement")
router.register("stock-locations", views.StockLocationViewSet, basename="stock-location")
router.register("delivery-methods", views.DeliveryMethodViewSet, basename="delivery-method")
router.register("service-levels", views.ServiceLevelViewSet, basename="service-level")
router.register("failure-reasons", views.FailureReasonViewSet, basename="failure-reason")
router.register("lanes", views.LaneViewSet, basename="lane")

urlpatterns = [
    path("routes/", routes.RouteListView.as_view(), name="route-list"),
    *router.urls,
]
