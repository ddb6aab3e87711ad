"""Shared REST API pieces: every error is JSON with a stable code."""

from __future__ import annotations

from typing import IO, Any

from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from common import jsonbody


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


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, Http404 | exceptions.NotFound):
        code = "not_found"
    elif isinstance(exc, exceptions.APIException):
        code = exc.default_code
    else:
        code = "error"
    data = response.data
    if isinstance(data, dict) and "detail" in data and len(data) == 1:
        body: dict[str, Any] = {"error": code, "detail": str(data["detail"])}
    else:
        body = {"error": "invalid" if response.status_code == status.HTTP_400_BAD_REQUEST else code, "fields": data}
    response.data = body
    return response
