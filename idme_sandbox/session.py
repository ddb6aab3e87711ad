"""The sandbox's own sign-in sessions: signed cookies with their own names, ended on the server.

The sandbox must not share the EHR's session (DESIGN.md), so a browser can be signed in to
both on one host. An account's cookie (`idme_session`) holds the session id, the account id,
when the password was entered and when multi-factor sign-in completed; an operator's cookie
(`idme_operator_session`) the session id and the operator id. Both are signed
(django.core.signing) and HttpOnly. Each sign-in is a `SignInSession` row (a digest of its
id): sign-out ends it there, so a copied cookie is signed out as well (ASVS-08).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from idme_sandbox.models import Account, Operator, SignInSession

logger = logging.getLogger("idme_sandbox.session")

COOKIE_NAME = "idme_session"
OPERATOR_COOKIE_NAME = "idme_operator_session"
_SALT = "idme_sandbox.session"
_OPERATOR_SALT = "idme_sandbox.operator_session"
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


# --- the server-side record ----------------------------------------------------------
def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _start(*, account: Account | None = None, operator: Operator | None = None) -> str:
    """A new session on the server; returns its id (only the cookie holds it)."""
    now = timezone.now()
    # Sessions past their lifetime are of no use to anyone: drop them as new ones start.
    SignInSession.objects.filter(created_at__lt=now - dt.timedelta(seconds=MAX_AGE_SECONDS)).delete()
    session_id = secrets.token_urlsafe(32)
    SignInSession.objects.create(id_digest=_digest(session_id), account=account, operator=operator, created_at=now)
    return session_id


def _live(session_id: object) -> SignInSession | None:
    if not isinstance(session_id, str) or not session_id:
        return None
    oldest = timezone.now() - dt.timedelta(seconds=MAX_AGE_SECONDS)
    return (
        SignInSession.objects.select_related("account", "operator")
        .filter(id_digest=_digest(session_id), ended_at__isnull=True, created_at__gte=oldest)
        .first()
    )


def _end(session_id: object) -> None:
    if isinstance(session_id, str) and session_id:
        digest = _digest(session_id)
        ended = SignInSession.objects.filter(id_digest=digest, ended_at__isnull=True).update(ended_at=timezone.now())
        if ended:
            logger.info("session ended session=%s", digest[:12])


def _cookie_data(request: HttpRequest, name: str, salt: str) -> dict[str, Any] | None:
    raw = request.COOKIES.get(name)
    if not raw:
        return None
    try:
        data = signing.loads(raw, salt=salt, max_age=MAX_AGE_SECONDS)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    return data if isinstance(data, dict) else None


def _set_cookie(response: HttpResponse, name: str, value: str) -> None:
    response.set_cookie(
        name, value, max_age=MAX_AGE_SECONDS, httponly=True, samesite="Lax", secure=not settings.DEBUG, path="/"
    )


# --- ID.me accounts ------------------------------------------------------------------
def read_session(request: HttpRequest) -> SandboxSession | None:
    data = _cookie_data(request, COOKIE_NAME, _SALT)
    if data is None:
        return None
    record = _live(data.get("s"))
    if record is None or record.account is None or record.account_id != data.get("a"):
        return None
    try:
        password_at = float(data["p"])
        mfa_at = None if data.get("m") is None else float(data["m"])
    except (KeyError, TypeError, ValueError):
        return None
    return SandboxSession(account=record.account, password_at=password_at, mfa_at=mfa_at)


def current_account(request: HttpRequest) -> Account | None:
    """The account that completed sign-in, password and second factor, or None."""
    session = read_session(request)
    return session.account if session and session.fully_signed_in else None


def write_session(
    response: HttpResponse,
    account: Account,
    password_at: float,
    mfa_at: float | None,
    *,
    replacing: HttpRequest | None = None,
) -> None:
    """Start a new session (ending the one `replacing` carried, if any) and set its cookie."""
    if replacing is not None:
        previous = _cookie_data(replacing, COOKIE_NAME, _SALT)
        if previous is not None:
            _end(previous.get("s"))
    session_id = _start(account=account)
    value = signing.dumps({"s": session_id, "a": account.pk, "p": password_at, "m": mfa_at}, salt=_SALT)
    _set_cookie(response, COOKIE_NAME, value)


def end_session(request: HttpRequest, response: HttpResponse) -> None:
    """Sign out: the session ends on the server and the cookie is removed."""
    data = _cookie_data(request, COOKIE_NAME, _SALT)
    if data is not None:
        _end(data.get("s"))
    response.delete_cookie(COOKIE_NAME, path="/")


# --- sandbox operators ---------------------------------------------------------------
def read_operator(request: HttpRequest) -> Operator | None:
    data = _cookie_data(request, OPERATOR_COOKIE_NAME, _OPERATOR_SALT)
    if data is None:
        return None
    record = _live(data.get("s"))
    if record is None or record.operator is None or record.operator_id != data.get("o"):
        return None
    return record.operator


def write_operator_session(response: HttpResponse, operator: Operator, *, replacing: HttpRequest | None = None) -> None:
    if replacing is not None:
        previous = _cookie_data(replacing, OPERATOR_COOKIE_NAME, _OPERATOR_SALT)
        if previous is not None:
            _end(previous.get("s"))
    session_id = _start(operator=operator)
    _set_cookie(response, OPERATOR_COOKIE_NAME, signing.dumps({"s": session_id, "o": operator.pk}, salt=_OPERATOR_SALT))


def end_operator_session(request: HttpRequest, response: HttpResponse) -> None:
    data = _cookie_data(request, OPERATOR_COOKIE_NAME, _OPERATOR_SALT)
    if data is not None:
        _end(data.get("s"))
    response.delete_cookie(OPERATOR_COOKIE_NAME, path="/")
