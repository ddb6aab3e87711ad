"""Small web helpers of the sandbox pages: safe `next`, notices, return-to link, sign-in guards."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from idme_sandbox.accounts import services
from idme_sandbox.models import Account, Client
from idme_sandbox.session import RECENT_SIGN_IN_SECONDS, SandboxSession, read_session

NOTICE_COOKIE = "idme_notice"
RETURN_COOKIE = "idme_return"
_RETURN_SALT = "idme_sandbox.return_to"
_NOTICE_SALT = "idme_sandbox.notice"

View = Callable[..., HttpResponse]


def sandbox_root() -> str:
    return reverse("idme_sandbox:account_home")


def safe_next(request: HttpRequest, candidate: str | None, default: str | None = None) -> str:
    """`candidate` when it is a path inside the sandbox on this host; otherwise the default."""
    fallback = default or reverse("idme_sandbox:account", kwargs={"tab": "overview"})
    if not candidate:
        return fallback
    parts = urlsplit(candidate)
    if parts.scheme or parts.netloc or "\\" in candidate or not candidate.startswith("/"):
        return fallback
    if not url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()}):
        return fallback
    if not parts.path.startswith(sandbox_root()):
        return fallback
    return candidate


def with_next(url: str, next_url: str | None) -> str:
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


def _cookie_kwargs() -> dict[str, Any]:
    return {"httponly": True, "samesite": "Lax", "secure": not settings.DEBUG, "path": "/"}


# --- one-time notices (our own cookie: the sandbox shares nothing with the EHR) --------
def set_notice(response: HttpResponse, text: str, level: str = "success") -> HttpResponse:
    response.set_cookie(NOTICE_COOKIE, signing.dumps([level, text], salt=_NOTICE_SALT), max_age=120, **_cookie_kwargs())
    return response


def pop_notice(request: HttpRequest, response: HttpResponse) -> None:
    if NOTICE_COOKIE in request.COOKIES:
        response.delete_cookie(NOTICE_COOKIE, path="/")


def read_notice(request: HttpRequest) -> tuple[str, str] | None:
    raw = request.COOKIES.get(NOTICE_COOKIE)
    if not raw:
        return None
    try:
        level, text = signing.loads(raw, salt=_NOTICE_SALT, max_age=120)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    return str(level), str(text)


def redirect_with_notice(url: str, text: str, level: str = "success") -> HttpResponse:
    return set_notice(HttpResponseRedirect(url), text, level)


# --- "Return to <client>" ------------------------------------------------------------
def remember_return_to(request: HttpRequest, response: HttpResponse) -> None:
    """Keep a validated (client_id, return_to) from the query string in a signed cookie."""
    link = services.client_return_link(request.GET.get("client_id"), request.GET.get("return_to"))
    if link is None:
        return
    client, return_to = link
    value = signing.dumps({"c": client.client_id, "r": return_to}, salt=_RETURN_SALT)
    response.set_cookie(RETURN_COOKIE, value, max_age=60 * 60, **_cookie_kwargs())


def return_link(request: HttpRequest) -> tuple[Client, str] | None:
    """The "Return to <client>" link for this request (query string first, then the cookie)."""
    link = services.client_return_link(request.GET.get("client_id"), request.GET.get("return_to"))
    if link is not None:
        return link
    raw = request.COOKIES.get(RETURN_COOKIE)
    if not raw:
        return None
    try:
        data = signing.loads(raw, salt=_RETURN_SALT, max_age=60 * 60)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(data, dict):
        return None
    # Checked again: the client's registered addresses may have changed since.
    return services.client_return_link(data.get("c"), data.get("r"))


# --- guards --------------------------------------------------------------------------
def sign_in_redirect(request: HttpRequest, reauth: bool = False) -> HttpResponse:
    query = {"next": request.get_full_path()}
    if reauth:
        query["reauth"] = "1"
    return HttpResponseRedirect(f"{reverse('idme_sandbox:sign_in')}?{urlencode(query)}")


def signed_in(view: View) -> View:
    """Password and second factor done; the view gets `account` and `sandbox_session`."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        session = read_session(request)
        if session is None or not session.fully_signed_in:
            return sign_in_redirect(request)
        return view(request, *args, account=session.account, sandbox_session=session, **kwargs)

    return wrapper


def recent_sign_in(view: View) -> View:
    """ASVS-05: changes to sign-in methods need a full sign-in within the last 15 minutes."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        session = read_session(request)
        if session is None or not session.fully_signed_in:
            return sign_in_redirect(request)
        if not session.signed_in_within(RECENT_SIGN_IN_SECONDS):
            if request.method == "POST":
                # Come back to the page (GET) after signing in again; the POST is not replayed.
                return HttpResponseRedirect(
                    f"{reverse('idme_sandbox:sign_in')}?{urlencode({'next': request.path, 'reauth': '1'})}"
                )
            return sign_in_redirect(request, reauth=True)
        return view(request, *args, account=session.account, sandbox_session=session, **kwargs)

    return wrapper


def page_context(
    request: HttpRequest, account: Account | None, session: SandboxSession | None = None
) -> dict[str, Any]:
    link = return_link(request)
    context: dict[str, Any] = {
        "account": account,
        "notice": read_notice(request),
        "return_client": link[0] if link else None,
        "return_to": link[1] if link else None,
    }
    if session is not None and session.mfa_at is not None:
        context["recent_until"] = session.mfa_at + RECENT_SIGN_IN_SECONDS
        context["is_recent"] = time.time() - session.mfa_at <= RECENT_SIGN_IN_SECONDS
    return context
