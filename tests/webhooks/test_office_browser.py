"""The office's webhook settings in Debian's headless Chromium, against the live test server.

An administrator subscribes a local receiver (WEBHOOK_ALLOW_PRIVATE_URLS on for this test), reads the
secret once, an order is created and delivered by the real delivery code, and the delivery shows in the
subscription's log and on the order's page; the receiver verifies the signature with the secret the page
showed. Then an inbound source is made. axe-core finds no serious or critical violation on any of these
pages, they run within the Content-Security-Policy, and the log's screenshot goes to docs/screenshots/.
"""

import json
import re
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import connections
from playwright.sync_api import expect, sync_playwright
from standardwebhooks import Webhook

from tests.orders.test_api_docs_browser import CHROMIUM, CHROMIUM_ARGS, CSP_LISTENER, require_chromium
from webhooks.models import Delivery, InboundSource, Subscription

from . import conftest as webhook_fixtures
from .office_helpers import create_order, fan_out_and_send

pytestmark = pytest.mark.browser

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "webhooks.png"
TIMEOUT_MS = 20_000


class Page:
    """A browser page that records JavaScript errors and CSP violations, with an axe check."""

    def __init__(self, browser, base_url):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.page.add_init_script(CSP_LISTENER)
        self.errors = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.base = base_url
        self.axe = Axe()

    def go(self, path):
        response = self.page.goto(self.base + path)
        assert response.status == 200, (path, response.status)

    def check(self, name):
        results = self.axe.run(self.page)
        bad = [
            f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert not bad, f"accessibility violations on {name}: {bad}"
        assert not self.page.evaluate("window.__cspViolations || []"), f"CSP violations on {name}"
        assert not self.errors, f"JavaScript errors on {name}: {self.errors}"


def test_an_administrator_subscribes_a_receiver_and_sees_the_delivery(
    live_server, transactional_db, depots, settings, monkeypatch
):
    require_chromium()
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop here
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    # The receiver listens in this engineer's port range, not the shared default one.
    find_port = webhook_fixtures.free_port
    monkeypatch.setattr(webhook_fixtures, "free_port", lambda: find_port(range(8400, 8480)))
    receiver = webhook_fixtures.Receiver()
    User.objects.create_user("adam", password="adam-pass-1357", is_staff=True)
    cache.clear()

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            adam = Page(chromium, live_server.url)
            page = adam.page
            adam.go("/accounts/login/")
            page.get_by_label("User name").fill("adam")
            page.get_by_label("Password").fill("adam-pass-1357")
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(re.compile(r"/orders/$"))

            # From the settings navigation to the subscriptions.
            adam.go("/settings/")
            page.get_by_role("navigation", name="Settings sections").get_by_role(
                "link", name="Webhook subscriptions"
            ).click()
            page.wait_for_url(re.compile(r"/settings/webhooks/$"))
            expect(page.get_by_text("No webhook subscriptions yet.")).to_be_visible()
            adam.check("subscriptions-empty")

            # A URL the guard refuses is answered in words beside the field.
            settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
            page.get_by_label("Receiver URL").fill(receiver.url)
            page.get_by_role("button", name="Subscribe and show the secret").click()
            expect(page.locator("#id_url_error")).to_contain_text("127.0.0.1 is a loopback address.")
            adam.check("subscription-refused")
            assert not Subscription.objects.exists()

            # Allowed for local receivers: subscribed, and the secret shown this once.
            settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
            page.get_by_label("Description").fill("Warehouse system")
            page.get_by_role("button", name="Subscribe and show the secret").click()
            expect(page.locator("#new-secret")).to_contain_text("It is shown only this once")
            secret = page.get_by_label("Signing secret").input_value()
            assert secret.startswith("whsec_") and secret == Subscription.objects.get().secret
            adam.check("subscription-secret")
            adam.go("/settings/webhooks/")
            assert secret not in page.content()
            expect(page.get_by_role("cell", name="Warehouse system")).to_be_visible()

            # An order is made; the workers' code delivers it to the receiver, signed with that secret.
            create_order("SO-W1")
            fan_out_and_send()
            [request] = receiver.wait_for(1)
            body = request["body"].decode()
            assert Webhook(secret).verify(body, request["headers"])["type"] == "order.created"
            assert json.loads(body)["data"]["order_no"] == "SO-W1"

            # The delivery in the subscription's log, with its attempt.
            page.get_by_role("link", name="Delivery log of").click()
            row = page.locator(f"#delivery-{Delivery.objects.get().pk}")
            expect(row).to_contain_text("order.created")
            expect(row).to_contain_text("SO-W1")
            expect(row).to_contain_text("Succeeded")
            expect(row).to_contain_text("HTTP 200")
            expect(row).to_contain_text("thanks")
            adam.check("delivery-log")
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)

            # The edit form: every field labelled; narrowing the event types is saved.
            page.get_by_role("link", name="Edit", exact=True).click()
            adam.check("subscription-edit")
            page.get_by_label("All events (*)").uncheck()
            page.get_by_label("order.completed").check()
            page.get_by_role("button", name="Save").click()
            expect(page.get_by_role("status")).to_contain_text("Subscription saved.")
            assert Subscription.objects.get().event_types == ["order.completed"]

            # Send it again from the log: queued again with the same webhook-id.
            row.get_by_role("button", name="Send again").click()
            expect(page.get_by_role("status")).to_contain_text("queued again with the same webhook-id")
            assert Delivery.objects.get().state == Delivery.State.PENDING

            # The order's page loads its deliveries from the webhooks app.
            adam.go("/orders/SO-W1/")
            expect(page.locator("#order-deliveries")).to_contain_text("order.created")
            expect(page.locator("#order-deliveries")).to_contain_text("Pending")
            adam.check("order-detail-deliveries")

            # An inbound source, with its secret shown once.
            adam.go("/settings/")
            page.get_by_role("navigation", name="Settings sections").get_by_role("link", name="Inbound sources").click()
            page.get_by_label("Name").fill("route-planner")
            page.get_by_role("button", name="Create source and show its secret").click()
            expect(page.locator("#new-secret")).to_contain_text("route-planner")
            assert page.get_by_label("Signing secret").input_value() == InboundSource.objects.get().secret
            adam.check("inbound-secret")
            page.get_by_role("link", name="route-planner", exact=True).click()
            expect(page.get_by_text("Nothing received from this source yet.")).to_be_visible()
            adam.check("inbound-events")
            adam.context.close()
        finally:
            # The ORM calls above ran inside Playwright's greenlet, whose connection would outlive the test.
            connections.close_all()
            chromium.close()
            receiver.close()
