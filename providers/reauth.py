"""Recent-authentication checks (ASVS-05): the one place that knows when a person last
proved their password in this session."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

AUTHENTICATED_AT_KEY = "authenticated_at"


def mark_authenticated(request: HttpRequest) -> None:
    request.session[AUTHENTICATED_AT_KEY] = time.time()


def recently_authenticated(request: HttpRequest) -> bool:
    authenticated_at = request.session.get(AUTHENTICATED_AT_KEY)
    if authenticated_at is None:
        return False
    return time.time() - float(authenticated_at) <= settings.REAUTHENTICATION_WINDOW_SECONDS


def reauthentication_url(next_url: str) -> str:
    return f"{reverse('reauthenticate')}?{urlencode({'next': next_url})}"


PENDING_POST_KEY = "reauth_pending_post"


def reauthentication_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Ask for the password first when the sign-in is not recent, then continue.

    A POST that arrives too late is kept in the session; after the password prompt the
    person sees one "Continue" button that sends it again (with a fresh CSRF token).
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if recently_authenticated(request):
            return view(request, *args, **kwargs)
        if request.method == "POST":
            data = {k: v for k, v in request.POST.items() if k != "csrfmiddlewaretoken"}
            request.session[PENDING_POST_KEY] = {"path": request.path, "data": data}
            return HttpResponseRedirect(reauthentication_url(request.path))
        return HttpResponseRedirect(reauthentication_url(request.get_full_path()))

    return wrapper


def pop_pending_post(request: HttpRequest, path: str) -> dict[str, str] | None:
    pending = request.session.pop(PENDING_POST_KEY, None)
    if pending and pending.get("path") == path:
        return dict(pending["data"])
    return None
