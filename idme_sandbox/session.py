"""The sandbox's own sign-in session: a signed cookie with its own name.

The sandbox must not share the EHR's session (DESIGN.md), so a browser can be signed in to
both on one host. The cookie holds the account id, when the password was entered, and
when multi-factor sign-in completed; it is signed (django.core.signing) and HttpOnly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse

from idme_sandbox.models import Account

COOKIE_NAME = "idme_session"
_SALT = "idme_sandbox.session"
MAX_AGE_SECONDS = 12 * 60 * 60
# Sign In & Security changes need a sign-in this recent.
RECENT_SIGN_IN_SECONDS = 15 * 60


@dataclass(frozen=True)
class SandboxSession:
    account: Account
    password_at: float
    mfa_at: float | None

    @property
    def fully_signed_in(self) -> bool:
        """Password and a second factor (accounts without any device skip the second)."""
        return self.mfa_at is not None

    def signed_in_within(self, seconds: int = RECENT_SIGN_IN_SECONDS) -> bool:
        return self.mfa_at is not None and time.time() - self.mfa_at <= seconds


def read_session(request: HttpRequest) -> SandboxSession | None:
    raw = request.COOKIES.get(COOKIE_NAME)
    if not raw:
        return None
    try:
        data = signing.loads(raw, salt=_SALT, max_age=MAX_AGE_SECONDS)
        account = Account.objects.get(pk=int(data["a"]))
    except (signing.BadSignature, KeyError, ValueError, TypeError, Account.DoesNotExist):
        return None
    return SandboxSession(account=account, password_at=float(data["p"]), mfa_at=data.get("m"))


def current_account(request: HttpRequest) -> Account | None:
    """The account that completed sign-in, password and second factor, or None."""
    session = read_session(request)
    return session.account if session and session.fully_signed_in else None


def write_session(response: HttpResponse, account: Account, password_at: float, mfa_at: float | None) -> None:
    value = signing.dumps({"a": account.pk, "p": password_at, "m": mfa_at}, salt=_SALT)
    response.set_cookie(
        COOKIE_NAME,
        value,
        max_age=MAX_AGE_SECONDS,
        httponly=True,
        samesite="Lax",
        secure=not settings.DEBUG,
        path="/",
    )


def end_session(response: HttpResponse) -> None:
    response.delete_cookie(COOKIE_NAME, path="/")
