"""Which endpoint URLs the EHR will call (server-side request forgery guard; docs/api.md "Webhooks").

https only, to a host whose every address is public: a private (RFC 1918, unique local),
loopback, link-local (cloud metadata at 169.254.169.254), multicast, reserved or unspecified
address is refused, at registration and again before every attempt (the name may resolve
elsewhere by then). `WEBHOOKS_ALLOW_LOOPBACK` (on in tests and the demo, off by default in
production) additionally allows http:// and https:// to localhost, 127.0.0.1 and ::1, and
nothing else private. Redirects are never followed (a redirect is a failed attempt), so a
public URL cannot bounce a request inward. A name re-resolved between our check and the
connection (DNS rebinding) is not pinned; a deployment that needs that closes it with an
egress proxy or firewall.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


class UnsafeUrl(ValueError):
    """The URL is refused; the message says why, in words for the practice admin."""


def _addresses(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeUrl(f"The host {host} could not be resolved.") from exc
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def check_url(url: str, *, resolve: bool = True) -> None:
    """Raise UnsafeUrl unless the EHR may call `url`; `resolve=False` checks the form only."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        raise UnsafeUrl("Enter a full URL, such as https://example.org/webhooks.")
    if parts.username or parts.password:
        raise UnsafeUrl("The URL must not carry a user name or password; the signature authenticates us.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeUrl("The URL's port is not valid.") from exc
    loopback_allowed = bool(getattr(settings, "WEBHOOKS_ALLOW_LOOPBACK", False))
    if loopback_allowed and host in LOOPBACK_HOSTS:
        if parts.scheme not in ("http", "https"):
            raise UnsafeUrl("The URL must start with https://.")
        return
    if parts.scheme != "https":
        raise UnsafeUrl("The URL must start with https://.")
    if not resolve:
        return
    for address in _addresses(host, port):
        if not _is_public(address):
            raise UnsafeUrl(f"The host {host} resolves to a private or reserved address ({address}); refused.")
