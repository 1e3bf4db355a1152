"""The import job's life: queued → running → done | failed, progress as it goes, and a restart after
a worker died that neither loses nor repeats an order."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from orders import imports
from orders.domain import Actor
from orders.models import ImportJob, Order

from .importing import csv_file, row, upload

pytestmark = pytest.mark.django_db


def queued(rows):
    return imports.start_import(upload(csv_file(rows)), actor=Actor.system())


def test_a_new_job_is_queued_then_claimed_once(depots):
    job = queued([row()])
    assert (job.state, job.attempts, job.heartbeat_at) == ("queued", 0, None)

    assert imports.claim(job.pk) is True
    job.refresh_from_db()
    assert (job.state, job.attempts) == ("running", 1)
    # A second worker given the same job while the first is alive leaves it alone.
    assert imports.claim(job.pk) is False
    assert imports.run_job(job.pk) == "running"
    assert Order.objects.count() == 0


def test_a_finished_job_is_not_run_again(depots):
    job = queued([row()])
    assert imports.run_job(job.pk) == "done"

    assert imports.run_job(job.pk) == "done"
    job.refresh_from_db()
    assert (job.attempts, job.created, job.errors) == (1, ["IMP-1"], [])
    assert job.finished_at is not None


def test_an_unknown_job_is_ignored(db):
    assert imports.run_job(123456) is None


def test_a_job_whose_worker_died_is_resumed_without_repeating_an_order(depots):
    job = queued([row("IMP-1"), row("IMP-2"), row("IMP-3", Item_Qty="x")])
    imports.run_job(job.pk)
    # As a worker that died after committing the batch holding IMP-1 would have left it; the later
    # batch (IMP-2) was rolled back with the worker.
    Order.objects.filter(order_no="IMP-2").delete()
    ImportJob.objects.filter(pk=job.pk).update(
        state="running",
        created=["IMP-1"],
        processed_rows=1,
        errors=[],
        error_count=0,
        finished_at=None,
        heartbeat_at=timezone.now() - imports.STALE_AFTER - timedelta(seconds=1),
    )

    assert imports.run_job(job.pk) == "done"

    job.refresh_from_db()
    assert imports.job_representation(job) == {
        "id": job.pk,
        "state": "done",
        "total_rows": 3,
        "processed_rows": 3,
        "created": ["IMP-1", "IMP-2"],
        "errors": [{"row": 4, "column": "Item_Qty", "order_no": "IMP-3", "message": "'x' is not a whole number."}],
    }
    assert job.attempts == 2
    assert sorted(Order.objects.values_list("order_no", flat=True)) == ["IMP-1", "IMP-2"]


def test_progress_is_written_as_the_job_goes(depots, monkeypatch):
    monkeypatch.setattr(imports, "BATCH_ROWS", 2)
    job = queued([row(f"IMP-{n}") for n in range(6)])
    seen = []

    def watch(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith('UPDATE "orders_importjob"') and "processed_rows" in sql:
            seen.append(ImportJob.objects.values_list("processed_rows", "created").get(pk=job.pk))
        return result

    with connection.execute_wrapper(watch):
        imports.run_job(job.pk)

    created = [f"IMP-{n}" for n in range(6)]
    assert (
        seen
        == [
            (0, []),  # the first pass read every row
            (2, created[:2]),
            (4, created[:4]),
            (6, created),
            (6, created),  # the last (empty) batch
            (6, created),  # done
        ]
    )


def test_a_job_that_cannot_be_read_fails_with_a_reason(depots):
    job = queued([row()])
    ImportJob.objects.filter(pk=job.pk).update(file_gzip=b"not gzip")

    assert imports.run_job(job.pk) == "failed"

    job.refresh_from_db()
    assert job.failure == "The import stopped on an unexpected error; the orders listed as created were created."
    assert imports.job_representation(job)["state"] == "failed"


def test_the_sweeper_finds_jobs_never_started_or_gone_silent(depots):
    old = timezone.now() - imports.STALE_AFTER - timedelta(seconds=1)
    fresh_queued = queued([row()])
    lost_queued = queued([row()])
    silent = queued([row()])
    alive = queued([row()])
    done = queued([row()])
    ImportJob.objects.filter(pk=lost_queued.pk).update(created_at=old)
    ImportJob.objects.filter(pk=silent.pk).update(state="running", heartbeat_at=old)
    ImportJob.objects.filter(pk=alive.pk).update(state="running", heartbeat_at=timezone.now())
    ImportJob.objects.filter(pk=done.pk).update(state="done", heartbeat_at=old)

    assert sorted(imports.unfinished_jobs()) == sorted([lost_queued.pk, silent.pk])
    assert fresh_queued.pk not in imports.unfinished_jobs()


def test_the_garbage_collector_is_paused_during_a_job_and_its_batches_garbage_collected(depots, monkeypatch):
    """The job runs with Python's cyclic collector off (orders/imports.py `_collector_paused`), frees
    each batch's cycles when the batch is written, and leaves the collector on again, whether the
    job ends done or failed."""
    import gc

    monkeypatch.setattr(imports, "BATCH_ROWS", 2)
    collected, enabled_in_batches = [], []
    real_collect = gc.collect

    def collect(generation=2):
        collected.append(generation)
        enabled_in_batches.append(gc.isenabled())
        return real_collect(generation)

    monkeypatch.setattr(imports.gc, "collect", collect)
    assert gc.isenabled()
    job = queued([row(f"IMP-{n}") for n in range(6)])
    assert imports.run_job(job.pk) == "done"
    assert collected == [0, 0, 0, 0]  # three batches of two rows, then the last (empty) one
    assert enabled_in_batches == [False] * 4
    assert gc.isenabled()

    failing = queued([row("IMP-X")])
    ImportJob.objects.filter(pk=failing.pk).update(file_gzip=b"not gzip")
    assert imports.run_job(failing.pk) == "failed"
    assert gc.isenabled()
