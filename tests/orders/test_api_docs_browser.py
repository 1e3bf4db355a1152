"""The API docs (docs/api.md) render in a real browser without any CDN and within the Content-Security-Policy.

Drives Debian's Chromium (/usr/bin/chromium) through Playwright's sync API; Playwright's own browser
downloads are not used. CI installs chromium (see .ci/run); when it is missing this test fails and
says how to install it, rather than skipping and hiding a broken docs page.
"""

import os
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import sync_playwright

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 30_000

# Collects every CSP violation the page reports, whether or not it also reaches the console.
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " blocked " + e.blockedURI);
});
"""


def require_chromium():
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"{CHROMIUM} is missing; the browser tests need Debian's Chromium. Install it with "
            "`apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium` "
            "(or run .ci/run), or deselect these tests with -m 'not browser'.",
            pytrace=False,
        )


def test_api_docs_render_from_own_host_within_csp(live_server):
    require_chromium()
    docs_url = live_server.url + "/api/docs/"
    own_host = urlsplit(live_server.url).netloc
    requests, console, page_errors = [], [], []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.add_init_script(CSP_LISTENER)
            page.on("request", lambda request: requests.append(request.url))
            page.on("console", lambda message: console.append((message.type, message.text)))
            page.on("pageerror", lambda error: page_errors.append(str(error)))

            response = page.goto(docs_url, wait_until="load")
            assert response is not None and response.status == 200, response and response.status
            csp = response.headers.get("content-security-policy")

            # Swagger UI has fetched the schema and rendered the operations.
            page.wait_for_selector(".opblock", state="visible")
            page.get_by_text("Create an order").first.wait_for(state="visible")
            page.wait_for_load_state("networkidle")
            operations = page.locator(".opblock").count()
            violations = page.evaluate("window.__cspViolations")
        finally:
            browser.close()

    assert csp, "the docs page has no Content-Security-Policy header"
    assert "default-src 'self'" in csp, csp
    assert operations > 10, f"Swagger UI rendered only {operations} operations"

    assert docs_url in requests
    assert any(urlsplit(url).path == "/api/schema/" for url in requests), requests
    # data: URIs (Swagger UI's inline icons) are not network requests; everything else must be ours.
    foreign = [url for url in requests if not url.startswith("data:") and urlsplit(url).netloc != own_host]
    assert not foreign, f"the docs page loaded from other hosts (a CDN?): {foreign}"
    assert all(urlsplit(url).scheme in ("http", "data") for url in requests), requests

    csp_console = [
        text
        for kind, text in console
        if "content security policy" in text.lower() or "content-security-policy" in text.lower()
    ]
    assert not csp_console, f"CSP errors in the console: {csp_console}"
    assert not violations, f"CSP violations reported by the page: {violations}"
    assert not page_errors, f"JavaScript errors on the docs page: {page_errors}"


def test_api_schema_is_served_and_lists_orders(live_server):
    response = httpx.get(live_server.url + "/api/schema/", params={"format": "json"}, timeout=30)

    assert response.status_code == 200, response.text[:500]
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/orders/" in schema["paths"]
    assert {"get", "post"} <= set(schema["paths"]["/api/v1/orders/"])
    assert schema["paths"]["/api/v1/orders/"]["post"]["summary"] == "Create an order"
