"""Every EHR sign-in decision goes to the audit trail (ASVS-09).

Failed and refused password entries are recorded by the authentication backend
(`providers.backends`), which knows the path and the limiter's verdict.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver
from django.http import HttpRequest

import audit
from providers.reauth import mark_authenticated


@receiver(user_logged_in)
def on_login(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    mark_authenticated(request, user)
    audit.record("auth.login", actor=user, request=request, details={"path": request.path})


@receiver(user_logged_out)
def on_logout(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit.record("auth.logout", actor=user, request=request)
