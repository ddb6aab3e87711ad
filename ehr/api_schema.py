"""The OpenAPI schema documents every response an operation can give (docs/api.md, "Errors").

drf-spectacular documents the 2xx bodies from the serializers; `ProblemAutoSchema` adds, on
every operation, each error status the API's shared machinery can answer (authentication,
permissions, a missing object, content negotiation, bodies, rate limits, a server error),
all with the `Problem` schema as `application/problem+json`, and `Retry-After` on 429. An
error a view declares itself (e.g. 409 `not_linked`) keeps its description and gets the
same schema. A serializer that refuses unknown fields (`ehr.api.RejectUnknownFieldsMixin`)
is a request body with `additionalProperties: false`.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

from common.problems import PROBLEM_CONTENT_TYPE
from ehr.api import RejectUnknownFieldsMixin


class FieldErrorSerializer(serializers.Serializer):
    attr = serializers.CharField(help_text="The field, dotted for nested ones; `non_field_errors` for the whole body")
    code = serializers.CharField(help_text="Why, as a stable code (`required`, `invalid`, `unknown_field`, ...)")
    detail = serializers.CharField(help_text="Why, in words")


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details; more members may follow (e.g. a challenge's `attempts_left`)."""

    type = serializers.CharField(help_text='"about:blank": the status says what kind of problem it is')
    title = serializers.CharField(help_text="The HTTP status phrase")
    status = serializers.IntegerField(help_text="The HTTP status code")
    detail = serializers.CharField(help_text="What went wrong, for a person")
    code = serializers.CharField(help_text="What went wrong, as a stable machine code (docs/api.md)")
    # A declared field named like Serializer.errors: DRF's metaclass takes it out of the class.
    errors = FieldErrorSerializer(  # type: ignore[assignment]
        many=True, required=False, help_text="Field errors (400 `invalid` only)"
    )


# Status -> what it means on any operation; 413 and 415 only where a body is read.
COMMON_ERRORS: dict[str, str] = {
    "400": "parse_error (bad JSON) or invalid (field errors in `errors`, unknown fields included)",
    "401": "not_authenticated / authentication_failed: no valid credentials",
    "403": "permission_denied (or a refusal code): the caller may not do this",
    "404": "not_found: no such object among those you may see",
    "406": "not_acceptable: the Accept header asks for something other than JSON",
    "429": "throttled (or too_many_attempts / locked): over a rate limit; retry after `Retry-After` seconds",
    "500": "server_error: the server failed; nothing was changed",
}
BODY_ERRORS: dict[str, str] = {
    "413": "request_too_large: the body is over the size limit",
    "415": "unsupported_media_type: the body is not application/json",
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    }
}


class ProblemAutoSchema(AutoSchema):
    def _problem_ref(self) -> dict[str, Any]:
        component = self.resolve_serializer(ProblemSerializer, "response")
        return component.ref

    def _problem_response(self, code: str, description: str) -> dict[str, Any]:
        response: dict[str, Any] = {
            "description": description,
            "content": {PROBLEM_CONTENT_TYPE: {"schema": self._problem_ref()}},
        }
        if code == "429":
            response["headers"] = dict(RETRY_AFTER)
        return response

    def _get_response_bodies(self, direction: Any = "response") -> Any:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        for code, response in list(responses.items()):
            if code[0] in "45":
                responses[code] = self._problem_response(code, response.get("description") or "")
        expected = dict(COMMON_ERRORS)
        if self.method in ("POST", "PUT", "PATCH"):
            expected.update(BODY_ERRORS)
        for code, description in expected.items():
            if code not in responses:
                responses[code] = self._problem_response(code, description)
            elif not responses[code]["description"]:
                responses[code]["description"] = description
        return dict(sorted(responses.items()))

    def _map_serializer(self, serializer: Any, direction: Any, bypass_extensions: bool = False) -> Any:
        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        if direction == "request" and isinstance(serializer, RejectUnknownFieldsMixin):
            schema["additionalProperties"] = False
        return schema
