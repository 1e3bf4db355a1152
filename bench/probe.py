"""In-process probe: round trips to PostgreSQL per request, what each is for, and where the time goes.

Run in its own process with the same environment as the web workers:

    python -m bench.probe --settings stream_portal.settings --key sp_... --out probe.json

Requests go through Django's WSGI handler exactly as gunicorn calls it (so the request_started /
request_finished signals, connection reuse and the CONN_HEALTH_CHECKS ping happen as in production).

Counting: libpq's own protocol trace (`PQtrace`, through psycopg's `pgconn.trace`) is switched on
for each request; every `ReadyForQuery` the server sends ends one round trip, whatever caused it —
Django's statements, psycopg's implicit BEGIN and its COMMIT, savepoints, the health check's
`SELECT 1`. A Django `execute_wrapper` records, for each statement Django sends, which step of the
code sent it (the innermost frame in a known module), and the two lists are merged in order.
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (path fragment, function name or "*", step), by priority: the first one found anywhere on the stack wins.
STEPS = [
    ("orders/trunking.py", "*", "trunking"),
    ("orders/representation.py", "*", "order JSON (representation)"),
    ("orders/events.py", "*", "outbox events (events.record)"),
    ("orders/services.py", "_history", "status history"),
    ("orders/services.py", "*", "create_order (order, group, lines, status)"),
    ("orders/api/auth.py", "*", "API key + rate limit"),
    ("orders/api/idempotency.py", "begin", "idempotency claim"),
    ("orders/api/idempotency.py", "finish", "idempotency result"),
    ("orders/api/idempotency.py", "*", "idempotency"),
    ("orders/api/serializers.py", "*", "validation (serializers)"),
    ("rest_framework/serializers.py", "is_valid", "validation (serializers)"),
    ("orders/api/views.py", "*", "view"),
    ("bench/naive/", "*", "naive app"),
]

# Functions whose cumulative time the profile reports, per request.
PROFILED = [
    ("django/core/handlers/base.py", "get_response", "whole request (Django handler)"),
    ("orders/api/auth.py", "authenticate", "API key check"),
    ("orders/api/auth.py", "allow_request", "rate limit (Redis)"),
    ("orders/api/idempotency.py", "begin", "idempotency claim"),
    ("orders/api/idempotency.py", "finish", "idempotency result"),
    ("rest_framework/serializers.py", "is_valid", "validation (is_valid)"),
    ("orders/services.py", "create_order", "services.create_order"),
    ("orders/trunking.py", "apply", "trunking.apply"),
    ("orders/services.py", "_history", "history rows"),
    ("orders/events.py", "record", "events.record"),
    ("orders/representation.py", "order_dict", "order representation"),
    ("orders/api/views.py", "order_response", "order_response"),
    ("rest_framework/response.py", "rendered_content", "JSON rendering of the response"),
]


def step_of(frame):
    """The first entry of STEPS that any frame of the stack matches (so a serializer called by the
    outbox counts as the outbox, and one called by the view as validation)."""
    best = len(STEPS)
    while frame is not None:
        filename = frame.f_code.co_filename.replace(os.sep, "/")
        for index, (fragment, function, _step) in enumerate(STEPS[:best]):
            if fragment in filename and (function == "*" or function == frame.f_code.co_name):
                best = index
                break
        frame = frame.f_back
    return STEPS[best][2] if best < len(STEPS) else "other (Django, middleware)"


class Recorder:
    """Installed once as an execute_wrapper: notes the step of every statement Django sends."""

    def __init__(self):
        self.statements = []

    def __call__(self, execute, sql, params, many, context):
        self.statements.append((step_of(sys._getframe(1)), sql))
        return execute(sql, params, many, context)


def parse_trace(text):
    """Round trips from a libpq trace: the frontend messages' text up to each ReadyForQuery."""
    trips = []
    current = None
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) < 3:
            continue
        direction, message = parts[0], parts[2]
        detail = parts[3].strip() if len(parts) > 3 else ""
        if direction == "F" and message in ("Query", "Parse") and current is None:
            # Query: "<sql>"; Parse: "<statement name>" "<sql>" <parameter types>
            start = detail.index('"') + 1 if message == "Query" else detail.index('" "') + 3
            current = detail[start : detail.rindex('"')]
        elif direction == "B" and message == "ReadyForQuery":
            trips.append(current or "")
            current = None
    return trips


def classify(trips, statements):
    """Name each round trip: transaction control, health check, or the step that sent the statement."""
    queue = list(statements)
    named = []
    for text in trips:
        head = text.strip().upper()
        if head.startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            named.append(("transaction control (BEGIN/COMMIT)", head.split()[0]))
        elif head == "SELECT 1" and not (queue and queue[0][1].strip().upper() == "SELECT 1"):
            named.append(("connection health check (SELECT 1)", "SELECT 1"))
        elif queue:
            step, sql = queue.pop(0)
            named.append((step, " ".join(sql.split())[:160]))
        else:
            named.append(("unattributed", text[:160]))
    return named


def wsgi_request(app, method, path, body=b"", headers=None):
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path.split("?")[0],
        "QUERY_STRING": path.split("?")[1] if "?" in path else "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "HTTP_HOST": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json",
    }
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    status = []
    chunks = app(environ, lambda s, h, exc_info=None: status.append(s))
    content = b"".join(chunks)
    if hasattr(chunks, "close"):
        chunks.close()
    return int(status[0].split()[0]), content


def traced(app, recorder, method, path, body, headers):
    """One request with the protocol trace on; returns (status, body, named round trips)."""
    from django.db import connection

    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    with tempfile.TemporaryFile("w+") as handle:
        from psycopg import pq

        pgconn.trace(handle.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        recorder.statements.clear()
        status, content = wsgi_request(app, method, path, body, headers)
        if connection.connection is None or connection.connection.pgconn is not pgconn:
            raise RuntimeError("the connection was replaced during the request; round trips not counted")
        pgconn.untrace()
        handle.flush()
        handle.seek(0)
        text = handle.read()
    return status, content, classify(parse_trace(text), recorder.statements)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", required=True)
    parser.add_argument("--kind", choices=["product", "naive"], required=True)
    parser.add_argument("--key", default="")
    parser.add_argument("--count", type=int, default=20, help="requests per measurement")
    parser.add_argument("--prefix", default="PRB")
    parser.add_argument("--profile-out", default="")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    os.environ["DJANGO_SETTINGS_MODULE"] = args.settings
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.wsgi import get_wsgi_application
    from django.db import connection

    from bench import bodies

    app = get_wsgi_application()
    recorder = Recorder()
    connection.execute_wrappers.append(recorder)
    if args.kind == "product":
        create_path, bulk_path, list_path = "/api/v1/orders/", "/api/v1/orders/bulk/", "/api/v1/orders/?page_size=50"
        headers = {"Authorization": f"Bearer {args.key}"}
    else:
        create_path, bulk_path, list_path = "/naive/orders/", "/naive/orders/bulk/", "/naive/orders/"
        headers = {}
    single = bodies.single(args.kind)
    bulk = bodies.bulk(args.kind, 10)
    counter = iter(range(10**9))

    def create(profile=None):
        name = f"{args.prefix}{next(counter)}"
        extra = {"Idempotency-Key": f"probe-{name}"} if args.kind == "product" else {}
        body = single.replace("@@", name).encode()
        return {**headers, **extra}, body

    result = {"kind": args.kind}
    # Warm up: the first requests import code and fill caches.
    for _ in range(3):
        hdrs, body = create()
        status, content = wsgi_request(app, "POST", create_path, body, hdrs)
        if status != 201:
            raise SystemExit(f"warm-up create answered {status}: {content[:500]!r}")

    # Round trips per create, named.
    per_request = []
    named_last = []
    for _ in range(args.count):
        hdrs, body = create()
        status, content, named = traced(app, recorder, "POST", create_path, body, hdrs)
        if status != 201:
            raise SystemExit(f"create answered {status}: {content[:500]!r}")
        per_request.append(len(named))
        named_last = named
    result["create_round_trips"] = statistics.median(per_request)
    result["create_round_trips_samples"] = per_request
    steps = Counter(step for step, _ in named_last)
    result["create_steps"] = dict(steps.most_common())
    result["create_statements"] = [{"step": s, "sql": q} for s, q in named_last]

    # Bulk: round trips per order in a request of 10 orders.
    trips = []
    for _ in range(3):
        name = f"{args.prefix}B{next(counter)}"
        status, content, named = traced(app, recorder, "POST", bulk_path, bulk.replace("@@", name).encode(), headers)
        if status not in (200, 201):
            raise SystemExit(f"bulk create answered {status}: {content[:500]!r}")
        trips.append(len(named) / 10)
    result["bulk_round_trips_per_order"] = statistics.median(trips)

    # List: round trips per page of 50.
    trips = []
    for _ in range(3):
        status, content, named = traced(app, recorder, "GET", list_path, b"", headers)
        if status != 200:
            raise SystemExit(f"list answered {status}: {content[:500]!r}")
        trips.append(len(named))
    result["list_round_trips"] = statistics.median(trips)
    result["list_steps"] = dict(Counter(step for step, _ in named).most_common())
    result["list_statements"] = [{"step": s, "sql": q} for s, q in named]
    times = []
    for _ in range(max(3, args.count // 4)):
        started = time.perf_counter()
        wsgi_request(app, "GET", list_path, b"", headers)
        times.append((time.perf_counter() - started) * 1000)
    result["list_ms_in_process"] = {"median": statistics.median(times), "min": min(times), "max": max(times)}
    if args.profile_out:
        profile = cProfile.Profile()
        for _ in range(max(3, args.count // 4)):
            profile.enable()
            wsgi_request(app, "GET", list_path, b"", headers)
            profile.disable()
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(50)
        Path(args.profile_out + ".list.txt").write_text(text.getvalue())

    # Time per create, no profiler (wall clock, in-process: the floor under the HTTP figures).
    times = []
    for _ in range(args.count):
        hdrs, body = create()
        started = time.perf_counter()
        wsgi_request(app, "POST", create_path, body, hdrs)
        times.append((time.perf_counter() - started) * 1000)
    result["create_ms_in_process"] = {"median": statistics.median(times), "min": min(times), "max": max(times)}

    # Where the time goes: cProfile over `count` creates, cumulative time per step per create.
    if args.profile_out:
        profile = cProfile.Profile()
        for _ in range(args.count):
            hdrs, body = create()
            profile.enable()
            wsgi_request(app, "POST", create_path, body, hdrs)
            profile.disable()
        stats = pstats.Stats(profile)
        stats.dump_stats(args.profile_out)
        breakdown = {}
        for (filename, _line, function), row in stats.stats.items():
            filename = filename.replace(os.sep, "/")
            for fragment, name, label in PROFILED:
                if fragment in filename and function == name:
                    # row: (primitive calls, total calls, own time, cumulative time, callers)
                    breakdown[label] = breakdown.get(label, 0) + row[3] * 1000 / args.count
        result["profile_ms_per_create"] = {
            label: round(breakdown[label], 2) for _f, _n, label in PROFILED if label in breakdown
        }
        text = io.StringIO()
        pstats.Stats(args.profile_out, stream=text).sort_stats("cumulative").print_stats(40)
        Path(args.profile_out + ".txt").write_text(text.getvalue())

    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
