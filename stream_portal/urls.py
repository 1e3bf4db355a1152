from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from orders.views import tracking
from webhooks import views as webhook_views

# GET /healthz is answered by stream_portal.health.HealthCheckMiddleware, ahead of host checks and sessions.
urlpatterns = [
    # The office dashboard comes with its own issue; until then the office works in the admin.
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", include("orders.api.urls")),
    path("api/v1/", include("webhooks.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("track/<str:token>/", tracking.tracking_page, name="tracking"),
    path("webhooks/inbound/<str:source>/", webhook_views.inbound_event, name="inbound-event"),
]
