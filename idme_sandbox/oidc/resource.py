"""Bearer tokens on the sandbox's APIs (userinfo, the EPCS partner API)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from idme_sandbox.models import Token
from idme_sandbox.oidc import tokens


def bearer_value(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def authenticate_bearer(request: HttpRequest, required_scope: str) -> Token | None:
    """The live access token of the request if it carries `required_scope`, else None.

    Revoked, expired (300 s), unknown and under-scoped tokens all give None; the caller
    answers 401 (see `unauthorized_response`).
    """
    token = tokens.find_access_token(bearer_value(request))
    if token is None or not token.access_is_valid() or not token.has_scope(required_scope):
        return None
    return token


def unauthorized_response(required_scope: str) -> JsonResponse:
    response = JsonResponse(
        {
            "error": "invalid_token",
            "error_description": f"A valid, unexpired bearer access token with the scope '{required_scope}' is needed.",
        },
        status=401,
    )
    response["WWW-Authenticate"] = f'Bearer error="invalid_token", scope="{required_scope}"'
    return response
