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


@shared_task
def run_import_job(job_id):
    """Read an uploaded order file (orders.imports.run_job). Late acknowledgement (settings) means a
    worker that dies mid-import leaves the message queued; the job then resumes where it stopped."""
    from orders.imports import run_job

    return run_job(job_id)


def enqueue_import_job(job_id):
    """settings.IMPORT_ENQUEUE: called by orders.imports once the job's row has committed."""
    run_import_job.delay(job_id)


@shared_task
def resume_import_jobs():
    """Queue again the import jobs never started (lost enqueue) or whose worker went silent."""
    from orders.imports import unfinished_jobs

    ids = unfinished_jobs()
    for job_id in ids:
        run_import_job.delay(job_id)
    return ids
