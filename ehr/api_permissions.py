"""The scopes a token-authenticated API call needs (ehr.api_scopes; docs/api.md "Authentication").

Its own module: DRF imports DEFAULT_PERMISSION_CLASSES while rest_framework.views loads, so
this must not import rest_framework.views (ehr.api does).
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from ehr import api_scopes


class TokenScopes(BasePermission):
    """A call made with a token (personal access token or OAuth access token) needs the
    view's scopes; a browser-session call (no token) needs none.

    A view declares `api_resource` ("mfa", "prescriptions", ...): read on safe methods, write
    otherwise; `api_extra_scopes` maps an action name (viewsets) or an HTTP method to further
    scopes, e.g. {"post": ("epcs:sign",)}. A view that declares no resource refuses every
    token (fail closed). The token answers `allow_scopes(scopes)` (DOT's AccessToken and
    api_access's PersonalAccessToken both do).
    """

    message = "This token does not carry the scope this call needs."

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        if token is None:
            return True
        needed = required_scopes(request, view)
        allow = getattr(token, "allow_scopes", None)
        if not needed or not callable(allow):
            return False
        if allow(needed):
            return True
        self.message = f"This token does not carry the scope this call needs: {' '.join(needed)}."
        return False


def required_scopes(request: Request, view: Any) -> list[str]:
    """The scopes a token needs for this call (empty: the view declared none, so no token may call it)."""
    return scopes_for(view, request.method or "")


def scopes_for(view: Any, method: str) -> list[str]:
    """The scopes a token needs to call `view` with `method` (also what the schema documents)."""
    resource = getattr(view, "api_resource", None)
    if not resource:
        return []
    kind = api_scopes.READ if method.upper() in SAFE_METHODS else api_scopes.WRITE
    needed = [api_scopes.scope_for(resource, kind)]
    extra: dict[str, tuple[str, ...]] = getattr(view, "api_extra_scopes", {}) or {}
    action = getattr(view, "action", None)
    for key in (action, method.lower()):
        if key and key in extra:
            needed += [scope for scope in extra[key] if scope not in needed]
    return needed
