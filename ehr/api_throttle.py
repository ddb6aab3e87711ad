"""The REST API's rate limits (ASVS-02; docs/api.md, "Limits"): DRF throttles.

Counted in the default cache (Redis in production). The rates are `settings.API_RATE_LIMITS`
(scope -> "N/second|minute|hour|day"), read on every request so a deployment (or a test)
sets them in one place. Over a rate: 429 `throttled` with Retry-After. Every API view has
the default throttles (settings.REST_FRAMEWORK); a view that starts or answers a two-factor
step adds `SensitiveRateThrottle` (`SENSITIVE_API_THROTTLES`).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView


class _ApiRateThrottle(SimpleRateThrottle):
    def get_rate(self) -> str | None:
        rates: dict[str, str] = settings.API_RATE_LIMITS
        return rates.get(self.scope or "")

    def client(self, request: Request) -> str:
        """The client address (DRF's `get_ident`); a request that names none counts as one client."""
        return str(self.get_ident(request) or "unknown")

    def key_for(self, subject: str) -> str:
        digest = hashlib.sha256(subject.encode()).hexdigest()[:32]
        return self.cache_format % {"scope": self.scope, "ident": digest}


class ApiAnonRateThrottle(_ApiRateThrottle):
    """Calls without credentials, per client address."""

    scope = "anon"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        if request.user and request.user.is_authenticated:
            return None
        return self.key_for(self.client(request))


class ApiUserRateThrottle(_ApiRateThrottle):
    """Every authenticated call of one user, whatever session or token it comes with."""

    scope = "user"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        if not (request.user and request.user.is_authenticated):
            return None
        return self.key_for(f"user:{request.user.pk}")


class ApiTokenRateThrottle(_ApiRateThrottle):
    """Every call made with one token (a session's calls count only for the user)."""

    scope = "token"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        token = request.auth
        if token is None:
            return None
        ident = getattr(token, "pk", None) or getattr(token, "key", None) or str(token)
        return self.key_for(f"{type(token).__name__}:{ident}")


class SensitiveRateThrottle(_ApiRateThrottle):
    """The stricter limit, per user, on the calls that start or answer a two-factor step
    (EPCS approvals and rejections and their codes; signing when the API offers it)."""

    scope = "sensitive"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        if not (request.user and request.user.is_authenticated):
            return self.key_for(f"anon:{self.client(request)}")
        return self.key_for(f"user:{request.user.pk}")


# The default throttles of every API view (settings.REST_FRAMEWORK); a sensitive view adds one.
DEFAULT_API_THROTTLES = (ApiAnonRateThrottle, ApiUserRateThrottle, ApiTokenRateThrottle)
SENSITIVE_API_THROTTLES = (*DEFAULT_API_THROTTLES, SensitiveRateThrottle)
