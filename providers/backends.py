"""The EHR's authentication backend: Django's ModelBackend behind the one password limiter.

Every `authenticate(username=..., password=...)` call in the EHR lands here, whichever page
or API made it (sign-in, /admin/login/, the password re-check, change password, API calls
that take a password), so a locked account or client address is refused on every path and
every failure is counted and audited with the path it came from (ASVS-09, ASVS-12).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from ehr.throttle import PASSWORD_LIMITER
from providers.models import User
from providers.passwords import (
    PasswordPurpose,
    account_key,
    client_address,
    record_failed,
    record_refused,
)


class PasswordLocked(PermissionDenied):
    """The limiter refused before the password was looked at; no other backend is tried."""


class LimitedModelBackend(ModelBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        purpose: PasswordPurpose = PasswordPurpose.SIGN_IN,
        **kwargs: Any,
    ) -> User | None:
        if username is None:
            username = kwargs.get(User.USERNAME_FIELD)
        if username is None or password is None:
            return None
        account = account_key(username)
        client = client_address(request)
        refusal = PASSWORD_LIMITER.refusal(account, client)
        if refusal is not None:
            record_refused(request, username, purpose, refusal)
            raise PasswordLocked(refusal.value)
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            PASSWORD_LIMITER.failure(account, client)
            record_failed(request, username, purpose)
            return None
        PASSWORD_LIMITER.success(account)
        return user
