"""The benchmark the project ships: `bin/bench` (see docs/performance.md).

It builds its own data, starts the product as production runs it (gunicorn, a Celery worker,
PostgreSQL and Redis), loads it with wrk, and prints every figure beside its baseline measured in
the same run: raw COPY of the same rows, and a naive DRF app (`bench/naive/`) on the same tables.
"""
