"""The SSRF guard for subscription URLs, applied when a URL is saved and again when it is sent.

A receiver URL must be http(s), and every address its host resolves to must be a public one:
loopback, private, link-local, multicast, reserved, unspecified and other non-global addresses are
refused, including IPv4 addresses wrapped in IPv6 (IPv4-mapped, NAT64, 6to4). The sender then
connects to the address that was checked, never resolving the name a second time, so a DNS answer
that changes between the check and the connection cannot slip through.
`WEBHOOK_ALLOW_PRIVATE_URLS=true` lifts the address rule (not the scheme rule) for local receivers.
The sender (`delivery.checked_target`) keeps a passed check for WEBHOOK_ADDRESS_CACHE_SECONDS.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

DEFAULT_PORTS = {"http": 80, "https": 443}
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeURL(ValueError):
    """The URL may not be used as a webhook receiver; the message says why."""


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (`address`), and what to ask for there."""

    scheme: str
    host: str
    port: int
    address: str
    path: str

    @property
    def host_header(self):
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def resolve(host, port):
    """Every address `host` resolves to (the one place that asks DNS; tests replace it)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


def _embedded_ipv4(ip):
    if ip.version != 6:
        return None
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour:
        return ip.sixtofour
    return None


def forbidden(address):
    """Why this address may not be called, or None when it is a public unicast address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    inner = _embedded_ipv4(ip)
    if inner is not None:
        return forbidden(str(inner))
    for kind in ("loopback", "link_local", "multicast", "unspecified", "reserved", "private"):
        if getattr(ip, f"is_{kind}"):
            return f"{address} is a {kind.replace('_', '-')} address"
    if not ip.is_global:
        return f"{address} is not a public address"
    return None


def parse(url):
    """Split and check the URL's form (scheme, host, port) without resolving it."""
    if not isinstance(url, str) or any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise UnsafeURL("The URL must not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeURL("The URL is not valid.")
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise UnsafeURL("The URL must start with http:// or https://.")
    if not parts.hostname:
        raise UnsafeURL("The URL must name a host.")
    if parts.username or parts.password:
        raise UnsafeURL("The URL must not contain a user name or password.")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, parts.hostname, port or DEFAULT_PORTS[scheme], path


def check(url, *, allow_private=None):
    """Resolve and check the URL; return the Target to connect to, or raise UnsafeURL."""
    scheme, host, port, path = parse(url)
    if allow_private is None:
        allow_private = settings.WEBHOOK_ALLOW_PRIVATE_URLS
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError, ValueError) as exc:
        raise UnsafeURL(f"The host {host} does not resolve ({exc}).")
    if not addresses:
        raise UnsafeURL(f"The host {host} does not resolve.")
    if not allow_private:
        for address in addresses:
            reason = forbidden(address)
            if reason:
                raise UnsafeURL(f"The host {host} resolves to a forbidden address: {reason}.")
    return Target(scheme=scheme, host=host, port=port, address=addresses[0], path=path)
