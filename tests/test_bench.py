"""The benchmark's own code: the statistics, table and JSON it prints, the protocol-trace parsing,
and one whole run of `python -m bench` with tiny sizes (a smoke test: it proves every stage runs and
reports, not how fast anything is — timed assertions do not belong in the suite)."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from bench.probe import classify, parse_trace
from bench.stats import Figure, markdown_table, text_table, write_json

ROOT = Path(__file__).resolve().parent.parent


def test_a_figure_summarises_its_samples_as_median_min_and_max():
    figure = Figure("single create", "req/s", [120.0, 100.0, 150.0], "naive DRF", [40.0, 50.0, 45.0])

    assert figure.summary() == {"median": 120.0, "min": 100.0, "max": 150.0, "n": 3}
    assert figure.summary(figure.baseline_samples) == {"median": 45.0, "min": 40.0, "max": 50.0, "n": 3}
    assert figure.ratio == pytest.approx(120 / 45)


def test_for_a_lower_is_better_figure_the_ratio_is_how_many_times_better_the_product_is():
    figure = Figure("p99", "ms", [20.0, 30.0, 25.0], "naive", [50.0, 50.0, 50.0], higher_is_better=False)

    assert figure.ratio == 2.0


def test_the_table_shows_median_range_baseline_ratio_and_target_and_says_what_is_not_measured_yet():
    figures = [
        Figure("single create", "req/s", [120.0, 100.0, 150.0], "naive DRF", [40.0, 50.0, 45.0], "≥ 3× naive"),
        Figure("round trips per create", "count", [38], "naive DRF", [10], "≤ 14", higher_is_better=False),
        Figure("CSV import", "rows/s", target="≥ 0.5× raw COPY", note="feature not built yet"),
    ]

    lines = text_table(figures).splitlines()

    assert lines[0].split("  ")[0] == "figure"
    assert "120 (100–150)" in lines[2] and "naive DRF: 45.0 (40.0–50.0)" in lines[2] and "2.67×" in lines[2]
    assert "≥ 3× naive" in lines[2]
    assert "38.0" in lines[3] and "naive DRF: 10.0" in lines[3] and "0.26×" in lines[3]
    assert "not available yet" in lines[4] and "≥ 0.5× raw COPY" in lines[4]
    assert markdown_table(figures).splitlines() == [
        "| figure | unit | Stream Portal: median (min–max) | baseline: median (min–max) | ratio | target |",
        "|---|---|---|---|---|---|",
        "| single create | req/s | 120 (100–150) | naive DRF: 45.0 (40.0–50.0) | 2.67× | ≥ 3× naive |",
        "| round trips per create | count | 38.0 | naive DRF: 10.0 | 0.26× | ≤ 14 |",
        "| CSV import | rows/s | not available yet |  |  | ≥ 0.5× raw COPY |",
    ]


def test_the_json_file_holds_every_sample_and_summary(tmp_path):
    figures = [Figure("bulk create", "orders/s", [400.0, 500.0, 450.0], "naive DRF", [100.0, 90.0, 110.0])]

    write_json(tmp_path / "out.json", figures, {"orders": 1000})

    document = json.loads((tmp_path / "out.json").read_text())
    assert document == {
        "meta": {"orders": 1000},
        "figures": [
            {
                "name": "bulk create",
                "unit": "orders/s",
                "available": True,
                "samples": [400.0, 500.0, 450.0],
                "summary": {"median": 450.0, "min": 400.0, "max": 500.0, "n": 3},
                "baseline": "naive DRF",
                "baseline_samples": [100.0, 90.0, 110.0],
                "baseline_summary": {"median": 100.0, "min": 90.0, "max": 110.0, "n": 3},
                "ratio": 4.5,
                "higher_is_better": True,
                "target": None,
                "note": None,
            }
        ],
    }


TRACE = """F\t10\tQuery\t "BEGIN"
B\t10\tCommandComplete\t "BEGIN"
B\t5\tReadyForQuery\t T
F\t13\tQuery\t "SELECT 1"
B\t5\tReadyForQuery\t T
F\t40\tQuery\t "INSERT INTO "orders_order" ("order_no") VALUES ('A')"
B\t5\tReadyForQuery\t T
F\t26\tParse\t "" "SELECT $1::int" 1 NNNN
F\t4\tSync
B\t4\tParseComplete
B\t5\tReadyForQuery\t T
F\t11\tQuery\t "COMMIT"
B\t5\tReadyForQuery\t I
"""


def test_round_trips_are_read_from_the_protocol_trace_and_named_by_step():
    trips = parse_trace(TRACE)

    assert trips == [
        "BEGIN",
        "SELECT 1",
        """INSERT INTO "orders_order" ("order_no") VALUES ('A')""",
        "SELECT $1::int",
        "COMMIT",
    ]
    statements = [("create_order", 'INSERT INTO "orders_order" ("order_no") VALUES (%s)'), ("trunking", "SELECT %s")]
    assert [step for step, _ in classify(trips, statements)] == [
        "transaction control (BEGIN/COMMIT)",
        "connection health check (SELECT 1)",
        "create_order",
        "trunking",
        "transaction control (BEGIN/COMMIT)",
    ]


def free_port_pair():
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
            return port
    raise RuntimeError("no two free consecutive ports")


def test_the_whole_bench_runs_with_tiny_sizes_and_reports_every_figure(tmp_path):
    database = urlsplit(os.environ["DATABASE_URL"])
    if not database.scheme.startswith("postgres"):
        pytest.fail("the bench needs PostgreSQL: set DATABASE_URL to a postgres:// URL")
    bench_db = urlunsplit(database._replace(path=f"{database.path}_bench_smoke"))
    redis = urlsplit(os.environ["CACHE_URL"])
    out = tmp_path / "bench.json"
    argv = [
        sys.executable, "-m", "bench", "--orders", "200", "--trials", "1", "--duration", "2",
        "--probe-requests", "3", "--no-profile", "--bulk-size", "5", "--import-orders", "5",
        "--webhook-events", "5", "--inbound-events", "5", "--database-url", bench_db,
        "--redis-url", f"redis://{redis.netloc}", "--redis-dbs", "8,9", "--port", str(free_port_pair()),
        "--out", str(out),
    ]  # fmt: skip

    # Redis databases 8 and 9: apart from the suite's (10, 14, 15) and from a bench run's defaults (12, 13).
    # A guard against a hang, not a timing assertion: SIGTERM lets the bench stop its servers.
    bench = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = bench.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        bench.terminate()
        output, _ = bench.communicate(timeout=30)
        pytest.fail(f"the bench did not finish within 300 s:\n{output[-3000:]}")

    assert bench.returncode == 0, output[-5000:]
    document = json.loads(out.read_text())
    figures = {f["name"]: f for f in document["figures"]}
    for name in ("single create", "bulk create (5/request)", "API list, cursor, 50 rows, 200 orders"):
        assert figures[name]["samples"] and all(s > 0 for s in figures[name]["samples"]), name
        assert figures[name]["baseline_samples"] and figures[name]["ratio"] > 0, name
    # BEGIN, API key, the idempotency claim with the reference data (one statement), the one INSERT
    # of every row, the kept answer with the COMMIT in the same message (docs/performance.md): counted
    # from libpq's trace, not assumed. No health check `SELECT 1`: a kept connection that is idle and
    # quiet is used without one (stream_portal/postgresql).
    assert figures["round trips per create"]["samples"][0] == 5
    assert figures["round trips per create"]["baseline_samples"][0] >= 5
    assert figures["raw COPY of the same rows"]["samples"][0] > 0
    assert 10 < figures["RSS per web worker after warm-up (max)"]["samples"][0] < 1000
    assert document["meta"]["data_build"]["rows"]["orders_order"] == 200
    steps = document["meta"]["probe"]["product"]["create_steps"]
    assert "connection health check (SELECT 1)" not in steps
    assert sum(steps.values()) == figures["round trips per create"]["samples"][0]
    # The figures of features being built: measured when the feature answers, never a failed measurement.
    for name in ("CSV import, Stream layout", "dashboard list, status + sort", "webhook fan-out",
                 "inbound events applied"):  # fmt: skip
        figure = figures[name]
        assert figure["available"] or figure["note"] == "feature not built yet", figure
        assert not figure["available"] or all(s > 0 for s in figure["samples"]), figure
    assert "single create" in output and "raw COPY of the same rows" in output


def test_only_names_the_figure_groups_to_measure_and_refuses_an_unknown_one(capsys):
    from bench.cli import GROUPS, parse_args

    assert parse_args([]).only == set(GROUPS)
    assert parse_args(["--only", "create, inbound"]).only == {"create", "inbound"}
    with pytest.raises(SystemExit):
        parse_args(["--only", "create,creat"])
    assert "not creat" in capsys.readouterr().err
