"""Figures for features other engineers are still building: each is measured when its feature is
there (its URL answers) and shown as "not available yet" otherwise. The shapes follow the product
contract (docs/api.md, docs/import.md, docs/webhooks.md, docs/dashboard.md):

- CSV import: `POST /api/v1/orders/import/` (multipart `file`, Stream layout), followed at
  `GET /api/v1/import-jobs/{id}/` until `done`; orders/s against raw COPY of the same rows.
- Dashboard list: `/orders/?status=ready&sort=required_date` as a logged-in office user, and with
  a search term (order-number prefix, postal code); req/s and p99 against the naive list.
- Webhook fan-out: a subscription to `order.created` pointing at a local receiver, a burst of
  orders, deliveries per second per Celery process and commit-to-receipt p99.
- Inbound events: `order.planned` events for ready orders, signed per Standard Webhooks, posted to
  `/webhooks/inbound/bench/`; events/s answered `applied`.
"""

import csv
import http.client
import io
import json
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

import psycopg

from . import data, load, servers
from .stats import Figure

IMPORT_COLUMNS = (
    "Order_No,Cust_Ord_No,Order_Date,Retailer,Service_Lv,Del_Name,Del_Addr_1,Del_Addr_2,Del_Addr_3,Del_Town,"
    "Del_County,Postal_Code,Ctry_Code,Lat,Long,Contact_Tel_1,Contact_Tel_2,Contact_Tel_Mob,Contact_Email,"
    "Order_Notes,Driver_Notes,Assembly,Assy_Time,Unload_Time,Required_Date,Required_Time_F,Required_Time_T,"
    "Item_Code,Item_Desc,Item_Qty,Item_Wgt,Item_Vol,Item_Onhand_Date,Stock_Location,Delivery_Method"
).split(",")


@dataclass
class Context:
    args: Any
    env: dict
    wrk: str
    product: Any
    baseline: Any
    log: Any
    log_dir: Any
    run_id: str
    figures: dict
    manage: Any
    http: Any
    stop_worker: Any
    start_worker: Any
    web: Any = None  # the product's gunicorn master (servers.Process), for its workers' CPU time


def _answers(context, method, path, body=None, headers=None):
    """True when the product routes the path with this method (not 404, not 405)."""
    status, _ = context.http(method, context.product.base + path, body, headers or {})
    return status not in (404, 405)


def measure_all(context):
    figures = []
    for group, name, unit, target, detect, measure in MEASURES:
        if group not in context.args.only:
            continue
        figure = Figure(name, unit, target=target)
        try:
            present = detect(context)
        except Exception as exc:  # noqa: BLE001 - a feature half-built must not stop the bench
            present = False
            figure.note = f"detection failed: {exc}"
        if not present:
            figure.note = figure.note or "feature not built yet"
            context.log(f"   {name}: not available yet")
            figures.append(figure)
            continue
        extra = []
        try:
            extra = measure(context, figure) or []
            context.log(f"   {name}: {figure.summary()}")
        except Exception as exc:  # noqa: BLE001
            figure.samples.clear()
            figure.note = f"measurement failed: {exc}"
            context.log(f"   {name}: measurement failed: {exc}")
        figures.append(figure)
        figures.extend(extra)
    return figures


# --- CSV import ---------------------------------------------------------------------------------


def import_csv(prefix, orders, rows_per_order=2):
    required = (date.today() + timedelta(days=7)).strftime("%d/%m/%Y")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(IMPORT_COLUMNS)
    for n in range(orders):
        for item in range(rows_per_order):
            row = dict.fromkeys(IMPORT_COLUMNS, "")
            row.update(
                Order_No=f"{prefix}-{n:06d}",
                Item_Code=f"SKU-{item}",
                Item_Desc="Item",
                Item_Qty="1",
                Stock_Location="MAN",
                Delivery_Method="BHM-2MAN",
                Assembly="No",
            )
            if item == 0:
                row.update(
                    Order_Date="TODAY",
                    Service_Lv="2MAN-ROC",
                    Del_Name=f"Customer {n}",
                    Del_Addr_1="1 High Street",
                    Del_Town="Birmingham",
                    Postal_Code="B2 4QA",
                    Ctry_Code="GB",
                    Contact_Tel_Mob="07700900123",
                    Required_Date=required,
                )
            writer.writerow([row[c] for c in IMPORT_COLUMNS])
    return out.getvalue().encode()


def multipart(field, filename, content):
    boundary = "bench" + secrets.token_hex(8)
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            f"Content-Type: text/csv\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def _detect_import(context):
    return _answers(context, "POST", "/api/v1/orders/import/", b"", context.product.headers)


def _measure_import(context, figure):
    figure.baseline = "raw COPY"
    figure.baseline_samples = list(context.figures["copy"].samples)
    orders = context.args.import_orders
    for trial in range(context.args.trials):
        content = import_csv(f"{context.run_id}I{trial}", orders)
        body, content_type = multipart("file", "bench.csv", content)
        started = time.perf_counter()
        status, answer = context.http(
            "POST",
            context.product.base + "/api/v1/orders/import/",
            body,
            {**context.product.headers, "Content-Type": content_type},
        )
        if status not in (200, 201, 202):
            raise RuntimeError(f"import answered {status}: {answer[:300]!r}")
        job = json.loads(answer)
        deadline = time.monotonic() + 1800
        while job["state"] not in ("done", "failed"):
            if time.monotonic() > deadline:
                raise RuntimeError("the import job did not finish within 30 minutes")
            time.sleep(0.5)
            status, answer = context.http(
                "GET", f"{context.product.base}/api/v1/import-jobs/{job['id']}/", None, context.product.headers
            )
            job = json.loads(answer)
        seconds = time.perf_counter() - started
        if job["state"] != "done" or job.get("errors"):
            raise RuntimeError(f"import job ended {job['state']} with errors {job.get('errors', [])[:3]}")
        figure.samples.append(len(job["created"]) / seconds)
    figure.unit = f"orders/s ({orders:,} orders, {orders * 2:,} rows)"


# --- Dashboard list -----------------------------------------------------------------------------


def _detect_dashboard(context):
    return _answers(context, "GET", "/orders/")


def _login_cookie(context):
    context.manage(
        {**context.env, "DJANGO_SUPERUSER_PASSWORD": "bench-only-" + context.run_id},
        "createsuperuser",
        "--noinput",
        "--username",
        "bench",
        "--email",
        "bench@example.com",
    )
    host, port = context.product.base.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("GET", "/accounts/login/")
    response = conn.getresponse()
    page = response.read().decode()
    cookies = SimpleCookie()
    for header in response.headers.get_all("Set-Cookie") or []:
        cookies.load(header)
    token = page.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    form = urlencode({"username": "bench", "password": "bench-only-" + context.run_id, "csrfmiddlewaretoken": token})
    conn.request(
        "POST",
        "/accounts/login/",
        form,
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={cookies['csrftoken'].value}",
            "Referer": context.product.base + "/accounts/login/",
        },
    )
    response = conn.getresponse()
    response.read()
    for header in response.headers.get_all("Set-Cookie") or []:
        cookies.load(header)
    if "sessionid" not in cookies:
        raise RuntimeError(f"could not log in to the office pages (answer {response.status})")
    return f"sessionid={cookies['sessionid'].value}"


def measure_dashboard(context, figure):
    """The office list, logged in, three ways (status + sort, and the two searches): req/s of each
    against the naive list measured in the same run, and each one's p99. `figure` is the first; the
    others are returned (bin/bench --scale calls this at each table size)."""
    cookie = _login_cookie(context)
    data.settle(context.args.database_url, log=context.log)
    naive = context.figures["list_rps"]
    naive_p99 = context.figures["list_p99"]
    variants = [
        (figure, "status + sort", "/orders/?status=ready&sort=required_date"),
        (
            Figure("dashboard list, search order-no prefix", "req/s", target="≥ 2× naive"),
            "search order-no prefix",
            "/orders/?q=BN-00012",
        ),
        (
            Figure("dashboard list, search postal code", "req/s", target="≥ 2× naive"),
            "search postal code",
            "/orders/?q=B12",
        ),
    ]
    extra = []
    for fig, label, path in variants:
        fig.baseline, fig.baseline_samples = "naive list", list(naive.baseline_samples)
        p99 = Figure(
            f"dashboard list p99, {label}",
            "ms",
            higher_is_better=False,
            target="< 100",
            baseline="naive list",
            baseline_samples=list(naive_p99.baseline_samples),
        )
        for _ in range(context.args.trials):
            report = load.run_wrk(
                context.wrk,
                context.product.base + path,
                "get.lua",
                [1],
                duration=context.args.duration,
                connections=context.args.connections,
                headers={"Cookie": cookie},
            )
            if report["errors"]:
                raise RuntimeError(f"{path}: {report['errors']} errors under load")
            fig.samples.append(report["rps"])
            if report["requests"]:
                p99.samples.append(report["p99_us"] / 1000)
            else:  # no answer within the run: there is no latency to report, only that
                p99.note = f"no request finished within {context.args.duration:g} s"
        extra += [p99] if fig is figure else [fig, p99]
    return extra


_measure_dashboard = measure_dashboard


# --- Webhook fan-out ----------------------------------------------------------------------------


class Receiver:
    """A local webhook receiver: answers 204 on kept-alive HTTP/1.1 connections, as a production web
    server would, and notes when each delivery arrived and the `timestamp` of its event."""

    def __init__(self, port):
        self.arrivals = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                now = datetime.now(UTC)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()
                try:
                    sent = datetime.fromisoformat(json.loads(body)["timestamp"])
                except (ValueError, KeyError):
                    sent = None
                with receiver.lock:
                    receiver.arrivals.append((now, sent))

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _detect_webhooks(context):
    return _answers(context, "GET", "/api/v1/webhook-subscriptions/", None, context.product.headers)


STEADY_RATE = 100  # events/s for the commit-to-receipt figure
STEADY_BULK = 10  # orders per request: one bulk request every 100 ms


def _measure_webhooks(context, figure):
    """Throughput with 1 and with 2 Celery worker processes (a backlog made while the worker was
    stopped, delivered as fast as it goes), and commit-to-receipt at a steady 100 events/s."""
    from . import bodies

    port = context.args.port + 2
    receiver = Receiver(port)
    headers = {**context.product.headers, "Content-Type": "application/json"}
    subscription = {"url": f"http://127.0.0.1:{port}/hook", "event_types": ["order.created"], "description": "bench"}
    status, answer = context.http(
        "POST", context.product.base + "/api/v1/webhook-subscriptions/", json.dumps(subscription).encode(), headers
    )
    if status != 201:
        receiver.close()
        raise RuntimeError(f"creating a subscription answered {status}: {answer[:300]!r}")
    sub_id = json.loads(answer)["id"]
    figure.unit = "deliveries/s, 1 worker process"
    two = Figure("webhook fan-out, 2 worker processes", "deliveries/s/process", target="≥ 270")
    latency = Figure(
        f"webhook commit-to-receipt p99 at {STEADY_RATE} events/s", "ms", higher_is_better=False, target="< 1000"
    )
    rate = Figure("webhook steady load, events made", "events/s", target=f"{STEADY_RATE}")
    cpu = Figure("webhook fan-out per worker CPU-second, 1 process", "deliveries/CPU-s", target="≥ 270")

    def post_orders(name, count, chunk=100):
        for start in range(0, count, chunk):
            size = min(chunk, count - start)
            body = bodies.bulk("product", size).replace("@@", f"{name}-{start // chunk}")
            status, answer = context.http("POST", context.product.base + "/api/v1/orders/bulk/", body.encode(), headers)
            if status != 200:
                raise RuntimeError(f"bulk create answered {status}: {answer[:300]!r}")

    def arrivals_of(count):
        deadline = time.monotonic() + 300
        while len(receiver.arrivals) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        with receiver.lock:
            arrivals = sorted(receiver.arrivals, key=lambda a: a[0])
            receiver.arrivals.clear()
        if len(arrivals) < count:
            raise RuntimeError(f"only {len(arrivals)} of {count} deliveries arrived within 5 minutes")
        return arrivals

    def throughput(name, count, processes):
        # Events recorded while the worker is stopped, then delivered as fast as it can. Also the
        # worker's CPU time (all its processes) from the first arrival to the last: deliveries per
        # CPU-second is what one process would do with a core of its own, whatever else runs.
        context.stop_worker()
        with receiver.lock:
            receiver.arrivals.clear()
        post_orders(name, count)
        worker = context.start_worker(processes)
        deadline = time.monotonic() + 120
        while not receiver.arrivals and time.monotonic() < deadline:
            time.sleep(0.01)
        cpu_at_first, seen_at_first = servers.celery_cpu_seconds(worker), len(receiver.arrivals)
        arrivals = arrivals_of(count)
        cpu = servers.celery_cpu_seconds(worker) - cpu_at_first
        span = (arrivals[-1][0] - arrivals[0][0]).total_seconds() or 1e-3
        return (count - 1) / span, ((count - seen_at_first) / cpu if cpu > 0 else None)

    def steady(name, count):
        # STEADY_BULK orders every STEADY_BULK / STEADY_RATE seconds, on a clock (a slow request does
        # not delay the next one), while the worker delivers.
        requests = max(1, count // STEADY_BULK)
        period = STEADY_BULK / STEADY_RATE
        with receiver.lock:
            receiver.arrivals.clear()
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            futures = []
            for n in range(requests):
                time.sleep(max(0.0, started + n * period - time.monotonic()))
                futures.append(pool.submit(post_orders, f"{name}-{n}", STEADY_BULK, STEADY_BULK))
            for future in futures:
                future.result()
        made = requests * STEADY_BULK
        rate.samples.append(made / (time.monotonic() - started))
        delays = sorted((got - sent).total_seconds() * 1000 for got, sent in arrivals_of(made) if sent)
        return delays[min(len(delays) - 1, int(len(delays) * 0.99))]

    try:
        count = context.args.webhook_events
        for trial in range(context.args.trials):
            rate_one, per_cpu_second = throughput(f"{context.run_id}W{trial}", count, 1)
            figure.samples.append(rate_one)
            if per_cpu_second:
                cpu.samples.append(per_cpu_second)
            two.samples.append(throughput(f"{context.run_id}V{trial}", count, 2)[0] / 2)
            latency.samples.append(steady(f"{context.run_id}L{trial}", count))
        if context.args.celery_concurrency != 2:
            context.stop_worker()
            context.start_worker()
    finally:
        context.http(
            "PATCH",
            f"{context.product.base}/api/v1/webhook-subscriptions/{sub_id}/",
            json.dumps({"active": False}).encode(),
            headers,
        )
        receiver.close()
    return [cpu, two, latency, rate]


# --- Inbound events -----------------------------------------------------------------------------


def _detect_inbound(context):
    return _answers(context, "POST", "/webhooks/inbound/bench/", b"{}", {"Content-Type": "application/json"})


def _measure_inbound(context, figure):
    from standardwebhooks import Webhook

    secret = context.manage(context.env, "create_inbound_source", "bench").split()[-1]
    signer = Webhook(secret)
    count = context.args.inbound_events
    # `count` orders with their stock at the depot (ready, then planned ones if there are too few
    # ready), set back to ready before each trial and restored as they were at the end: every trial
    # plans the same orders, so the trials and the event count do not depend on the table's size.
    with psycopg.connect(context.args.database_url, autocommit=True) as conn:
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM orders_order WHERE status IN ('ready', 'planned') AND order_type <> 'multi'"
                " AND order_no LIKE 'BN-%%' ORDER BY status = 'ready' DESC, id LIMIT %s",
                [count],
            )
        ]
        if len(ids) < count:
            raise RuntimeError(f"only {len(ids)} ready or planned orders to plan; load more with --orders")
        conn.execute(
            "CREATE TEMP TABLE bench_inbound_saved AS SELECT g.id, g.status, g.status_changed_at, g.plan,"
            " o.status AS order_status, o.status_changed_at AS order_changed_at"
            " FROM orders_ordergroup g JOIN orders_order o ON o.id = g.order_id WHERE o.id = ANY(%s)",
            [ids],
        )
        ready = [r[0] for r in conn.execute("SELECT order_no FROM orders_order WHERE id = ANY(%s) ORDER BY id", [ids])]

        def reset():
            conn.execute(
                "UPDATE orders_ordergroup SET status = 'ready', plan = NULL,"
                " status_changed_at = now() - interval '1 hour' WHERE order_id = ANY(%s)",
                [ids],
            )
            conn.execute(
                "UPDATE orders_order SET status = 'ready', status_changed_at = now() - interval '1 hour'"
                " WHERE id = ANY(%s)",
                [ids],
            )

        try:
            return _send_inbound(context, figure, signer, ready, reset)
        finally:
            conn.execute(
                "UPDATE orders_ordergroup g SET status = s.status, status_changed_at = s.status_changed_at,"
                " plan = s.plan FROM bench_inbound_saved s WHERE g.id = s.id"
            )
            conn.execute(
                "UPDATE orders_order o SET status = s.order_status, status_changed_at = s.order_changed_at"
                " FROM bench_inbound_saved s JOIN orders_ordergroup g ON g.id = s.id WHERE o.id = g.order_id"
            )


def _send_inbound(context, figure, signer, ready, reset):
    """Each trial: the orders set back to ready, then one `order.planned` each from 8 senders."""
    host, port = context.product.base.split("//")[1].split(":")
    local = threading.local()

    def send(order_no):
        payload = json.dumps(
            {
                "type": "order.planned",
                "timestamp": datetime.now(UTC).isoformat(),
                "data": {"order_no": order_no, "planned_date": date.today().isoformat(), "route_ref": "BENCH-1"},
            }
        )
        msg_id = "msg_" + secrets.token_hex(12)
        now = datetime.now(UTC)
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signer.sign(msg_id, now, payload),
            "Content-Type": "application/json",
        }
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection(host, int(port), timeout=60)
        local.conn.request("POST", "/webhooks/inbound/bench/", payload, headers)
        response = local.conn.getresponse()
        answer = response.read()
        return response.status, answer

    # The web workers' CPU time over the run as well: events per CPU-second of gunicorn is what two
    # workers with a core each would do, whatever else shares this machine's cores.
    cpu = Figure("inbound events per web worker CPU-second", "events/CPU-s")
    # The master and its workers, found as the master's children: with `setproctitle` installed
    # gunicorn rewrites its command lines ("gunicorn: worker [...]"), so the port is not in them.
    web = [context.web.pid, *servers.children(context.web.pid)]
    for _ in range(context.args.trials):
        reset()
        batch = ready
        started, cpu_before = time.perf_counter(), sum(servers.cpu_seconds(pid) for pid in web)
        with ThreadPoolExecutor(context.args.connections) as pool:
            results = list(pool.map(send, batch))
        seconds = time.perf_counter() - started
        used = sum(servers.cpu_seconds(pid) for pid in web) - cpu_before
        if used > 0:
            cpu.samples.append(len(batch) / used)
        applied = sum(1 for status, answer in results if status == 200 and b'"applied"' in answer)
        if applied < len(batch):
            bad = [r for r in results if not (r[0] == 200 and b'"applied"' in r[1])][:3]
            raise RuntimeError(f"{len(batch) - applied} of {len(batch)} events not applied: {bad}")
        figure.samples.append(applied / seconds)
    return [cpu]


# (group for --only, figure, unit, target, detect, measure)
MEASURES = [
    ("import", "CSV import, Stream layout", "orders/s", "≥ 0.5× raw COPY", _detect_import, _measure_import),
    ("dashboard", "dashboard list, status + sort", "req/s", "≥ 2× naive", _detect_dashboard, _measure_dashboard),
    ("webhooks", "webhook fan-out", "deliveries/s/process", "≥ 270", _detect_webhooks, _measure_webhooks),
    ("inbound", "inbound events applied", "events/s", "≥ 300", _detect_inbound, _measure_inbound),
]
