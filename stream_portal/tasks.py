"""Periodic jobs that belong to the order domain.

They live here, not in `orders`, so that the domain never imports Celery (STYLE.md, Layout).
"""

from celery import shared_task


@shared_task
def release_due_orders():
    """Make ready the orders that were waiting only for an on-hand date that has now arrived."""
    from orders.services import release_due_orders as release

    return release()


@shared_task
def purge_idempotency_keys():
    """Forget Idempotency-Keys older than 24 hours."""
    from orders.api.idempotency import purge_expired

    return purge_expired()


@shared_task
def purge_inbound_events():
    """Forget inbound webhook events (and so their ids) once they are past their retention."""
    from webhooks.inbound import purge_expired

    return purge_expired()
