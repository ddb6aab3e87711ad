"""Bearer-token authentication for the partner API (tokens come from the OIDC provider)."""

from __future__ import annotations

from django.http import HttpRequest

from idme_sandbox.models import Client
from idme_sandbox.oidc import tokens
from idme_sandbox.oidc.resource import authenticate_bearer, bearer_value
from idme_sandbox.partner.errors import PartnerError

PARTNER_SCOPE = "epcs"
_REALM = 'Bearer realm="ID.me"'


def partner_client_for(request: HttpRequest) -> Client:
    """The client whose valid `epcs` token came with the request, or a 401 / 403 PartnerError."""
    token = authenticate_bearer(request, PARTNER_SCOPE)
    if token is not None:
        if token.account_id is not None or token.client.is_public:
            # Partner calls act for the client itself: a token a person granted (or one held by
            # a public client) does not reach other people's devices, whatever its scope.
            raise PartnerError(
                403,
                "insufficient_scope",
                "The partner API needs a client-credentials token of a confidential client.",
                headers={"WWW-Authenticate": f'{_REALM}, error="insufficient_scope", scope="{PARTNER_SCOPE}"'},
            )
        return token.client
    raw = bearer_value(request)
    if not raw:
        raise PartnerError(
            401,
            "invalid_token",
            "An access token is required: Authorization: Bearer <token> (client credentials, scope epcs).",
            headers={"WWW-Authenticate": _REALM},
        )
    # A live token that authenticate_bearer refused lacks the scope; anything else is not valid.
    candidate = tokens.find_access_token(raw)
    if candidate is not None and candidate.access_is_valid():
        raise PartnerError(
            403,
            "insufficient_scope",
            "The access token does not carry the epcs scope.",
            headers={"WWW-Authenticate": f'{_REALM}, error="insufficient_scope", scope="{PARTNER_SCOPE}"'},
        )
    raise PartnerError(
        401,
        "invalid_token",
        "The access token is unknown, expired or revoked.",
        headers={"WWW-Authenticate": f'{_REALM}, error="invalid_token"'},
    )
