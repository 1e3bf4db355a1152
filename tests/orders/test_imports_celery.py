"""The import job goes through the real broker (Redis) only once its row has committed, and a real
Celery worker runs it. Eager mode would prove neither, so none is used here."""

import json
import time
import uuid

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.db import transaction

from orders import imports
from orders.domain import Actor
from orders.models import ImportJob, Order
from stream_portal import tasks
from stream_portal.celery import app

from .importing import csv_file, row, upload

pytestmark = pytest.mark.django_db(transaction=True)

TASK = "stream_portal.tasks.run_import_job"
QUEUE = "celery"  # Celery's default queue: a Redis list of that name


@pytest.fixture
def broker():
    return redis.Redis.from_url(settings.CELERY_BROKER_URL)


def import_messages(broker, job_id):
    """The raw messages waiting in the broker that would run import job `job_id`."""
    found = []
    for raw in broker.lrange(QUEUE, 0, -1):
        headers = json.loads(raw).get("headers", {})
        if headers.get("task") == TASK and headers.get("argsrepr") == f"({job_id},)":
            found.append(raw)
    return found


def take(broker, messages):
    for raw in messages:
        broker.lrem(QUEUE, 1, raw)


def test_the_job_is_sent_to_the_broker_only_after_commit(depots, broker):
    with transaction.atomic():
        job = imports.start_import(upload(csv_file([row()])), actor=Actor.system())
        # Inside the transaction a worker could not see the job yet: nothing is sent.
        assert import_messages(broker, job.pk) == []

    sent = import_messages(broker, job.pk)
    take(broker, sent)
    assert len(sent) == 1


def test_nothing_is_sent_when_the_transaction_rolls_back(depots, broker):
    before = broker.llen(QUEUE)

    with pytest.raises(RuntimeError), transaction.atomic():
        job = imports.start_import(upload(csv_file([row()])), actor=Actor.system())
        raise RuntimeError("the request failed after the upload")

    assert ImportJob.objects.count() == 0
    assert import_messages(broker, job.pk) == []
    assert broker.llen(QUEUE) <= before


def test_the_sweeper_sends_lost_jobs_again(depots, broker):
    job = imports.start_import(upload(csv_file([row()])), actor=Actor.system())
    take(broker, import_messages(broker, job.pk))
    ImportJob.objects.filter(pk=job.pk).update(created_at=job.created_at - imports.STALE_AFTER * 2)

    assert tasks.resume_import_jobs.apply().get() == [job.pk]

    sent = import_messages(broker, job.pk)
    take(broker, sent)
    assert len(sent) == 1


def test_a_real_worker_runs_the_job_from_the_broker(depots, broker):
    # A queue of its own, so that a worker here never takes another test process's messages.
    queue = f"imports-test-{uuid.uuid4().hex}"
    job = imports.start_import(upload(csv_file([row("IMP-1"), row("IMP-2")])), actor=Actor.system())
    take(broker, import_messages(broker, job.pk))

    with start_worker(app, pool="solo", perform_ping_check=False, queues=[queue], shutdown_timeout=30):
        tasks.run_import_job.apply_async(args=[job.pk], queue=queue)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.finished:
                break
            time.sleep(0.2)

    assert (job.state, job.created, job.errors) == ("done", ["IMP-1", "IMP-2"], [])
    assert Order.objects.count() == 2
    broker.delete(queue)
