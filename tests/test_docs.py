"""The documentation ships with the product and says what the code does.

- every link in README.md, DEVELOPERS.md and docs/*.md points at a file (and heading) that exists;
- no tracked file refers to a path outside the repository;
- the tables in docs/ are the code's tables (status transitions, environment variables);
- the worked examples of docs/trunking.md are run here, through the API, with the same numbers.
"""

import re
import subprocess
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine

from orders import domain, services
from orders.models import ApiClient, StockMovement
from tests.conftest import line, order_body

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
MARKDOWN = [ROOT / "README.md", ROOT / "DEVELOPERS.md", *sorted(DOCS.glob("*.md"))]

FENCE_RE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
INLINE_CODE_RE = re.compile(r"`[^`\n]*`")
LINK_RE = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def prose(path):
    """The Markdown text without code blocks and code spans, where link syntax is not a link."""
    return INLINE_CODE_RE.sub("", FENCE_RE.sub("", path.read_text()))


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = INLINE_CODE_RE.sub(lambda m: m.group(0)[1:-1], heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path):
    return {slug(h) for h in re.findall(r"^#{1,6} (.+)$", FENCE_RE.sub("", path.read_text()), re.MULTILINE)}


def local_links(path):
    for target in LINK_RE.findall(prose(path)):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        yield target


def test_the_docs_exist_and_link_to_each_other():
    names = {p.name for p in DOCS.glob("*.md")}
    assert {"README.md", "api.md", "status-machine.md", "trunking.md", "operations.md"} <= names
    readme_links = set(local_links(ROOT / "README.md"))
    assert {"docs/README.md", "docs/api.md", "docs/status-machine.md", "docs/trunking.md"} <= readme_links
    index_links = {t.split("#")[0] for t in local_links(DOCS / "README.md")}
    assert names - {"README.md"} <= index_links, "docs/README.md lists every page in docs/"


def test_every_link_in_readme_and_docs_points_at_something_that_exists():
    broken = []
    checked = 0
    for path in MARKDOWN:
        for target in local_links(path):
            checked += 1
            file_part, _, anchor = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path
            if not dest.exists():
                broken.append(f"{path.relative_to(ROOT)}: {target} (no such file)")
            elif not dest.is_relative_to(ROOT):
                broken.append(f"{path.relative_to(ROOT)}: {target} (outside the repository)")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                broken.append(f"{path.relative_to(ROOT)}: {target} (no heading #{anchor})")
    assert checked > 20, "the link check found almost no links: is it still reading the files?"
    assert broken == []


def test_the_link_check_sees_a_broken_link(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("See [the guide](guide.md), `[not a link](x.md)` and [web](https://example.com).\n")
    assert list(local_links(page)) == ["guide.md"]


def test_no_tracked_file_refers_outside_the_repository():
    # Spelled in pieces so that this file does not match itself.
    outside = ["../" + "shared", "SPEC" + ".md", "SPEC" + " §"]
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    offenders = []
    for name in filter(None, files.decode().split("\0")):
        path = ROOT / name
        if not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for number, text_line in enumerate(text.splitlines(), 1):
            if any(word in text_line for word in outside):
                offenders.append(f"{name}:{number}: {text_line.strip()[:100]}")
    assert offenders == []


# --- Tables in the docs are the code's tables -------------------------------------------------------


def table_after(path, heading):
    """The rows (lists of cells) of the first Markdown table after `heading`."""
    text = path.read_text()
    start = text.index(heading)
    rows = []
    for row in text[start:].splitlines()[1:]:
        if row.startswith("|"):
            rows.append([cell.strip() for cell in row.strip("|").split("|")])
        elif rows:
            break
    return rows[2:]  # after the header and its --- line


def statuses(cell):
    return set(re.findall(r"`(\w+)`", cell))


def test_the_order_transition_table_is_the_domains():
    rows = table_after(DOCS / "status-machine.md", "### Allowed moves")
    documented = {frm: statuses(to) for cell, to in rows for frm in statuses(cell)}
    assert documented == {str(k): {str(t) for t in v} for k, v in domain.TRANSITIONS.items()}


def test_the_movement_transition_table_is_the_domains():
    rows = table_after(DOCS / "status-machine.md", "## Stock movements")
    documented = {}
    for frm, to, _ in rows:
        for status in statuses(frm):
            documented.setdefault(status, set()).update(statuses(to))
    assert documented == {str(k): {str(t) for t in v} for k, v in domain.MOVEMENT_TRANSITIONS.items()}


def test_every_environment_variable_the_settings_read_is_documented():
    settings_text = (ROOT / "stream_portal" / "settings.py").read_text()
    read = set(re.findall(r'(?:env\w*|os\.environ\.get)\(\s*"([A-Z][A-Z0-9_]+)"', settings_text))
    assert {"DATABASE_URL", "SECRET_KEY", "TIME_ZONE"} <= read
    documented = {row[0].strip("`") for row in table_after(DOCS / "operations.md", "## Environment variables")}
    assert documented == read
    example = (ROOT / ".env.example").read_text()
    assert [name for name in sorted(read) if not re.search(rf"^#? ?{name}=", example, re.MULTILINE)] == []


def test_the_scope_table_of_the_api_guide_names_every_scope():
    rows = table_after(DOCS / "api.md", "## Authentication and scopes")
    assert {row[0].strip("`") for row in rows} == set(ApiClient.Scope.values)


def test_the_readme_production_section_shows_the_health_check():
    readme = (ROOT / "README.md").read_text()
    production = readme[readme.index("## Running it in production") :]
    production = production[: production.index("\n## ", 1)]
    assert "GET /healthz" in production
    assert '{"status": "ok", "database": "ok", "cache": "ok", "broker": "ok"}' in production


# --- docs/trunking.md's worked examples, run ---------------------------------------------------------

TODAY = datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("Europe/London"))


def movements(response):
    return [
        (
            m["reference"],
            f"{m['from_location']} → {m['to_location']}",
            m["status"],
            m["ship_date"],
            m["due_date"],
            [(ln["line_no"], ln["quantity"]) for ln in m["lines"]],
        )
        for m in response.json()["movements"]
    ]


@pytest.mark.django_db(transaction=True, reset_sequences=True)
@time_machine.travel(TODAY, tick=False)
def test_the_worked_examples_of_the_trunking_doc(depots, ops_api):
    doc = " ".join((DOCS / "trunking.md").read_text().split())

    def says(*phrases):
        for phrase in phrases:
            assert phrase in doc, f"docs/trunking.md no longer says {phrase!r}"

    # 1. Stock in another depot.
    r = ops_api.post("/api/v1/orders/", order_body("SO-1001", lines=[line(1, "MAN", "BHM-VANS")]))
    assert r.status_code == 201, r.content
    assert movements(r) == [("MV-000001", "MAN → BHM", "pending", "2026-12-01", "2026-12-03", [(1, 1)])]
    assert (r.json()["status"], r.json()["earliest_delivery_date"]) == ("awaiting_stock", "2026-12-03")
    says(
        "One movement `MAN → BHM` with line 1: ships 2026-12-01, due 2026-12-03",
        "`awaiting_stock`, `earliest_delivery_date` 2026-12-03",
    )

    # 2. Lines share a lane; the latest on-hand date sets the ship date.
    lines = [
        line(1, "MAN", "BHM-VANS"),
        line(2, "MAN", "BHM-VANS", on_hand_date=date(2026, 12, 4)),
        line(3, "LDS", "BHM-VANS"),
    ]
    r = ops_api.post("/api/v1/orders/", order_body("SO-1002", lines=lines))
    assert movements(r) == [
        ("MV-000002", "MAN → BHM", "pending", "2026-12-04", "2026-12-06", [(1, 1), (2, 1)]),
        ("MV-000003", "LDS → BHM", "pending", "2026-12-01", "2026-12-04", [(3, 1)]),
    ]
    assert r.json()["earliest_delivery_date"] == "2026-12-06"
    says(
        "ships 2026-12-04 (line 2's on-hand date is later than today), due 2026-12-06",
        "`LDS → BHM`: ships 2026-12-01, due 2026-12-04",
        "`earliest_delivery_date` is 2026-12-06",
    )

    # 3. No lane defined.
    r = ops_api.post("/api/v1/orders/", order_body("SO-1003", lines=[line(1, "BHM", "LDS-VANS")]))
    assert movements(r) == [("MV-000004", "BHM → LDS", "pending", "2026-12-01", "2026-12-02", [(1, 1)])]
    says("One movement `BHM → LDS`: ships 2026-12-01, due 2026-12-02")

    # 4. Stock already at the fleet's depot; then with an on-hand date ahead.
    r = ops_api.post("/api/v1/orders/", order_body("SO-1004", lines=[line(1, "BHM", "BHM-VANS")]))
    assert (movements(r), r.json()["status"], r.json()["earliest_delivery_date"]) == ([], "ready", "2026-12-01")
    says("No movement. The order is `ready` at once; `earliest_delivery_date` 2026-12-01")
    later = [line(1, "BHM", "BHM-VANS", on_hand_date=date(2026, 12, 5))]
    r = ops_api.post("/api/v1/orders/", order_body("SO-1005", lines=later))
    assert (movements(r), r.json()["status"], r.json()["earliest_delivery_date"]) == (
        [],
        "awaiting_stock",
        "2026-12-05",
    )
    assert services.release_due_orders(on=date(2026, 12, 4)) == []
    assert services.release_due_orders(on=date(2026, 12, 5)) == ["SO-1005"]
    says(
        "`awaiting_stock` with `earliest_delivery_date` 2026-12-05, and the periodic job makes it `ready` on 2026-12-05"
    )

    # 5. A change while the movement is pending.
    r = ops_api.patch("/api/v1/orders/SO-1001/", {"lines": [line(1, "MAN", "BHM-VANS", quantity=2)]})
    assert r.status_code == 200, r.content
    assert movements(r) == [
        ("MV-000001", "MAN → BHM", "cancelled", "2026-12-01", "2026-12-03", [(1, 1)]),
        ("MV-000005", "MAN → BHM", "pending", "2026-12-01", "2026-12-03", [(1, 2)]),
    ]
    assert StockMovement.objects.get(reference="MV-000001").version == 2
    says(
        "`MV-000001` is **cancelled** (it no longer matches) and `MV-000005` made for line 1 × 2, with the "
        "same dates: ships 2026-12-01, due 2026-12-03"
    )

    # 6. A change after dispatch.
    assert ops_api.post("/api/v1/stock-movements/MV-000005/dispatch/").status_code == 200
    r = ops_api.patch("/api/v1/orders/SO-1001/", {"lines": [line(1, "MAN", "BHM-VANS", quantity=3)]})
    detail = (
        "Line 1 (SKU-1) is on stock movement MV-000005, which was already dispatched; its quantity, stock "
        "location and delivery method can no longer change."
    )
    assert (r.status_code, r.json()) == (409, {"detail": detail})
    says(f'answers **409**: *"{detail}"*')
    r = ops_api.patch("/api/v1/orders/SO-1001/", {"lines": [line(2, "MAN", "BHM-VANS")]})
    assert movements(r)[1:] == [
        ("MV-000005", "MAN → BHM", "dispatched", "2026-12-01", "2026-12-03", [(1, 2)]),
        ("MV-000006", "MAN → BHM", "pending", "2026-12-01", "2026-12-03", [(2, 1)]),
    ]
    says("line 2 gets a new movement `MV-000006` of its own")

    # 7. Arrival.
    assert ops_api.post("/api/v1/stock-movements/MV-000005/receive/").status_code == 200
    assert ops_api.get("/api/v1/orders/SO-1001/").json()["status"] == "awaiting_stock"
    ops_api.post("/api/v1/stock-movements/MV-000006/dispatch/")
    ops_api.post("/api/v1/stock-movements/MV-000006/receive/")
    history = ops_api.get("/api/v1/orders/SO-1001/status/").json()["history"]
    assert (history[-1]["status"], history[-1]["actor"], history[-1]["note"]) == (
        "ready",
        "system",
        "All stock is at the delivering depot. (MV-000006 received by api_client:ops)",
    )
    says(
        'the order becomes `ready`, with the history note *"All stock is at the delivering depot. (MV-000006 '
        'received by api_client:ops)"*'
    )

    # 8. A collection.
    r = ops_api.post(
        "/api/v1/orders/", order_body("SO-1006", order_type="collection", lines=[line(1, "MAN", "BHM-VANS")])
    )
    assert (movements(r), r.json()["status"]) == ([], "ready")
