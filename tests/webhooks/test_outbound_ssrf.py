"""The SSRF guard: when a URL is saved (API, admin) and again when it is sent."""

import subprocess

import pytest
from django.utils import timezone

from orders.models import OutboxEvent
from tests.conftest import ApiCaller
from tests.webhooks.conftest import Receiver, send_now, subscribe
from webhooks import delivery, ssrf
from webhooks.models import Delivery, Subscription

FORBIDDEN = [
    "127.0.0.1",
    "127.9.9.9",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.1.2.3",
    "::ffff:169.254.169.254",
    "64:ff9b::a00:1",
    "2002:7f00:1::1",
]


@pytest.mark.parametrize("address", FORBIDDEN)
def test_non_public_addresses_are_forbidden(address):
    assert ssrf.forbidden(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address):
    assert ssrf.forbidden(address) is None


@pytest.fixture
def dns(monkeypatch):
    """Stand in for DNS (what leaves the machine): a name → addresses table, changeable mid-test."""
    table = {}

    def resolve(host, port):
        if host in table:
            return list(table[host])
        if host[0].isdigit() or ":" in host:
            return [host]
        raise OSError("Name or service not known")

    monkeypatch.setattr(ssrf, "resolve", resolve)
    return table


@pytest.mark.parametrize(
    "url, message",
    [
        ("ftp://hooks.example.com/x", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("http:///no-host", "must name a host"),
        ("http://user:pw@hooks.example.com/", "user name or password"),
        ("http://hooks.example.com:99999/", "not valid"),
        ("http://hooks.example .com/", "spaces or control"),
        ("http://unknown.invalid/", "does not resolve"),
        ("http://metadata.internal/", "forbidden address: 169.254.169.254 is a link-local address"),
        ("http://127.0.0.1:8080/", "forbidden address: 127.0.0.1 is a loopback address"),
        ("http://[::ffff:127.0.0.1]/", "forbidden address"),
        ("http://mixed.example.com/", "forbidden address: 10.0.0.8 is a private address"),
    ],
)
def test_urls_are_refused_with_the_reason(settings, dns, url, message):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    dns["metadata.internal"] = ["169.254.169.254"]
    dns["mixed.example.com"] = ["93.184.216.34", "10.0.0.8"]
    with pytest.raises(ssrf.UnsafeURL, match=message):
        ssrf.check(url)


def test_a_public_url_gives_the_address_to_connect_to(settings, dns):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    dns["hooks.example.com"] = ["93.184.216.34"]
    target = ssrf.check("https://hooks.example.com/in?x=1")
    assert target == ssrf.Target("https", "hooks.example.com", 443, "93.184.216.34", "/in?x=1")
    assert target.host_header == "hooks.example.com"


def test_allow_private_urls_lifts_the_address_rule_but_not_the_scheme_rule(settings, dns):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    assert ssrf.check("http://127.0.0.1:8300/x").address == "127.0.0.1"
    with pytest.raises(ssrf.UnsafeURL):
        ssrf.check("gopher://127.0.0.1/")


def test_the_api_refuses_a_private_url_when_it_is_saved(settings, dns, hooks_client):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    dns["intranet.example.com"] = ["192.168.0.10"]
    api = ApiCaller(hooks_client[1])

    response = api.post(
        "/api/v1/webhook-subscriptions/", {"url": "http://intranet.example.com/hook", "event_types": ["*"]}
    )

    assert response.status_code == 400
    assert response.json() == {
        "errors": {
            "url": ["The host intranet.example.com resolves to a forbidden address: 192.168.0.10 is a private address."]
        }
    }
    assert not Subscription.objects.exists()


def test_a_name_that_turns_private_after_it_was_saved_is_refused_when_sent(
    settings, dns, hooks_client, receiver, make_order
):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    dns["rebind.example.com"] = ["93.184.216.34"]
    api = ApiCaller(hooks_client[1])
    url = f"http://rebind.example.com:{receiver.port}/hook"
    assert api.post("/api/v1/webhook-subscriptions/", {"url": url, "event_types": ["*"]}).status_code == 201
    make_order("SO-REBIND")
    dns["rebind.example.com"] = ["127.0.0.1"]  # the DNS answer changes after the check at save time

    [delivery_id] = delivery.fan_out(OutboxEvent.objects.values_list("id", flat=True))
    delivery.attempt(delivery_id)

    assert receiver.requests == []
    [attempt] = Delivery.objects.get(pk=delivery_id).attempts.all()
    assert attempt.error == (
        "Refused: The host rebind.example.com resolves to a forbidden address: 127.0.0.1 is a loopback address."
    )


def test_the_sender_connects_to_the_checked_address_and_names_the_host(
    settings, dns, hooks_client, receiver, make_order
):
    # "hooks.example.test" exists only in the guard's answer: reaching the receiver proves the request went
    # to the address that was checked, with the URL's host in the Host header.
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    dns["hooks.example.test"] = ["127.0.0.1"]
    subscribe(hooks_client[0], f"http://hooks.example.test:{receiver.port}/hook?tenant=7")
    make_order("SO-HOST")

    [delivery_id] = delivery.fan_out(OutboxEvent.objects.values_list("id", flat=True))
    Delivery.objects.filter(pk=delivery_id).update(next_attempt_at=timezone.now())
    delivery.attempt(delivery_id)

    [request] = receiver.requests
    assert request["headers"]["host"] == f"hooks.example.test:{receiver.port}"
    assert request["path"] == "/hook?tenant=7"
    assert Delivery.objects.get(pk=delivery_id).state == "succeeded"


def self_signed(tmp_path, name):
    """A certificate for `name` (its own CA), made with the openssl command line."""
    cert, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", key, "-out", cert, "-days", "1", "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


@pytest.fixture
def tls_receiver(tmp_path):
    cert, key = self_signed(tmp_path, "hooks.example.test")
    receiver = Receiver(tls=(cert, key))
    yield receiver, cert
    receiver.close()


def test_https_goes_to_the_checked_address_and_checks_the_certificate_against_the_url_host(
    settings, dns, hooks_client, tls_receiver, make_order
):
    receiver, cert = tls_receiver
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    dns["hooks.example.test"] = dns["other.example.test"] = ["127.0.0.1"]
    right = subscribe(hooks_client[0], f"https://hooks.example.test:{receiver.port}/hook")
    wrong_name = subscribe(hooks_client[0], f"https://other.example.test:{receiver.port}/hook")
    make_order("SO-TLS")
    ids = delivery.fan_out(OutboxEvent.objects.values_list("id", flat=True))

    settings.WEBHOOK_CA_BUNDLE = None  # the system's CAs do not know our certificate
    untrusted = send_now(Delivery.objects.get(pk__in=ids, subscription=right))
    settings.WEBHOOK_CA_BUNDLE = cert
    trusted = send_now(untrusted)
    mismatched = send_now(Delivery.objects.get(pk__in=ids, subscription=wrong_name))

    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.attempts.first().error
    assert trusted.state == "succeeded"
    assert "hooks.example.test" in mismatched.attempts.get().error and mismatched.state == "pending"
    [request] = receiver.requests
    assert request["headers"]["host"] == f"hooks.example.test:{receiver.port}"


# --- Cases found by mutation testing (docs/mutation.md) -----------------------------------------


@pytest.mark.parametrize(
    "url, message",
    [
        ("ftp://hooks.example.com/x", "The URL must start with http:// or https://."),
        ("http:///no-host", "The URL must name a host."),
        ("http://user@hooks.example.com/", "The URL must not contain a user name or password."),
        ("http://:pw@hooks.example.com/", "The URL must not contain a user name or password."),
        ("http://hooks.example.com:99999/", "The URL is not valid."),
        ("http://hooks.example.com/a b", "The URL must not contain spaces or control characters."),
        ("http://hooks.example.com/\x7f", "The URL must not contain spaces or control characters."),
        ("http://hooks.example.com/\x1f", "The URL must not contain spaces or control characters."),
        ("http://nowhere.example.com/", "The host nowhere.example.com does not resolve."),
        (
            "http://[64:ff9b::a00:1]/",
            "The host 64:ff9b::a00:1 resolves to a forbidden address: 10.0.0.1 is a private address.",
        ),
    ],
)
def test_each_refusal_says_exactly_why(settings, dns, url, message):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    dns["nowhere.example.com"] = []
    with pytest.raises(ssrf.UnsafeURL) as caught:
        ssrf.check(url)
    assert str(caught.value) == message


def test_printable_punctuation_and_a_bare_host_are_accepted(settings, dns):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    dns["hooks.example.com"] = ["93.184.216.34"]
    assert ssrf.check("https://hooks.example.com/in!x~").path == "/in!x~"
    assert ssrf.check("https://hooks.example.com") == ssrf.Target(
        "https", "hooks.example.com", 443, "93.184.216.34", "/"
    )


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "64:ff9b::5db8:d822"])
def test_nat64_addresses_of_public_ipv4_addresses_are_allowed(address):
    assert ssrf.forbidden(address) is None


def test_the_host_is_resolved_for_the_urls_port(settings, monkeypatch):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    asked = []
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: asked.append((host, port)) or ["93.184.216.34"])
    ssrf.check("https://hooks.example.com:8443/x")
    ssrf.check("http://hooks.example.com/x")
    assert asked == [("hooks.example.com", 8443), ("hooks.example.com", 80)]


def test_resolve_gives_each_address_once():
    # Literal addresses: getaddrinfo answers them without asking DNS.
    assert ssrf.resolve("127.0.0.1", 443) == ["127.0.0.1"]
    assert ssrf.resolve("::1", 80) == ["::1"]
