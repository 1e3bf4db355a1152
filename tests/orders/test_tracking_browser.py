"""The tracking page in a real phone-sized Chromium: styled, within the CSP, no CDN, and accessible (axe-core).

Drives Debian's Chromium (/usr/bin/chromium) through Playwright; axe-core comes bundled in the
axe-playwright-python package, so nothing is fetched from the network.
"""

from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import sync_playwright

from orders import services
from orders.domain import Actor

from .test_api_docs_browser import CHROMIUM, CHROMIUM_ARGS, CSP_LISTENER, TIMEOUT_MS, require_chromium

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 375, "height": 740}
FIELD = Actor.for_inbound("driver-app")


def completed_order(make_order):
    order = make_order(
        "SO-1", address={"line1": "1 High St", "town": "Birmingham", "postal_code": "B2 4QA", "country": "GB"}
    )
    plan = {"planned_date": "2030-03-05", "route_ref": "R-01", "eta_from": "09:00", "eta_to": "11:00"}
    services.plan_order(order, actor=FIELD, plan=plan)
    services.start_order(order, actor=FIELD)
    pod = {
        "signed_by": "Ann Smith, who signed with a rather long name to see that it wraps on a phone",
        "notes": "Placed in the front room.",
        "photo_urls": ["https://driver-app.example.com/pod/1/photo-1.jpg"],
        "completed_at": "2030-03-05T09:36:40+00:00",
    }
    services.complete_order(order, actor=FIELD, pod=pod)
    return order


def planned_order(make_order):
    order = make_order("SO-2")
    plan = {"planned_date": "2030-03-05", "route_ref": "R-01", "eta_from": "13:00", "eta_to": "15:00"}
    services.plan_order(order, actor=FIELD, plan=plan)
    return order


@pytest.mark.parametrize("make", [completed_order, planned_order, None], ids=["completed", "planned", "unknown"])
def test_the_tracking_page_reads_well_on_a_phone(live_server, make_order, make):
    require_chromium()
    path = f"/track/{make(make_order).tracking_token}/" if make else "/track/no-such-token/"
    own_host = urlsplit(live_server.url).netloc
    requests, console_errors, failed = [], [], []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.add_init_script(CSP_LISTENER)
            page.on("request", lambda request: requests.append(request.url))
            page.on("console", lambda msg: msg.type == "error" and console_errors.append(msg.text))
            page.on(
                "response",
                lambda r: r.status >= 400 and r.request.resource_type != "document" and failed.append(r.url),
            )
            response = page.goto(live_server.url + path, wait_until="load")

            assert response.status == (200 if make else 404)
            assert response.headers["x-robots-tag"] == "noindex, nofollow"
            heading = page.locator("h1").inner_text()
            assert (
                heading
                == {completed_order: "Delivered", planned_order: "Scheduled", None: "Tracking link not found"}[make]
            )
            # Our stylesheet applied: one column within the phone's width, nothing to scroll sideways.
            assert page.evaluate("getComputedStyle(document.querySelector('main')).maxWidth") == "640px"
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") >= 16
            if make is planned_order:
                assert page.locator(".eta").inner_text() == "13:00 and 15:00"

            assert page.evaluate("window.__cspViolations") == []
            assert failed == []
            # The unknown token's page is itself a 404, which Chromium reports on the console.
            assert console_errors == (
                [] if make else ["Failed to load resource: the server responded with a status of 404 (Not Found)"]
            )
            assert {urlsplit(url).netloc for url in requests} == {own_host}

            results = Axe().run(page)
            serious = [
                (v["id"], v["impact"], [n["target"] for n in v["nodes"]])
                for v in results.response["violations"]
                if v["impact"] in ("serious", "critical")
            ]
            assert serious == []
        finally:
            browser.close()
