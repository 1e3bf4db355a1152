"""The office dashboard's pages (docs/dashboard.md)."""

from django.urls import path

from .views import imports, movements, orders, settings

app_name = "orders"

urlpatterns = [
    path("orders/", orders.order_list, name="order_list"),
    path("orders/new/", orders.order_new, name="order_new"),
    # Before orders/<order_no>/, which would otherwise take "export.csv" for an order number.
    path("orders/export.csv", imports.export_orders, name="order_export"),
    path("orders/new/line-row/", orders.line_row, name="line_row"),
    path("orders/new/group-row/", orders.group_row, name="group_row"),
    path("orders/trunking-hint/", orders.trunking_hint, name="trunking_hint"),
    path("orders/<str:order_no>/", orders.order_detail, name="order_detail"),
    path("orders/<str:order_no>/edit/", orders.order_edit, name="order_edit"),
    path("orders/<str:order_no>/notes/<str:field>/", orders.order_note, name="order_note"),
    path("orders/<str:order_no>/cancel/", orders.order_cancel, name="order_cancel"),
    path("orders/<str:order_no>/status/", orders.order_move_status, name="order_move_status"),
    path("movements/", movements.movement_board, name="movement_board"),
    path("imports/", imports.import_page, name="imports"),
    path("imports/sample.csv", imports.import_sample, name="import_sample"),
    path("imports/<int:job_id>/", imports.import_job, name="import_job"),
    path("movements/action/", movements.movement_action, name="movement_action"),
    path("settings/", settings.settings_home, name="settings"),
    path("settings/api-clients/new/", settings.api_client_new, name="api_client_new"),
    path("settings/api-clients/<int:pk>/rotate/", settings.api_client_rotate, name="api_client_rotate"),
    path("settings/api-clients/<int:pk>/active/", settings.api_client_active, name="api_client_active"),
    path("settings/<str:kind>/new/", settings.reference_edit, name="reference_new"),
    path("settings/<str:kind>/<int:pk>/edit/", settings.reference_edit, name="reference_edit"),
    path("settings/<str:kind>/<int:pk>/active/", settings.reference_active, name="reference_active"),
]
