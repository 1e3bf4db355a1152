"""`bin/bench`: build the data, start the product and the naive baseline, measure, print, save.

Every figure is measured --trials times (default 3); the product and its baseline take turns, so
the noise of a shared machine falls on both alike.
"""

import argparse
import hashlib
import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from . import bodies, data, load, optional, servers
from .stats import Figure, markdown_table, text_table, write_json

ROOT = Path(__file__).resolve().parent.parent
FULL_ORDERS = 1_000_000
DEFAULT_ORDERS = 20_000


_STARTED = time.monotonic()


def log(message):
    """A progress line, with the seconds since the bench started."""
    print(f"[{time.monotonic() - _STARTED:5.0f}s] {message}" if message else "", flush=True)


# Figure groups for --only: each names one block of the run.
GROUPS = ("create", "bulk", "list", "import", "dashboard", "webhooks", "inbound")


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="bin/bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--orders", type=int, default=DEFAULT_ORDERS, help=f"orders loaded (default {DEFAULT_ORDERS:,})"
    )
    parser.add_argument("--full", action="store_true", help=f"load {FULL_ORDERS:,} orders")
    parser.add_argument("--trials", type=int, default=3, help="measurements of each figure (default 3)")
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per measurement (default 10)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent HTTP clients (default 8)")
    parser.add_argument("--bulk-size", type=int, default=100, help="orders per bulk request (default 100)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/stream_portal_bench"),
        help="database the bench DROPS and rebuilds (env BENCH_DATABASE_URL)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379"),
        help="Redis server, without a database number (env BENCH_REDIS_URL); see --redis-dbs",
    )
    parser.add_argument(
        "--redis-dbs",
        default="12,13",
        help="Redis databases for the Celery broker and the cache (default 12,13)",
    )
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("BENCH_PORT", "8710")), help="product port; naive +1"
    )
    parser.add_argument("--out", default="", help="JSON result file (default var/bench/bench-<time>.json)")
    parser.add_argument("--import-orders", type=int, default=500, help="orders (2 rows each) per CSV import")
    parser.add_argument("--webhook-events", type=int, default=200, help="order.created events per fan-out trial")
    parser.add_argument(
        "--inbound-events", type=int, default=1000, help="inbound events per trial (the same orders, set back to ready)"
    )
    parser.add_argument("--celery-concurrency", type=int, default=2, help="Celery worker processes (default 2)")
    parser.add_argument("--probe-requests", type=int, default=20, help="requests per in-process probe (default 20)")
    parser.add_argument("--no-profile", action="store_true", help="skip the in-process cProfile of the create path")
    parser.add_argument(
        "--only",
        default="",
        help="measure only these figure groups, comma-separated: " + ", ".join(GROUPS) + " (default all); "
        "the round-trip probe, raw COPY and memory are always measured",
    )
    parser.add_argument(
        "--scale",
        default="",
        help="list figures only, at each of these sizes (e.g. 100000,1000000): the API list and the dashboard "
        "list against the naive list, the data rebuilt for each size, one table for all",
    )
    args = parser.parse_args(argv)
    args.only = {name.strip() for name in args.only.split(",") if name.strip()} or set(GROUPS)
    if args.only - set(GROUPS):
        parser.error(f"--only takes {', '.join(GROUPS)}; not {', '.join(sorted(args.only - set(GROUPS)))}")
    if args.full:
        args.orders = FULL_ORDERS
        args.import_orders = max(args.import_orders, 50_000)
    if len(args.redis_dbs.split(",")) != 2 or not all(p.strip().isdigit() for p in args.redis_dbs.split(",")):
        parser.error("--redis-dbs takes two database numbers, e.g. 12,13")
    if args.trials < 1 or args.orders < 1 or args.duration <= 0:
        parser.error("--trials, --orders and --duration must be positive")
    try:
        args.scale = [int(size.replace("_", "")) for size in args.scale.split(",") if size.strip()]
    except ValueError:
        parser.error("--scale takes order counts separated by commas, e.g. 100000,1000000")
    if any(size < 1 for size in args.scale):
        parser.error("--scale sizes must be positive")
    return args


def with_db(url, name):
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def recreate_database(url, template=None):
    name = urlsplit(url).path.lstrip("/")
    if "bench" not in name:
        raise SystemExit(f"refusing to drop database {name!r}: the bench rebuilds its database, so its name "
                         "must contain 'bench'")  # fmt: skip
    with psycopg.connect(with_db(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if template:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
            )
        else:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def migrations_stamp():
    """A digest of every migration file: a template database migrated at this stamp can be copied."""
    digest = hashlib.sha256()
    for path in sorted(ROOT.glob("*/migrations/*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:32]


def create_migrated_database(url, env):
    """Rebuild the bench database, copying a migrated template (`<name>_template`) when the migrations
    have not changed since it was made; otherwise migrate the template first. Says which it did."""
    name = urlsplit(url).path.lstrip("/")
    template = f"{name}_template"
    stamp = migrations_stamp()
    with psycopg.connect(with_db(url, "postgres"), autocommit=True) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [template]
        ).fetchone()
        fresh = row is not None and row[0] == f"bench migrations {stamp}"
    how = f"copied from {template} (migrations unchanged)"
    if not fresh:
        recreate_database(with_db(url, template))
        manage({**env, "DATABASE_URL": with_db(url, template)}, "migrate", "--no-input")
        with psycopg.connect(with_db(url, "postgres"), autocommit=True) as conn:
            conn.execute(
                sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                    sql.Identifier(template), sql.Literal(f"bench migrations {stamp}")
                )
            )
        how = f"migrated into {template}, then copied"
    recreate_database(url, template=template)
    return how


def product_env(args, log_dir):
    redis = args.redis_url.rstrip("/")
    return {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "CACHE_URL": f"{redis}/{args.redis_dbs.split(',')[1]}",
        "CELERY_BROKER_URL": f"{redis}/{args.redis_dbs.split(',')[0]}",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{args.port}",
        # The bench is one client sending thousands of requests a second: the limit is still counted
        # in Redis on every request (its cost stays in), it is only set out of reach.
        "API_RATE_LIMIT": "100000000/min",
        "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
        "PYTHONUNBUFFERED": "1",
    }


def manage(env, *argv):
    run = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *argv], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if run.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(argv)} failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    return run.stdout


def http(method, url, body=None, headers=None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def count_orders(database_url, prefix):
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM orders_order WHERE order_no LIKE %s", [prefix + "%"]).fetchone()[0]


def drain(target, database_url=None, prefix=None, quiet_seconds=1.0, limit=600):
    """Wait until the requests wrk left behind have finished, so they do not slow the next figure.

    When wrk stops, the requests the workers hold and those in the listen backlog still run (a bulk
    request of 100 orders can take many seconds). First the count of orders made under `prefix`
    must stop moving; then two light requests at a time (one per worker) must come back three
    times in a row: they queue behind anything still waiting, so their return means the backlog
    is empty.
    """
    deadline = time.monotonic() + limit
    if prefix:
        last, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            now = count_orders(database_url, prefix)
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet_seconds:
                break
            time.sleep(0.3)
    with ThreadPoolExecutor(2) as pool:
        for _ in range(3):
            list(pool.map(lambda _: http("GET", target.base + target.light_path, None, target.headers), range(2)))


class Target:
    """One app under load: the product or the naive baseline."""

    def __init__(self, kind, base, headers, paths):
        self.kind = kind
        self.base = base
        self.headers = headers
        self.create_path, self.bulk_path, self.list_path, self.light_path = paths


def check_create(target, prefix):
    body = bodies.single(target.kind).replace("@@", prefix + "check")
    headers = {**target.headers, "Content-Type": "application/json"}
    if target.kind == "product":
        headers["Idempotency-Key"] = prefix + "check"
    status, content = http("POST", target.base + target.create_path, body.encode(), headers)
    if status != 201:
        raise SystemExit(f"{target.kind} create answered {status}: {content[:1000]!r}")


def check_bulk(target, prefix, size):
    body = bodies.bulk(target.kind, size).replace("@@", prefix + "check")
    headers = {**target.headers, "Content-Type": "application/json"}
    status, content = http("POST", target.base + target.bulk_path, body.encode(), headers)
    if status not in (200, 201):
        raise SystemExit(f"{target.kind} bulk create answered {status}: {content[:1000]!r}")
    if target.kind == "product":
        results = json.loads(content)["results"]
        bad = [r for r in results if r["result"] != "created"]
        if bad:
            raise SystemExit(f"product bulk create refused orders: {bad[:3]}")


def _stop_on_sigterm(signum, frame):
    raise SystemExit(f"stopped by signal {signum}")


def main(argv=None):
    args = parse_args(argv)
    # A SIGTERM (a timeout, Ctrl-C from a parent) unwinds through `finally`, which stops the servers.
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    if args.scale:
        return scale_main(args)
    started = time.monotonic()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_path = Path(args.out) if args.out else ROOT / "var" / "bench" / f"bench-{stamp}.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    log_dir = out_path.parent / f"logs-{stamp}"
    log_dir.mkdir(parents=True, exist_ok=True)
    run_id = "R" + secrets.token_hex(3).upper()

    log(f"== Stream Portal bench: {args.orders:,} orders, {args.trials} trials × {args.duration:g} s, "
        f"{args.connections} clients")  # fmt: skip
    wrk = load.find_wrk(log=log)
    env = product_env(args, log_dir)

    log(f"== Data: rebuilding {urlsplit(args.database_url).path.lstrip('/')} (migrate, then COPY)")
    t0 = time.perf_counter()
    migrated_from = create_migrated_database(args.database_url, env)
    migrate_seconds = time.perf_counter() - t0
    log(f"   schema: {migrated_from}")
    loaded = data.load(args.database_url, args.orders, log=log)
    key = manage(
        env, "create_api_client", "bench", "--scopes", "orders:read,orders:write,orders:all,webhooks:manage"
    ).split()[-1]
    log(f"   schema ready in {migrate_seconds:.1f} s; API client 'bench' created")

    naive_env = {**env, "DJANGO_SETTINGS_MODULE": "bench.naive.settings"}
    procs = []
    try:
        log("== Starting gunicorn (2 sync workers) for the product and for the naive app, and a Celery worker")
        web = servers.gunicorn("web", "stream_portal.wsgi", args.port, env, log_dir)
        procs.append(web)
        naive = servers.gunicorn("naive", "bench.naive.wsgi", args.port + 1, naive_env, log_dir)
        procs.append(naive)
        workers = [servers.celery_worker(env, log_dir, concurrency=args.celery_concurrency)]
        procs.append(workers)
        worker = workers[0]
        product_base, naive_base = f"http://127.0.0.1:{args.port}", f"http://127.0.0.1:{args.port + 1}"
        servers.wait_http(product_base + "/api/v1/service-levels/", web)
        servers.wait_http(naive_base + "/naive/orders/bulk/", naive)

        product = Target(
            "product",
            product_base,
            {"Authorization": f"Bearer {key}"},
            ("/api/v1/orders/", "/api/v1/orders/bulk/", "/api/v1/orders/?page_size=50", "/api/v1/service-levels/"),
        )
        baseline = Target(
            "naive", naive_base, {}, ("/naive/orders/", "/naive/orders/bulk/", "/naive/orders/", "/naive/orders/bulk/")
        )

        log("== Round trips to PostgreSQL per request (in-process probe, libpq protocol trace)")
        probes = {}
        for kind, settings_module in (("product", "stream_portal.settings"), ("naive", "bench.naive.settings")):
            probe_out = log_dir / f"probe-{kind}.json"
            argv = [sys.executable, "-m", "bench.probe", "--settings", settings_module, "--kind", kind,
                    "--key", key, "--prefix", f"{run_id}P{kind[0]}", "--out", str(probe_out),
                    "--count", str(args.probe_requests)]  # fmt: skip
            if kind == "product" and not args.no_profile:
                argv += ["--profile-out", str(log_dir / "create.prof")]
            run = subprocess.run(argv, cwd=ROOT, env=naive_env if kind == "naive" else env, check=False)  # noqa: S603
            if run.returncode != 0:
                raise SystemExit(f"the {kind} probe failed (exit {run.returncode})")
            probes[kind] = json.loads(probe_out.read_text())
            log(f"   {kind}: {probes[kind]['create_round_trips']:g} round trips per create, "
                f"{probes[kind]['bulk_round_trips_per_order']:g} per order in bulk, "
                f"{probes[kind]['list_round_trips']:g} per list page")  # fmt: skip

        figures = {
            "create_rps": Figure("single create", "req/s", baseline="naive DRF", target="≥ 3× naive"),
            "create_p50": Figure(
                "single create p50", "ms", baseline="naive DRF", higher_is_better=False, target="(p99 ≤ 60 ms)"
            ),
            "create_p99": Figure(
                "single create p99", "ms", baseline="naive DRF", higher_is_better=False, target="≤ 60"
            ),
            "create_trips": Figure(
                "round trips per create",
                "count",
                [probes["product"]["create_round_trips"]],
                "naive DRF",
                [probes["naive"]["create_round_trips"]],
                "≤ 14",
                higher_is_better=False,
            ),
            "bulk": Figure(
                f"bulk create ({args.bulk_size}/request)", "orders/s", baseline="naive DRF", target="≥ 5× naive"
            ),  # fmt: skip
            "bulk_trips": Figure(
                "round trips per order in bulk",
                "count",
                [probes["product"]["bulk_round_trips_per_order"]],
                "naive DRF",
                [probes["naive"]["bulk_round_trips_per_order"]],
                higher_is_better=False,
            ),
            "list_rps": Figure(
                f"API list, cursor, 50 rows, {args.orders:,} orders",
                "req/s",
                baseline="naive cursor list",
                target="≥ naive",
            ),  # fmt: skip
            "list_p99": Figure(
                "API list p99", "ms", baseline="naive cursor list", higher_is_better=False, target="< 90"
            ),  # fmt: skip
            "list_trips": Figure(
                "round trips per list page",
                "count",
                [probes["product"]["list_round_trips"]],
                "naive cursor list",
                [probes["naive"]["list_round_trips"]],
                higher_is_better=False,
            ),
            "copy": Figure("raw COPY of the same rows", "orders/s", note="baseline for the CSV import"),
            "rss_web": Figure(
                "RSS per web worker after warm-up (max)",
                "MiB",
                baseline="naive worker",
                higher_is_better=False,
                target="≤ 100",
            ),  # fmt: skip
            "rss_celery": Figure(
                "RSS per Celery process after warm-up (max)", "MiB", higher_is_better=False, target="≤ 100"
            ),  # fmt: skip
        }
        copy_count = min(args.orders, 100_000)
        for trial in range(args.trials):
            log(f"== Trial {trial + 1} of {args.trials}")
            rate, rows = data.raw_copy_rate(args.database_url, loaded["ref"], copy_count, seed=100 + trial)
            figures["copy"].samples.append(rate)
            log(f"   raw COPY: {rate:,.0f} orders/s ({sum(rows.values()):,} rows for {copy_count:,} orders)")
            # Alternate which app goes first, so drift in the machine's load falls on both.
            order = (product, baseline) if trial % 2 == 0 else (baseline, product)
            for target in order if "create" in args.only else ():
                prefix = f"{run_id}C{trial}{target.kind[0]}"
                check_create(target, prefix)
                report = load.run_wrk(
                    wrk,
                    target.base + target.create_path,
                    "post.lua",
                    [_template(log_dir, target.kind, "single"), prefix, "1" if target.kind == "product" else "0"],
                    duration=args.duration,
                    connections=args.connections,
                    headers={**target.headers, "Content-Type": "application/json"},
                )
                if not _require_clean(report, f"{target.kind} create"):
                    drain(target, args.database_url, prefix)
                    continue
                side = "samples" if target.kind == "product" else "baseline_samples"
                getattr(figures["create_rps"], side).append(report["rps"])
                getattr(figures["create_p50"], side).append(report["p50_us"] / 1000)
                getattr(figures["create_p99"], side).append(report["p99_us"] / 1000)
                log(f"   {target.kind} create: {report['rps']:.1f} req/s, p50 {report['p50_us'] / 1000:.0f} ms, "
                    f"p99 {report['p99_us'] / 1000:.0f} ms")  # fmt: skip
                drain(target, args.database_url, prefix)
            figures["rss_web"].samples.append(max(servers.gunicorn_worker_rss(web)))
            figures["rss_web"].baseline_samples.append(max(servers.gunicorn_worker_rss(naive)))
            figures["rss_celery"].samples.append(max(servers.celery_rss(worker)))
            for target in order if "bulk" in args.only else ():
                prefix = f"{run_id}B{trial}{target.kind[0]}"
                check_bulk(target, prefix, args.bulk_size)
                report = load.run_wrk(
                    wrk,
                    target.base + target.bulk_path,
                    "post.lua",
                    [_template(log_dir, target.kind, "bulk", args.bulk_size), prefix, "0"],
                    duration=args.duration,
                    connections=args.connections,
                    headers={**target.headers, "Content-Type": "application/json"},
                    timeout=120,
                )
                # Orders that exist when the load stops, over the time it ran (the check's orders excluded):
                # a bulk request can outlast a short run, and the orders it committed so far count.
                created = count_orders(args.database_url, prefix) - args.bulk_size
                if not _require_clean(report, f"{target.kind} bulk create", done=created):
                    drain(target, args.database_url, prefix)
                    continue
                rate = created / report["seconds"]
                side = "samples" if target.kind == "product" else "baseline_samples"
                getattr(figures["bulk"], side).append(rate)
                log(f"   {target.kind} bulk: {rate:.0f} orders/s ({report['requests']} requests finished)")
                drain(target, args.database_url, prefix)
            if "list" in args.only:
                data.settle(args.database_url, log=log)
            for target in order if "list" in args.only else ():
                measure_list_once(args, wrk, target, figures)

        log("== Figures that depend on work in progress")
        context = optional.Context(
            args=args, env=env, wrk=wrk, product=product, baseline=baseline, log=log, log_dir=log_dir,
            run_id=run_id, figures=figures, manage=manage, http=http, web=web,
            stop_worker=lambda: workers[-1].stop(),
            start_worker=lambda concurrency=None: workers.append(
                servers.celery_worker(env, log_dir, concurrency or args.celery_concurrency)
            ) or workers[-1],
        )  # fmt: skip
        later = optional.measure_all(context)
    finally:
        for proc in reversed(procs):
            for one in proc if isinstance(proc, list) else [proc]:
                one.stop()

    ordered = [
        figures["create_rps"], figures["create_p50"], figures["create_p99"], figures["create_trips"],
        figures["bulk"], figures["bulk_trips"], figures["list_rps"], figures["list_p99"], figures["list_trips"],
        *later, figures["copy"], figures["rss_web"], figures["rss_celery"],
    ]  # fmt: skip
    meta = {
        "started_at": stamp,
        "seconds": round(time.monotonic() - started, 1),
        "orders": args.orders,
        "trials": args.trials,
        "duration_s": args.duration,
        "connections": args.connections,
        "bulk_size": args.bulk_size,
        "machine": machine(args.database_url),
        "load_generator": f"wrk ({wrk})",
        "data_build": {
            "migrate_s": round(migrate_seconds, 1),
            "copy_s": round(loaded["copy_seconds"], 1),
            "index_s": round(loaded["index_seconds"], 1),
            "vacuum_analyze_s": round(loaded["vacuum_seconds"], 1),
            "rows": loaded["rows"],
        },
        "probe": probes,
        "logs": str(log_dir),
    }
    notes = [f"Round trips per create, by step (product): {json.dumps(probes['product']['create_steps'])}"]
    if probes["product"].get("profile_ms_per_create"):
        profile = json.dumps(probes["product"]["profile_ms_per_create"])
        notes.append(f"Time per create, cProfile cumulative ms: {profile}")
    notes.append(f"In-process create: {probes['product']['create_ms_in_process']['median']:.1f} ms median "
                 f"(naive {probes['naive']['create_ms_in_process']['median']:.1f} ms)")  # fmt: skip
    return write_report(out_path, ordered, meta, log_dir, notes)


def write_report(out_path, ordered, meta, log_dir, notes=()):
    """Write the JSON and the Markdown table, print the table, the notes and where everything is."""
    write_json(out_path, ordered, meta)
    Path(out_path.with_suffix(".md")).write_text(markdown_table(ordered) + "\n")
    log("")
    print(text_table(ordered), flush=True)
    log("")
    for note in notes:
        log(note)
    log(f"Machine: {meta['machine']['summary']}")
    log(f"JSON: {out_path}   Markdown table: {out_path.with_suffix('.md')}   logs: {log_dir}")
    log(f"Done in {meta['seconds']:.0f} s.")
    return 0


def _template(log_dir, kind, shape, size=100):
    path = log_dir / f"body-{kind}-{shape}.json"
    if not path.exists():
        path.write_text(bodies.single(kind) if shape == "single" else bodies.bulk(kind, size))
    return str(path)


def _require_clean(report, what, done=None):
    """Any error answer stops the bench (a figure of failed requests means nothing); a run in which
    nothing finished is left out of the figure, and said so."""
    if report["errors"]:
        raise SystemExit(f"{what}: {report['errors']} errors under load: {report}")
    if (report["requests"] if done is None else done) == 0:
        log(f"   {what}: nothing finished in {report['seconds']:.0f} s; this trial is left out (try --duration)")
        return False
    return True


def machine(database_url):
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load1, load5, _ = os.getloadavg()
    with psycopg.connect(database_url, connect_timeout=3) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "load_average_1m_5m": [round(load1, 2), round(load5, 2)],
        "python": platform.python_version(),
        "postgresql": pg,
        "kernel": platform.release(),
    }
    info["summary"] = (
        f"{info['cores']} cores ({cpu}), {info['memory_gib']} GiB, PostgreSQL {pg}, Python {info['python']}, "
        f"load average {load1:.1f}/{load5:.1f} at the end"
    )
    return info


# --- Scaling: the list figures at several table sizes -----------------------------------------------


def list_targets(args, key):
    product = Target(
        "product",
        f"http://127.0.0.1:{args.port}",
        {"Authorization": f"Bearer {key}"},
        ("/api/v1/orders/", "/api/v1/orders/bulk/", "/api/v1/orders/?page_size=50", "/api/v1/service-levels/"),
    )
    baseline = Target(
        "naive",
        f"http://127.0.0.1:{args.port + 1}",
        {},
        ("/naive/orders/", "/naive/orders/bulk/", "/naive/orders/", "/naive/orders/bulk/"),
    )
    return product, baseline


def scale_main(args):
    """`--scale 100000,1000000`: for each size, rebuild the data, start the product and the naive app,
    and measure only the list figures (API cursor list and the dashboard list, beside the naive list,
    --trials times each); one table and one JSON file for all sizes, so they can be read side by side."""
    started = time.monotonic()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_path = Path(args.out) if args.out else ROOT / "var" / "bench" / f"bench-scale-{stamp}.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    log_dir = out_path.parent / f"logs-{stamp}"
    log_dir.mkdir(parents=True, exist_ok=True)
    sizes = ", ".join(f"{size:,}" for size in args.scale)
    log(f"== Stream Portal bench, list figures at {sizes} orders: {args.trials} trials × {args.duration:g} s, "
        f"{args.connections} clients")  # fmt: skip
    wrk = load.find_wrk(log=log)
    env = product_env(args, log_dir)
    naive_env = {**env, "DJANGO_SETTINGS_MODULE": "bench.naive.settings"}
    ordered, builds = [], {}
    for size in args.scale:
        log(f"== {size:,} orders: rebuilding {urlsplit(args.database_url).path.lstrip('/')} (migrate, then COPY)")
        t0 = time.perf_counter()
        migrated_from = create_migrated_database(args.database_url, env)
        loaded = data.load(args.database_url, size, log=log)
        key = manage(env, "create_api_client", "bench", "--scopes", "orders:read,orders:all").split()[-1]
        builds[size] = {
            "schema": migrated_from,
            "seconds": round(time.perf_counter() - t0, 1),
            "copy_s": round(loaded["copy_seconds"], 1),
            "index_s": round(loaded["index_seconds"], 1),
            "vacuum_analyze_s": round(loaded["vacuum_seconds"], 1),
            "rows": loaded["rows"],
        }
        log(f"   data ready in {builds[size]['seconds']:.0f} s")
        procs = []
        try:
            web = servers.gunicorn(f"web-{size}", "stream_portal.wsgi", args.port, env, log_dir)
            procs.append(web)
            naive = servers.gunicorn(f"naive-{size}", "bench.naive.wsgi", args.port + 1, naive_env, log_dir)
            procs.append(naive)
            product, baseline = list_targets(args, key)
            servers.wait_http(product.base + "/api/v1/service-levels/", web)
            servers.wait_http(baseline.base + "/naive/orders/bulk/", naive)
            figures = {
                "list_rps": Figure(
                    f"API list, cursor, 50 rows, {size:,} orders", "req/s", baseline="naive cursor list",
                    target="≥ naive",
                ),
                "list_p99": Figure(
                    f"API list p99, {size:,} orders", "ms", baseline="naive cursor list", higher_is_better=False,
                    target="< 90",
                ),
            }  # fmt: skip
            measure_api_list(args, wrk, product, baseline, figures)
            context = optional.Context(
                args=args, env=env, wrk=wrk, product=product, baseline=baseline, log=log, log_dir=log_dir,
                run_id="S" + secrets.token_hex(3).upper(), figures=figures, manage=manage, http=http,
                stop_worker=None, start_worker=None,
            )  # fmt: skip
            dashboard = Figure("dashboard list, status + sort", "req/s", target="≥ 2× naive")
            later = [dashboard, *optional.measure_dashboard(context, dashboard)]
            for figure in later:
                figure.name = f"{figure.name}, {size:,} orders"
            log(f"   dashboard: {dashboard.summary()}")
        finally:
            for proc in reversed(procs):
                proc.stop()
        ordered += [figures["list_rps"], figures["list_p99"], *later]
    meta = {
        "started_at": stamp,
        "seconds": round(time.monotonic() - started, 1),
        "scale": args.scale,
        "trials": args.trials,
        "duration_s": args.duration,
        "connections": args.connections,
        "machine": machine(args.database_url),
        "load_generator": f"wrk ({wrk})",
        "data_build": builds,
        "logs": str(log_dir),
    }
    return write_report(out_path, ordered, meta, log_dir)


def measure_api_list(args, wrk, product, baseline, figures):
    """The API's cursor list against the naive one, taking turns, --trials times (follows `next`)."""
    for trial in range(args.trials):
        for target in (product, baseline) if trial % 2 == 0 else (baseline, product):
            measure_list_once(args, wrk, target, figures)


def measure_list_once(args, wrk, target, figures):
    """One wrk run of a cursor list (following `next` for 20 pages), noted as the target's sample."""
    report = load.run_wrk(
        wrk,
        target.base + target.list_path,
        "get.lua",
        [20],
        duration=args.duration,
        connections=args.connections,
        headers=target.headers,
    )
    drain(target)
    if not _require_clean(report, f"{target.kind} list"):
        return
    side = "samples" if target.kind == "product" else "baseline_samples"
    getattr(figures["list_rps"], side).append(report["rps"])
    getattr(figures["list_p99"], side).append(report["p99_us"] / 1000)
    log(f"   {target.kind} list: {report['rps']:.1f} req/s, p99 {report['p99_us'] / 1000:.0f} ms")
