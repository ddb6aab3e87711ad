"""Every EHR sign-in decision goes to the audit trail (ASVS-09)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

import audit
from audit.models import Outcome
from providers.reauth import mark_authenticated


@receiver(user_logged_in)
def on_login(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    mark_authenticated(request)
    audit.record("auth.login", actor=user, request=request)


@receiver(user_logged_out)
def on_logout(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit.record("auth.logout", actor=user, request=request)


@receiver(user_login_failed)
def on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    audit.record(
        "auth.login_failed",
        outcome=Outcome.FAILURE,
        request=request,
        details={"username": str(credentials.get("username", ""))[:150]},
    )
