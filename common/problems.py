"""RFC 9457 problem details: the one error body of the EHR's REST API (docs/api.md, "Errors").

Neutral (imports no app): `common.middleware` answers an over-limit body under the API with
it, and `ehr.api` builds every DRF and Django error of the API from it.

A problem is a JSON object served as `application/problem+json`:

    {"type": "about:blank", "title": "Bad Request", "status": 400,
     "detail": "One or more fields are invalid.", "code": "invalid",
     "errors": [{"attr": "quantity", "code": "min_value", "detail": "..."}]}

`type` is "about:blank" (RFC 9457 section 4.2.1): the HTTP status says what kind of problem
it is, `title` is the status's phrase, and the stable machine code is the `code` extension
member. `errors` (field errors) is present only when the request's fields were refused.
Other extension members (e.g. an approval challenge's `attempts_left`) may follow.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse

PROBLEM_CONTENT_TYPE = "application/problem+json"
ABOUT_BLANK = "about:blank"


def title_for(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_body(
    status: int,
    code: str,
    detail: str,
    *,
    errors: list[dict[str, str]] | None = None,
    **extensions: Any,
) -> dict[str, Any]:
    """The problem object for `status`; `errors` only when given (field errors)."""
    body: dict[str, Any] = {
        "type": ABOUT_BLANK,
        "title": title_for(status),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    for name, value in extensions.items():
        body.setdefault(name, value)
    return body


def problem_response(status: int, code: str, detail: str, **members: Any) -> JsonResponse:
    """A plain Django response carrying a problem (for errors raised outside DRF)."""
    return JsonResponse(problem_body(status, code, detail, **members), status=status, content_type=PROBLEM_CONTENT_TYPE)


def wants_problem(request: HttpRequest) -> bool:
    """Whether `request` is under one of the paths whose errors are problems (`PROBLEM_DETAILS_PATHS`).

    The EHR lists its REST API ("/api/"); a deployment that lists nothing (the ID.me
    sandbox alone) never answers with a problem.
    """
    prefixes: tuple[str, ...] = tuple(getattr(settings, "PROBLEM_DETAILS_PATHS", ()))
    return bool(prefixes) and request.path.startswith(prefixes)
