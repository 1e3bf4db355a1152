"""Importing a file with one bad row in Debian's headless Chromium, with a real Celery worker behind
the live server: the progress panel polls until the job is done, then the error report names the
line, the column and the problem. axe-core checks the page."""

import re
import uuid

import pytest
from axe_playwright_python.sync_playwright import Axe
from celery.contrib.testing.worker import start_worker
from django.contrib.auth.models import User
from playwright.sync_api import expect, sync_playwright

from orders.models import Order
from stream_portal.celery import app
from tests.orders.test_api_docs_browser import CHROMIUM, CHROMIUM_ARGS, require_chromium
from tests.orders.test_browser_dashboard import Browser

from .importing import csv_file, row

pytestmark = pytest.mark.browser


@pytest.fixture
def queue():
    """Celery's default queue renamed for this test, so that no other test process shares it."""
    name = f"imports-browser-{uuid.uuid4().hex}"
    default = app.conf.task_default_queue
    app.conf.task_default_queue = name
    yield name
    app.conf.task_default_queue = default


def test_import_a_file_with_one_bad_row_and_read_the_report(
    live_server, transactional_db, depots, monkeypatch, tmp_path, queue
):
    require_chromium()
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    User.objects.create_user("olive", password="olive-pass-2468")
    path = tmp_path / "tuesday.csv"
    path.write_bytes(
        csv_file([row("IMP-1", Item_Code="A"), row("IMP-1", Item_Code="B"), row("IMP-2", Item_Qty="two"), row("IMP-3")])
    )

    with (
        start_worker(app, pool="solo", perform_ping_check=False, queues=[queue], shutdown_timeout=30),
        sync_playwright() as playwright,
    ):
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            olive = Browser(chromium, live_server.url, Axe())
            page = olive.page
            olive.login("olive", "olive-pass-2468")
            page.get_by_role("link", name="Imports").click()
            page.wait_for_url(re.compile(r"/imports/$"))
            olive.check("imports")

            with page.expect_download() as download:
                page.get_by_role("link", name="Download the sample file").click()
            assert download.value.suggested_filename == "sample-import.csv"

            page.get_by_label("Order file (CSV, up to 64 MB)").set_input_files(str(path))
            page.get_by_role("button", name="Import").click()
            page.wait_for_url(re.compile(r"/imports/\d+/$"))
            # The panel polls itself until the worker has finished.
            expect(page.locator("#import-summary")).to_contain_text("2 orders created.", timeout=60_000)
            expect(page.locator("#import-summary")).to_contain_text("1 problem found")
            expect(page.locator("#import-bar")).to_have_attribute("value", "4")
            report = page.locator("#import-errors tbody tr")
            expect(report).to_have_count(1)
            expect(report.locator("td")).to_have_text(["4", "Item_Qty", "IMP-2", "'two' is not a whole number."])
            olive.check("import-report", shot=True)

            page.get_by_role("link", name="IMP-1").click()
            page.wait_for_url(re.compile(r"/orders/IMP-1/$"))
        finally:
            chromium.close()

    assert sorted(Order.objects.values_list("order_no", flat=True)) == ["IMP-1", "IMP-3"]
