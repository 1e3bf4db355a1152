from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self):
        from orders.events import event_recorded

        from .receivers import on_event_recorded

        event_recorded.connect(on_event_recorded, dispatch_uid="webhooks.outbound")

        from . import admin_inbound  # noqa: F401  registers the inbound models with the admin
