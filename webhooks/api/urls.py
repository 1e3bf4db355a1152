from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("webhook-subscriptions", views.SubscriptionViewSet, basename="webhook-subscription")
router.register("webhook-deliveries", views.DeliveryViewSet, basename="webhook-delivery")

urlpatterns = router.urls
