"""`make prod-check` only: names under `.localhost` resolve to the loopback address in this
process, as they do in browsers and under systemd-resolved (RFC 6761, section 6.3).

prod-check puts this folder on PYTHONPATH of the EHR's gunicorn, worker and beat, so their
calls to https://idme.localhost:PORT (OIDC back channel, partner API, DEA registry, pharmacy
network) reach the local TLS proxy, like the browser's do. It is never installed in an image:
a real deployment resolves real names, and `docker compose` gives the proxy these names as
network aliases (docker-compose.yml).
"""

from __future__ import annotations

import socket
from typing import Any

_original_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if isinstance(host, str) and host.rstrip(".").endswith(".localhost"):
        host = "127.0.0.1"
    return _original_getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _getaddrinfo
