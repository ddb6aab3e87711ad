"""Shared REST API pieces (docs/api.md): every error is an RFC 9457 problem with a stable code.

- `SafeJSONParser`: bad JSON of any shape, however deeply nested, is a 400 problem.
- `exception_handler` (DRF) and the Django-level handlers `bad_request`, `permission_denied`,
  `page_not_found`, `server_error` and `csrf_failure`: under /api/ every 4xx and 5xx is
  `application/problem+json` (`common.problems`); elsewhere Django's own pages.
- `ApiProblem`: a view refuses with a code, a status and extension members.
- `RejectUnknownFieldsMixin`: a serializer that accepts input refuses fields it does not know.
- `StrictCursorPagination`: a `page_size` that is not a whole number from 1 to the maximum is a
  400, as the schema says (DRF would silently use the default).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import IO, Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.views import csrf, defaults
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings

from common import jsonbody
from common.problems import PROBLEM_CONTENT_TYPE, problem_body, problem_response, wants_problem

UNKNOWN_FIELD = "unknown_field"
INVALID = "invalid"


class SafeJSONParser(JSONParser):
    """DRF's JSON parser, but a body nested too deeply is a 400 `parse_error`, not a 500 (ASVS-10).

    The body's size is already bounded by `common.middleware.RequestBodyLimitMiddleware`.
    """

    def parse(self, stream: IO[Any], media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = (parser_context or {}).get("encoding") or "utf-8"
        raw = stream.read() if stream is not None else b""
        try:
            return jsonbody.loads(raw.decode(encoding))
        except (jsonbody.InvalidJSON, UnicodeDecodeError, LookupError) as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None


class ProblemJSONRenderer(JSONRenderer):
    """Renders error bodies whatever the client's Accept header asked for."""

    media_type = PROBLEM_CONTENT_TYPE


class ApiProblem(exceptions.APIException):
    """A refusal with its own status and code, and extension members for the problem body."""

    def __init__(self, status_code: int, code: str, detail: str, *, wait: int | None = None, **members: Any) -> None:
        super().__init__(detail=detail, code=code)
        self.status_code = status_code
        self.problem_code = code
        self.members = members
        if wait is not None:
            self.wait = wait  # DRF's handler turns it into Retry-After


class RejectUnknownFieldsMixin(serializers.Serializer):
    """Refuse a body that carries a field this serializer does not accept (400 `unknown_field`).

    Read-only fields count as unknown on input: a client that sends `state` expecting it to
    change learns at once that it does not. The schema says the same (`additionalProperties:
    false` on the request body, `ehr.api_schema`).
    """

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            writable = {field.field_name for field in self._writable_fields}
            unknown = sorted(str(name) for name in data if name not in writable)
            if unknown:
                raise exceptions.ValidationError(
                    {
                        name: [exceptions.ErrorDetail(f"Unknown field '{name}': not accepted here.", UNKNOWN_FIELD)]
                        for name in unknown
                    }
                )
        return super().to_internal_value(data)


class StrictCursorPagination(CursorPagination):
    """Cursor pagination whose `page_size` is checked: a whole number from 1 to `max_page_size`
    (documented as such), otherwise 400 `invalid` with the field named."""

    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request: Any) -> int | None:
        raw = request.query_params.get(self.page_size_query_param) if self.page_size_query_param else None
        if raw is None:
            return self.page_size
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise exceptions.ValidationError(
                {self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]}
            )
        return int(raw)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter.get("name") == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size}
        return parameters


def _field_errors(detail: Any, prefix: str = "") -> Iterator[dict[str, str]]:
    """DRF's nested error detail flattened to [{attr, code, detail}], attr dotted ("items.0.name")."""
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            yield from _field_errors(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(detail, list):
        if all(not isinstance(item, Mapping | list) for item in detail):
            for item in detail:
                yield {
                    "attr": prefix or api_settings.NON_FIELD_ERRORS_KEY,
                    "code": str(getattr(item, "code", None) or INVALID),
                    "detail": str(item),
                }
        else:
            for index, item in enumerate(detail):
                yield from _field_errors(item, f"{prefix}.{index}" if prefix else str(index))
    else:
        yield {
            "attr": prefix or api_settings.NON_FIELD_ERRORS_KEY,
            "code": str(getattr(detail, "code", None) or INVALID),
            "detail": str(detail),
        }


def _code_of(exc: Exception) -> str:
    if isinstance(exc, ApiProblem):
        return exc.problem_code
    if isinstance(exc, Http404 | exceptions.NotFound):
        return "not_found"
    if isinstance(exc, DjangoPermissionDenied):
        return "permission_denied"
    if isinstance(exc, exceptions.APIException):
        code = getattr(exc.detail, "code", None)
        return str(code or exc.default_code)
    return "error"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, then the body as a problem (`common.problems`), rendered as problem+json."""
    # Imported here: rest_framework.views reads the settings that name this module.
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a server error: Django's handler500 (`server_error`) answers
    if isinstance(exc, exceptions.ValidationError):
        body = problem_body(
            response.status_code,
            INVALID,
            "One or more fields are invalid.",
            errors=list(_field_errors(exc.detail)),
        )
    else:
        data = response.data
        detail = str(data.get("detail", "")) if isinstance(data, dict) else str(data)
        members = exc.members if isinstance(exc, ApiProblem) else {}
        body = problem_body(response.status_code, _code_of(exc), detail, **members)
    response.data = body
    request = context.get("request")
    if request is not None:  # errors are problem+json whatever the Accept header asked for
        request.accepted_renderer = ProblemJSONRenderer()
        request.accepted_media_type = PROBLEM_CONTENT_TYPE
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


# --- Django-level errors (settings: CSRF_FAILURE_VIEW; ehr/urls.py: handler400 ... handler500) ---


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if wants_problem(request):
        return problem_response(status.HTTP_400_BAD_REQUEST, "bad_request", "The request could not be understood.")
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if wants_problem(request):
        return problem_response(status.HTTP_403_FORBIDDEN, "permission_denied", "You may not do this.")
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if wants_problem(request):
        return problem_response(status.HTTP_404_NOT_FOUND, "not_found", "There is no such API endpoint.")
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if wants_problem(request):
        return problem_response(
            status.HTTP_500_INTERNAL_SERVER_ERROR,
            "server_error",
            "The server failed to answer this request; nothing was changed. Try again later.",
        )
    return defaults.server_error(request)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if wants_problem(request):
        return problem_response(
            status.HTTP_403_FORBIDDEN,
            "csrf_failed",
            "CSRF verification failed: a session-authenticated call must send the CSRF token.",
        )
    return csrf.csrf_failure(request, reason=reason)
