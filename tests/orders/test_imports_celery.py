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


@pytest.fixture
def broker():
    return redis.Redis.from_url(settings.CELERY_BROKER_URL)


@pytest.fixture(autouse=True)
def queue(broker):
    """Celery's default queue renamed for this test: the real enqueue path, and a Redis list that no
    other test process writes to or reads from."""
    name = f"imports-test-{uuid.uuid4().hex}"
    default = app.conf.task_default_queue
    app.conf.task_default_queue = name
    yield name
    app.conf.task_default_queue = default
    broker.delete(name)


def import_messages(broker, queue):
    """The job ids of the run_import_job messages waiting in the queue."""
    ids = []
    for raw in broker.lrange(queue, 0, -1):
        headers = json.loads(raw)["headers"]
        assert headers["task"] == TASK
        ids.append(int(headers["argsrepr"].strip("(,)")))
    return ids


def test_the_job_is_sent_to_the_broker_only_after_commit(depots, broker, queue):
    with transaction.atomic():
        job = imports.start_import(upload(csv_file([row()])), actor=Actor.system())
        # Inside the transaction a worker could not see the job yet: nothing is sent.
        assert import_messages(broker, queue) == []

    assert import_messages(broker, queue) == [job.pk]


def test_nothing_is_sent_when_the_transaction_rolls_back(depots, broker, queue):
    with pytest.raises(RuntimeError), transaction.atomic():
        imports.start_import(upload(csv_file([row()])), actor=Actor.system())
        raise RuntimeError("the request failed after the upload")

    assert ImportJob.objects.count() == 0
    assert import_messages(broker, queue) == []


def test_the_sweeper_sends_lost_jobs_again(depots, broker, queue):
    job = imports.start_import(upload(csv_file([row()])), actor=Actor.system())
    broker.delete(queue)  # as if the message had been lost
    ImportJob.objects.filter(pk=job.pk).update(created_at=job.created_at - imports.STALE_AFTER * 2)

    assert tasks.resume_import_jobs.apply().get() == [job.pk]

    assert import_messages(broker, queue) == [job.pk]


def test_a_real_worker_runs_the_job_from_the_broker(depots, broker, queue):
    with start_worker(app, pool="solo", perform_ping_check=False, queues=[queue], shutdown_timeout=30):
        job = imports.start_import(upload(csv_file([row("IMP-1"), row("IMP-2")])), actor=Actor.system())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.finished:
                break
            time.sleep(0.2)

    assert (job.state, job.created, job.errors, job.attempts) == ("done", ["IMP-1", "IMP-2"], [], 1)
    assert Order.objects.count() == 2
    assert import_messages(broker, queue) == []  # acknowledged
