"""Figures for features other engineers are still building: each is measured when its feature is
there (its URL answers, its module imports) and shown as "not available yet" otherwise.

- CSV import (`POST /api/v1/orders/import/`, `orders/imports.py`): rows/s against raw COPY.
- Dashboard list (`/orders/?status=…&sort=required_date`, and with `q`): req/s and p99 against the
  naive list.
- Webhook fan-out (subscriptions at `/api/v1/webhook-subscriptions/`): deliveries/s to a local receiver.
- Inbound events (`POST /webhooks/inbound/{source}/`): events/s verified and applied.
"""

from dataclasses import dataclass
from typing import Any

from .stats import Figure


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
    copy_rate: Any
    manage: Any
    http: Any


def _answers(context, method, path, body=None, headers=None):
    """True when the product routes the path with this method (not 404, not 405)."""
    status, _ = context.http(method, context.product.base + path, body, headers or {})
    return status not in (404, 405)


def measure_all(context):
    figures = []
    for name, unit, target, detect, measure in MEASURES:
        figure = Figure(name, unit, target=target)
        try:
            present = detect(context)
        except Exception as exc:  # noqa: BLE001 - a feature half-built must not stop the bench
            present = False
            figure.note = f"detection failed: {exc}"
        if not present:
            figure.note = figure.note or "feature not built yet"
            context.log(f"   {name}: not available yet")
        else:
            try:
                measure(context, figure)
            except Exception as exc:  # noqa: BLE001
                figure.samples.clear()
                figure.note = f"measurement failed: {exc}"
                context.log(f"   {name}: measurement failed: {exc}")
        figures.append(figure)
    return figures


def _detect_import(context):
    return _answers(context, "POST", "/api/v1/orders/import/", b"", context.product.headers)


def _detect_dashboard(context):
    return _answers(context, "GET", "/orders/")


def _detect_webhooks(context):
    return _answers(context, "GET", "/api/v1/webhook-subscriptions/", None, context.product.headers)


def _detect_inbound(context):
    return _answers(context, "POST", "/webhooks/inbound/bench/", b"{}", {"Content-Type": "application/json"})


def _not_yet(context, figure):
    raise RuntimeError("the feature answers, but the bench has no measurement for it yet")


MEASURES = [
    ("CSV import, Stream layout", "rows/s", "≥ 0.5× raw COPY", _detect_import, _not_yet),
    ("dashboard list, status + sort", "req/s", "≥ 2× naive, p99 < 100 ms", _detect_dashboard, _not_yet),
    ("webhook fan-out", "deliveries/s/process", "≥ 270, p99 < 1 s", _detect_webhooks, _not_yet),
    ("inbound events applied", "events/s", "≥ 300", _detect_inbound, _not_yet),
]
