"""Recent-authentication checks (ASVS-05): the one place that knows when a person last
proved their password, and for whom.

The mark ("password entered at") belongs to the signed-in user of this session: it names
the user, is written only into a session signed in as that user, and is honoured only for
that user in that session. A password sent with a token-authenticated API call counts for
that one request only, never for a session or another token (ASVS-12).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

import audit
from providers.passwords import PasswordCheck, PasswordPurpose, verify_own_password

AUTHENTICATED_AT_KEY = "authenticated_at"
AUTHENTICATED_USER_KEY = "authenticated_user"
# Set on the HttpRequest (not the session) when this very request carried the right password.
_CONFIRMED_IN_REQUEST = "_password_confirmed_for"


def _http_request(request: Any) -> HttpRequest:
    """The Django request behind a DRF request (or the request itself)."""
    return getattr(request, "_request", request)


def _session_user_id(http: HttpRequest) -> str | None:
    value = http.session.get(SESSION_KEY) if hasattr(http, "session") else None
    return str(value) if value is not None else None


def mark_authenticated(request: Any, user: Any) -> None:
    """`user` just entered their password: remember it, for them only."""
    http = _http_request(request)
    setattr(http, _CONFIRMED_IN_REQUEST, user.pk)
    if _session_user_id(http) == str(user.pk):
        http.session[AUTHENTICATED_AT_KEY] = time.time()
        http.session[AUTHENTICATED_USER_KEY] = str(user.pk)


def authenticated_within(request: Any, seconds: float) -> bool:
    """The signed-in user entered their password in this session (or this request) within `seconds`."""
    http = _http_request(request)
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return False
    if getattr(http, _CONFIRMED_IN_REQUEST, None) == user.pk:
        return True
    session_user = _session_user_id(http)
    if session_user != str(user.pk) or http.session.get(AUTHENTICATED_USER_KEY) != session_user:
        return False
    authenticated_at = http.session.get(AUTHENTICATED_AT_KEY)
    if authenticated_at is None:
        return False
    return time.time() - float(authenticated_at) <= seconds


def recently_authenticated(request: Any) -> bool:
    return authenticated_within(request, settings.REAUTHENTICATION_WINDOW_SECONDS)


def confirm_password(request: Any, password: str) -> PasswordCheck:
    """The signed-in user re-enters their password (page prompt or API body).

    Goes through the one limiter (the authentication backend counts and audits failures).
    """
    http = _http_request(request)
    user = request.user
    check = verify_own_password(http, user, password, PasswordPurpose.REAUTHENTICATE)
    if check is PasswordCheck.ACCEPTED:
        mark_authenticated(request, user)
        audit.record("auth.reauthenticated", actor=user, request=http, details={"path": http.path})
    return check


def reauthentication_url(next_url: str) -> str:
    return f"{reverse('reauthenticate')}?{urlencode({'next': next_url})}"


PENDING_POST_KEY = "reauth_pending_post"


def ask_for_password(request: HttpRequest) -> HttpResponse:
    """Send the person to the password prompt; a POST is kept and offered again after it."""
    if request.method == "POST":
        data = {k: v for k, v in request.POST.items() if k != "csrfmiddlewaretoken"}
        request.session[PENDING_POST_KEY] = {"path": request.path, "data": data}
        return HttpResponseRedirect(reauthentication_url(request.path))
    return HttpResponseRedirect(reauthentication_url(request.get_full_path()))


def reauthentication_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Ask for the password first when the sign-in is not recent, then continue.

    A POST that arrives too late is kept in the session; after the password prompt the
    person sees one "Continue" button that sends it again (with a fresh CSRF token).
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if recently_authenticated(request):
            return view(request, *args, **kwargs)
        return ask_for_password(request)

    return wrapper


def pop_pending_post(request: HttpRequest, path: str) -> dict[str, str] | None:
    pending = request.session.pop(PENDING_POST_KEY, None)
    if pending and pending.get("path") == path:
        return dict(pending["data"])
    return None
