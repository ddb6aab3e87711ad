"""Where api_access plugs into providers (which never imports it)."""

from __future__ import annotations

from typing import Any

from providers import security


def _end_credentials(sender: Any, user: Any, request: Any, reason: security.CredentialsEndReason, **_: Any) -> None:
    from api_access import services

    services.revoke_all_for_user(user, reason=services.RevokeReason(reason.value), request=request)


def connect() -> None:
    from api_access.views import render_section

    security.register_section(security.SecuritySection(name="api-tokens", render=render_section, order=100))
    security.api_credentials_must_end.connect(_end_credentials, dispatch_uid="api_access.end_credentials")
