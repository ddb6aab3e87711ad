"""Every EHR password check goes through one limiter (ASVS-02, ASVS-09, ASVS-12, NIST-02).

The choke point is the authentication backend (`providers.backends.LimitedModelBackend`):
sign-in, Django admin sign-in, the password re-check, the change-password form's old
password and the API calls that take a password all call `django.contrib.auth.authenticate`,
so they share `ehr.throttle.PASSWORD_LIMITER` and the audit trail. Docs: docs/architecture.md
("Passwords: one limiter").
"""

from __future__ import annotations

import unicodedata
from enum import StrEnum
from typing import Any

from django.contrib.auth import authenticate
from django.http import HttpRequest

import audit
from audit.models import Outcome
from ehr.throttle import PASSWORD_LIMITER, PasswordRefusal


class PasswordPurpose(StrEnum):
    """Which kind of password entry is being checked (it names the audit events)."""

    SIGN_IN = "sign_in"
    REAUTHENTICATE = "reauthenticate"
    CHANGE_PASSWORD = "change_password"


class PasswordCheck(StrEnum):
    ACCEPTED = "accepted"
    WRONG = "wrong"
    ACCOUNT_LOCKED = PasswordRefusal.ACCOUNT_LOCKED.value
    CLIENT_LOCKED = PasswordRefusal.CLIENT_LOCKED.value

    @property
    def locked(self) -> bool:
        return self in (PasswordCheck.ACCOUNT_LOCKED, PasswordCheck.CLIENT_LOCKED)


FAILURE_ACTIONS = {
    PasswordPurpose.SIGN_IN: "auth.login_failed",
    PasswordPurpose.REAUTHENTICATE: "auth.reauthentication_failed",
    PasswordPurpose.CHANGE_PASSWORD: "auth.password_change_failed",
}
LOCKED_ACTIONS = {
    PasswordPurpose.SIGN_IN: "auth.login_locked",
    PasswordPurpose.REAUTHENTICATE: "auth.reauthentication_locked",
    PasswordPurpose.CHANGE_PASSWORD: "auth.password_change_locked",
}
LOCKED_MESSAGES = {
    PasswordRefusal.ACCOUNT_LOCKED: "Too many failed sign-in attempts for this account. Wait 15 minutes and try again.",
    PasswordRefusal.CLIENT_LOCKED: (
        "Too many failed sign-in attempts from your network address. Wait 15 minutes and try again."
    ),
}
WRONG_PASSWORD_MESSAGE = "That password is not correct."


def account_key(username: Any) -> str:
    """The limiter's key for a typed username: the account sign-in would look up.

    The sign-in form strips surrounding whitespace and applies NFKC (Django's `UsernameField`,
    `AbstractBaseUser.normalize_username`), so ' dr.smith', 'dr.smith\\n' and
    '\uff44\uff52.smith' (full-width d, r) all sign in as dr.smith; the key applies the same steps, then casefolds so
    case variants share the counter too (usernames differing only in case share one: stricter,
    never looser). No database lookup: the key is the same whether or not the account exists.
    """
    text = unicodedata.normalize("NFKC", str(username).strip()).strip()
    return text.casefold()


def client_address(request: HttpRequest | None) -> str | None:
    """The client address as the audit trail records it (REMOTE_ADDR; docs/architecture.md)."""
    if request is None:
        return None
    return str(request.META.get("REMOTE_ADDR") or "") or None


def refusal_for(request: HttpRequest | None, username: Any) -> PasswordRefusal | None:
    """Whether the limiter refuses this username from this client now (reads only)."""
    return PASSWORD_LIMITER.refusal(account_key(username), client_address(request))


def _details(request: HttpRequest | None, username: Any, purpose: PasswordPurpose) -> dict[str, Any]:
    return {
        "username": str(username)[:150],
        "account": account_key(username)[:150],
        "purpose": purpose.value,
        "path": request.path if request is not None else "",
    }


def record_refused(
    request: HttpRequest | None, username: Any, purpose: PasswordPurpose, refusal: PasswordRefusal
) -> None:
    audit.record(
        LOCKED_ACTIONS[purpose],
        outcome=Outcome.DENIED,
        request=request,
        details={**_details(request, username, purpose), "limit": refusal.value},
    )


def record_failed(request: HttpRequest | None, username: Any, purpose: PasswordPurpose) -> None:
    details = _details(request, username, purpose)
    audit.record(FAILURE_ACTIONS[purpose], outcome=Outcome.FAILURE, request=request, details=details)


def verify_own_password(
    request: HttpRequest, user: Any, password: str, purpose: PasswordPurpose = PasswordPurpose.REAUTHENTICATE
) -> PasswordCheck:
    """Check the signed-in person's own password through the one limiter (the backend)."""
    username = user.get_username()
    refused = refusal_for(request, username)  # the backend refuses it again, and audits that
    found = authenticate(request, username=username, password=password, purpose=purpose)
    if found is not None and found.pk == user.pk:
        return PasswordCheck.ACCEPTED
    return PasswordCheck(refused.value) if refused else PasswordCheck.WRONG


def message_for(check: PasswordCheck) -> str:
    if check.locked:
        return LOCKED_MESSAGES[PasswordRefusal(check.value)]
    return WRONG_PASSWORD_MESSAGE
