"""HTTP middleware both systems install: body size limit, security and cache headers.

Neutral (imports no app): the EHR's settings and the ID.me sandbox's own settings
(`idme_sandbox.settings`) list the same three, so the sandbox keeps them when it runs alone.
Reads `DATA_UPLOAD_MAX_MEMORY_SIZE`. The EHR's session lifetime is `ehr.middleware`.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import patch_cache_control

from common.problems import problem_response, wants_problem

# Only our own assets: no CDN, no inline scripts.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self' http: https:",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "object-src 'none'",
    ]
)


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        return response


def wants_json(request: HttpRequest) -> bool:
    """API paths, JSON bodies and clients that do not ask for HTML get JSON errors."""
    if "/api/" in request.path or "json" in (request.content_type or ""):
        return True
    return "text/html" not in request.headers.get("Accept", "")


def too_large_response(request: HttpRequest) -> HttpResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    text = f"The request body is larger than {limit} bytes."
    if wants_problem(request):  # the EHR's REST API: RFC 9457 problem details
        return problem_response(413, "request_too_large", text)
    if wants_json(request):
        # `detail` for JSON pages of the EHR, `error_description` the ID.me sandbox's field.
        body = {"error": "request_too_large", "detail": text, "error_description": text}
        return JsonResponse(body, status=413)
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Request too large</title></head>'
        f"<body><h1>Request too large</h1><p>{text} Go back and send less.</p></body></html>"
    )
    return HttpResponse(page, status=413, content_type="text/html; charset=utf-8")


class RequestBodyLimitMiddleware:
    """A body over DATA_UPLOAD_MAX_MEMORY_SIZE is refused with 413 before anything reads it (ASVS-10).

    Django alone checks the size only when `request.body` or `request.POST` is read, and turns
    the error into a 400 page; DRF's parsers read the stream directly and do not check at all.
    The app accepts no file uploads, so the limit applies to every body. A body that arrives
    without a Content-Length and proves too large when read is answered the same way.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if limit is not None and declared > limit:
            return too_large_response(request)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, RequestDataTooBig):
            return too_large_response(request)
        return None


class NoStoreMiddleware:
    """`Cache-Control: no-store` on every response Django renders (ASVS-08).

    Pages and API responses show patient data; rather than a list of the views that do, every
    dynamic response says no-store, so a new page cannot forget it. Static assets are served
    by WhiteNoise before this middleware and stay cacheable.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        patch_cache_control(response, no_store=True)
        return response
