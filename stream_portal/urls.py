from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from orders.views import accounts, tracking
from webhooks import views as webhook_views

# GET /healthz is answered by stream_portal.health.HealthCheckMiddleware, ahead of host checks and sessions.
urlpatterns = [
    # First: no other pattern matches it, and the field's status events are the busiest path (Django tries
    # the patterns in order; last, it cost ~50 µs of every event on the bench machine, first ~13).
    path("webhooks/inbound/<str:source>/", webhook_views.inbound_event, name="inbound-event"),
    # The office's home: the order list for a logged-in user, the login page otherwise.
    path("", accounts.home, name="home"),
    # Ahead of orders.urls, whose settings/<kind>/... patterns would otherwise take settings/webhooks/...
    path("", include("webhooks.urls")),
    path("", include("orders.urls")),
    path("admin/", admin.site.urls),
    path("accounts/login/", accounts.login, name="login"),
    path("accounts/logout/", accounts.logout, name="logout"),
    path("accounts/", include("django.contrib.auth.urls")),  # password change and reset
    path("api/v1/", include("orders.api.urls")),
    path("api/v1/", include("webhooks.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("track/<str:token>/", tracking.tracking_page, name="tracking"),
]

# Unmatched URLs under /api/ answer the API's JSON error; every other path gets the site's page.
handler404 = "orders.api.errors.page_not_found"
