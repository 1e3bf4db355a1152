"""The office's webhook pages: settings for administrators, and an order's deliveries for the order page."""

from django.urls import path

from . import views_office as views

app_name = "webhooks"

urlpatterns = [
    path("settings/webhooks/", views.subscription_list, name="subscriptions"),
    path("settings/webhooks/new/", views.subscription_new, name="subscription_new"),
    path("settings/webhooks/<int:pk>/", views.subscription_detail, name="subscription_detail"),
    path("settings/webhooks/<int:pk>/edit/", views.subscription_edit, name="subscription_edit"),
    path("settings/webhooks/<int:pk>/rotate/", views.subscription_rotate, name="subscription_rotate"),
    path("settings/webhooks/<int:pk>/enable/", views.subscription_enable, name="subscription_enable"),
    path(
        "settings/webhooks/<int:pk>/redeliver-failed/",
        views.subscription_redeliver_failed,
        name="subscription_redeliver_failed",
    ),
    path("settings/webhooks/deliveries/<int:pk>/redeliver/", views.delivery_redeliver, name="delivery_redeliver"),
    path("settings/inbound/", views.inbound_source_list, name="inbound_sources"),
    path("settings/inbound/new/", views.inbound_source_new, name="inbound_source_new"),
    path("settings/inbound/<int:pk>/", views.inbound_source_events, name="inbound_source_events"),
    path("settings/inbound/<int:pk>/rotate/", views.inbound_source_rotate, name="inbound_source_rotate"),
    path("settings/inbound/<int:pk>/active/", views.inbound_source_active, name="inbound_source_active"),
    path("webhooks/office/orders/<str:order_no>/deliveries/", views.order_deliveries, name="order_deliveries"),
]
