"""The office dashboard in Debian's headless Chromium, driven by Playwright against the live test server.

One journey through the working day: log in; create an order with two lines (one needing a movement,
with the live trunking hint); find it by search; edit its driver notes inline (Escape cancels);
dispatch and receive its movement on the board and see the order become ready; a second browser's
stale edit is refused. axe-core checks every page for serious or critical violations, the pages run
within the Content-Security-Policy, and screenshots of the main pages land in var/screenshots/.
"""

import re
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.contrib.auth.models import User
from django.core.cache import cache
from playwright.sync_api import expect, sync_playwright

from orders import services
from orders.domain import Actor
from orders.models import Order
from tests.orders.test_api_docs_browser import CHROMIUM, CHROMIUM_ARGS, CSP_LISTENER, require_chromium

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
TIMEOUT_MS = 20_000


# What the 15-second timer does, now: the poller asks with its ETag (the guard in portal.js may stop it).
POLL_NOW = """() => {
  const poller = document.querySelector("[data-poll]");
  return htmx.ajax("GET", poller.getAttribute("hx-get"), {source: poller, target: "#order-results", swap: "outerHTML"});
}"""


class Browser:
    """One person's browser: a page that records errors and CSP violations, and an axe runner."""

    def __init__(self, browser, base_url, axe):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.page.add_init_script(CSP_LISTENER)
        self.errors = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.requests = []
        self.page.on(
            "request",
            lambda r: self.requests.append((r.method, r.url, r.headers.get("hx-request"), r.headers.get("hx-trigger"))),
        )
        self.base = base_url
        self.axe = axe
        self.checked = {}

    def go(self, path):
        response = self.page.goto(self.base + path)
        assert response.status == 200, (path, response.status)

    def login(self, username, password):
        self.go("/accounts/login/")
        self.check("login")
        self.page.get_by_label("User name").fill(username)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Log in").click()
        self.page.wait_for_url(re.compile(r"/orders/$"))

    def check(self, name, shot=False):
        """axe over the page as it is now: no serious or critical violation; no CSP violation or JS error."""
        results = self.axe.run(self.page)
        bad = [
            f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert not bad, f"accessibility violations on {name}: {bad}"
        violations = self.page.evaluate("window.__cspViolations || []")
        assert not violations, f"CSP violations on {name}: {violations}"
        assert not self.errors, f"JavaScript errors on {name}: {self.errors}"
        self.checked[name] = True
        if shot:
            SHOTS.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_a_working_day_in_the_office(live_server, transactional_db, depots, monkeypatch):
    require_chromium()
    # Playwright's sync API runs an event loop in this thread; the test's own ORM reads are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    User.objects.create_user("olive", password="olive-pass-2468")
    User.objects.create_user("adam", password="adam-pass-1357", is_staff=True)
    axe = Axe()
    cache.clear()  # per-status counts cached by earlier tests of this process

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            olive = Browser(chromium, live_server.url, axe)
            page = olive.page
            olive.login("olive", "olive-pass-2468")
            olive.check("orders-empty")

            # Create an order with two lines; the first needs a movement MAN → BHM.
            page.get_by_role("link", name="New order").click()
            page.get_by_label("Order number").fill("SO-B1")
            page.get_by_label("Customer name").fill("Ann Browser")
            page.locator("#id_line1").fill("1 High Street")
            page.locator("#id_postal_code").fill("b2 4qa")
            page.get_by_label("SKU, line 1").fill("SOFA-3")
            page.get_by_label("Stock location, line 1").select_option("MAN")
            page.get_by_label("Delivery method, line 1").select_option("BHM-VANS")
            expect(page.locator("tr.line-row").nth(0).locator("output")).to_contain_text(
                "Needs a movement MAN → BHM, due"
            )
            page.get_by_role("button", name="Add a line").click()
            expect(page.locator("tr.line-row")).to_have_count(2)
            page.get_by_label("SKU, line 2").fill("CHAIR")
            page.get_by_label("Qty, line 2").fill("2")
            page.get_by_label("Stock location, line 2").select_option("BHM")
            page.get_by_label("Delivery method, line 2").select_option("BHM-VANS")
            expect(page.locator("tr.line-row").nth(1).locator("output")).to_have_text("No movement: stock is at BHM.")
            olive.check("order-new", shot=True)
            page.get_by_role("button", name="Create order").click()
            page.wait_for_url(re.compile(r"/orders/SO-B1/$"))
            expect(page.get_by_text("Order SO-B1 created.")).to_be_visible()
            expect(page.locator("#h-movements + div")).to_contain_text("MAN → BHM")
            olive.check("order-detail")

            # Find it by search: the URL carries the filter.
            page.get_by_role("link", name="Orders", exact=True).click()
            with page.expect_response(lambda r: "q=SO-B" in r.url):
                page.get_by_label("Search").fill("SO-B")
            expect(page).to_have_url(re.compile(r"/orders/\?q=SO-B$"))
            expect(page.locator("#order-results")).to_contain_text("Ann Browser")

            # A status filter goes into the URL too, and the back button returns to the search alone.
            page.locator(".status-counts").get_by_text("Awaiting stock").click()
            expect(page).to_have_url(re.compile(r"q=SO-B&status=awaiting_stock"))
            expect(page.locator("#order-results")).to_contain_text("Ann Browser")
            with page.expect_response(lambda r: r.request.headers.get("hx-history-restore-request") == "true"):
                page.go_back()
            expect(page).to_have_url(re.compile(r"/orders/\?q=SO-B$"))
            expect(page.locator("#order-results")).to_contain_text("Ann Browser")

            # Edit its driver notes inline from the list; Escape cancels, Save keeps.
            page.get_by_role("link", name="Edit driver notes of SO-B1").click()
            editor = page.get_by_label("Driver notes of SO-B1")
            editor.fill("Thrown away")
            editor.press("Escape")
            expect(page.locator("[data-inline-editor]")).to_have_count(0)
            page.get_by_role("link", name="Edit driver notes of SO-B1").click()
            expect(page.get_by_label("Driver notes of SO-B1")).to_be_visible()
            # The list's self-refresh leaves an open editor alone...
            polls_before = len([r for r in olive.requests if r[1].endswith("/orders/?q=SO-B")])
            page.evaluate(POLL_NOW)
            expect(page.get_by_label("Driver notes of SO-B1")).to_be_visible()
            assert len([r for r in olive.requests if r[1].endswith("/orders/?q=SO-B")]) == polls_before
            olive.check("orders-inline-editor")
            page.get_by_label("Driver notes of SO-B1").fill("Side gate, ring twice")
            page.locator("[data-inline-editor]").get_by_role("button", name="Save").click()
            expect(page.locator("#order-results")).to_contain_text("Side gate, ring twice")
            expect(page.locator("#order-results")).to_contain_text("Changed by olive")
            olive.check("orders", shot=True)
            assert Order.objects.get(order_no="SO-B1").driver_notes == "Side gate, ring twice"
            # ...and, with no editor open, brings in what someone else changed.
            services.update_order("SO-B1", actor=Actor.system(), fields={"customer_reference": "REF-FROM-ERP"})
            page.evaluate(POLL_NOW)
            expect(page.locator("#order-results")).to_contain_text("REF-FROM-ERP")

            # The movement board: dispatch, then receive; the order becomes ready.
            page.get_by_role("link", name="Movements").click()
            reference = Order.objects.get(order_no="SO-B1").movements.get().reference
            page.get_by_label(f"Select {reference}").check()
            page.get_by_role("button", name="Dispatch selected").click()
            expect(page.locator("#board-results")).to_contain_text(f"{reference} dispatched.")
            page.get_by_label(f"Select {reference}").check()
            page.get_by_role("button", name="Receive selected").click()
            expect(page.locator("#board-results")).to_contain_text("Order SO-B1 is now ready to plan.")
            expect(page.locator("#board")).to_contain_text("Ready to plan")
            olive.check("movements", shot=True)
            assert Order.objects.get(order_no="SO-B1").status == Order.Status.READY

            # Two people edit at once: the second, stale save is refused and shows what differs.
            adam = Browser(chromium, live_server.url, axe)
            adam.login("adam", "adam-pass-1357")
            adam.go("/orders/SO-B1/edit/")
            olive.go("/orders/SO-B1/edit/")
            olive.check("order-edit")
            olive.page.get_by_label("Customer name").fill("Ann Olive")
            olive.page.get_by_role("button", name="Save changes").click()
            olive.page.wait_for_url(re.compile(r"/orders/SO-B1/$"))
            adam.page.get_by_label("Customer name").fill("Ann Adam")
            adam.page.get_by_role("button", name="Save changes").click()
            expect(adam.page.locator("#stale-warning")).to_contain_text(
                "Not saved: someone else changed this order after you opened it."
            )
            expect(adam.page.locator("#stale-warning")).to_contain_text("Ann Olive")
            adam.check("order-edit-stale", shot=True)
            assert Order.objects.get(order_no="SO-B1").customer_name == "Ann Olive"

            olive.go("/orders/SO-B1/")
            olive.check("order-detail", shot=True)

            # On a tablet the same pages reflow and stay usable.
            olive.page.set_viewport_size({"width": 820, "height": 1180})
            olive.go("/orders/")
            olive.check("orders-tablet", shot=True)
            olive.go("/movements/")
            olive.check("movements-tablet")
            olive.go("/orders/SO-B1/notes/location_instructions/")  # the editor as a page, without htmx
            olive.check("note-edit-page")

            # Settings, for the administrator.
            adam.go("/settings/depots/new/")
            adam.check("settings-add-depot")
            adam.go("/settings/")
            adam.check("settings", shot=True)
            adam.page.get_by_label("Name").fill("shop-erp")
            adam.page.get_by_label("Read orders").check()
            adam.page.get_by_role("button", name="Create client and show its key").click()
            expect(adam.page.locator("#new-key")).to_contain_text("shown only this once")
            adam.check("settings-new-key")
        except Exception:
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "failure.png"), full_page=True)
            print("\n".join(map(str, olive.requests[-15:])))
            raise
        finally:
            chromium.close()
