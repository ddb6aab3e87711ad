"""Health endpoints for the proxy, compose and monitoring (docs/operations.md).

- `/healthz`: the process is up and answers; touches nothing else (liveness).
- `/readyz`: the database, the cache, the Celery broker and the EPCS signing key are reachable
  (503 when one is not); ID.me's reachability is reported in the body but never fails readiness,
  since the EHR works without ID.me except for MFA and signing.

`HealthCheckMiddleware` answers both before anything else runs (right after the request id):
no sign-in or practice redirect, no HTTPS redirect and no host check, so a container's
health check can call `http://127.0.0.1:8000/healthz` from inside. The bodies name checks and
their state only: no host names, versions, keys or error texts.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
# The discovery document every OIDC provider publishes under ID.me's base URL.
IDME_DISCOVERY_PATH = "/oidc/.well-known/openid-configuration"
BROKER_TIMEOUT_SECONDS = 2
IDME_TIMEOUT_SECONDS = 2.0


class CheckState(enum.StrEnum):
    OK = "ok"
    FAILING = "failing"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class Check:
    name: str
    state: CheckState
    required: bool
    duration_ms: float


def _timed(name: str, probe: Callable[[], None], *, required: bool = True) -> Check:
    started = time.monotonic()
    try:
        probe()
        state = CheckState.OK
    except Exception:  # any failure of a dependency is "not ready", whatever its type
        state = CheckState.FAILING if required else CheckState.UNREACHABLE
    return Check(name, state, required, round((time.monotonic() - started) * 1000, 1))


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        if cursor.fetchone() != (1,):
            raise RuntimeError("unexpected answer")


def _cache() -> None:
    key = "ehr:readyz"
    value = str(time.monotonic_ns())
    cache.set(key, value, timeout=30)
    if cache.get(key) != value:
        raise RuntimeError("cache did not keep a value")


def _broker() -> None:
    from ehr.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)


def _signing_key() -> None:
    """The configured Ed25519 key parses (production: EPCS_SIGNING_KEY), or the development key
    file is readable once it exists (it is created on first use)."""
    pem = str(settings.EPCS_SIGNING_KEY)
    if not pem:
        path = Path(settings.EPCS_SIGNING_KEY_FILE)
        if not path.exists():
            return
        pem = path.read_text()
    key = load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("not an Ed25519 key")


def _idme() -> None:
    url = str(settings.IDME_BASE_URL).rstrip("/") + IDME_DISCOVERY_PATH
    response = requests.get(url, timeout=IDME_TIMEOUT_SECONDS, allow_redirects=False)
    response.raise_for_status()


def readiness() -> list[Check]:
    return [
        _timed("database", _database),
        _timed("cache", _cache),
        _timed("broker", _broker),
        _timed("signing_key", _signing_key),
        _timed("idme", _idme, required=False),
    ]


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def healthz(request: HttpRequest) -> HttpResponse:
    return _no_store(JsonResponse({"status": "ok"}))


def readyz(request: HttpRequest) -> HttpResponse:
    checks = readiness()
    ready = all(check.state is CheckState.OK for check in checks if check.required)
    body = {
        "status": "ready" if ready else "not ready",
        "checks": {
            check.name: {"state": check.state.value, "required": check.required, "duration_ms": check.duration_ms}
            for check in checks
        },
    }
    return _no_store(JsonResponse(body, status=200 if ready else 503))


class HealthCheckMiddleware:
    """Answers GET/HEAD /healthz and /readyz before the rest of the stack (see the module doc)."""

    ENDPOINTS: dict[str, Callable[[HttpRequest], HttpResponse]] = {HEALTH_PATH: healthz, READY_PATH: readyz}

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        endpoint = self.ENDPOINTS.get(request.path_info.rstrip("/") or "/")
        if endpoint is None:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            response = JsonResponse({"detail": "Only GET and HEAD."}, status=405)
            response["Allow"] = "GET, HEAD"
            return response
        return endpoint(request)
