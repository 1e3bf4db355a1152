from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from orders.events import event_recorded

        from .models import Subscription
        from .receivers import forget_wanted_types, on_event_recorded

        event_recorded.connect(on_event_recorded, dispatch_uid="webhooks.outbound")
        # Which event types are wanted is cached (receivers.py): forget it when a subscription changes.
        post_save.connect(forget_wanted_types, sender=Subscription, dispatch_uid="webhooks.wanted.save")
        post_delete.connect(forget_wanted_types, sender=Subscription, dispatch_uid="webhooks.wanted.delete")

        from . import admin_inbound  # noqa: F401  registers the inbound models with the admin
