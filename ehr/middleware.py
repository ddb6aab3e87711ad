"""The EHR's session lifetime (NIST-07). The headers and body limit are `common.middleware`."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

LAST_SEEN_KEY = "last_seen_at"
SIGNED_IN_AT_KEY = "signed_in_at"
LAST_SEEN_RESOLUTION_SECONDS = 60


class SessionTimeoutMiddleware:
    """Ends a signed-in session 12 hours after sign-in and after 30 minutes idle (NIST-07).

    Both limits are kept here rather than in the cookie's expiry, because Django moves a
    session's expiry forward every time the session is saved. The last-seen time is written
    at most once a minute, so an ordinary page view does not rewrite the session.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = time.time()
            session = request.session
            started = session.setdefault(SIGNED_IN_AT_KEY, now)
            last_seen = session.get(LAST_SEEN_KEY)
            idle_for = now - float(last_seen) if last_seen is not None else 0.0
            if now - float(started) > settings.SESSION_COOKIE_AGE or idle_for > settings.SESSION_IDLE_TIMEOUT_SECONDS:
                logout(request)
            elif last_seen is None or idle_for >= LAST_SEEN_RESOLUTION_SECONDS:
                session[LAST_SEEN_KEY] = now
        return self.get_response(request)
