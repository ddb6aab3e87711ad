"""The authorization server: authlib's grants wired to the sandbox's models.

Grants: authorization_code (+ PKCE S256, + OpenID Connect ID tokens), refresh_token
(rotation: the old refresh token stops working) and client_credentials (scope `epcs`, the
EPCS partner API). Client authentication: client_secret_basic and client_secret_post
(public clients: none, with PKCE required).
"""

from __future__ import annotations

import time
from typing import Any

from authlib.common.encoding import json_dumps
from authlib.oauth2 import AuthorizationServer as BaseAuthorizationServer
from authlib.oauth2 import OAuth2Request
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError, InvalidScopeError
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import grants as oidc_grants
from authlib.oidc.core.util import create_half_hash
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from joserfc import jwt

from idme_sandbox.models import Account, AuthorizationCode, Client, SigningKey, Token
from idme_sandbox.oidc import claims, tokens
from idme_sandbox.oidc.requests import SandboxOAuth2Request

DEFAULT_ERROR_DESCRIPTIONS = {
    "invalid_client": "Client authentication failed.",
    "invalid_grant": "The grant is invalid, expired, revoked or was issued to another client.",
    "invalid_request": "The request is missing a parameter or is malformed.",
    "invalid_scope": "The requested scope is invalid or not allowed for this client.",
    "unauthorized_client": "This client may not use this grant type.",
    "unsupported_grant_type": "The grant type is not supported.",
    "unsupported_response_type": "The response type is not supported.",
    "access_denied": "The person denied the request.",
}


class SandboxAuthorizationServer(BaseAuthorizationServer):
    def __init__(self) -> None:
        super().__init__(scopes_supported=claims.SCOPES_SUPPORTED)
        self.register_token_generator("default", generate_bearer_token)

    def query_client(self, client_id: str) -> Client | None:
        return Client.objects.filter(client_id=client_id).first()

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> Token:
        user = request.user if isinstance(request.user, Account) else None
        return tokens.store_token(
            client=request.client,
            account=user,
            scope=token.get("scope") or "",
            access_token=token["access_token"],
            refresh_token=token.get("refresh_token"),
        )

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        return SandboxOAuth2Request(request)

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError("The sandbox has no JSON endpoints in authlib")

    def handle_response(self, status_code: int, payload: Any, headers: list[tuple[str, str]]) -> HttpResponse:
        if isinstance(payload, dict):
            if status_code >= 400 and "error" in payload:
                payload.setdefault(
                    "error_description", DEFAULT_ERROR_DESCRIPTIONS.get(payload["error"], "The request failed.")
                )
            payload = json_dumps(payload)
        response = HttpResponse(payload, status=status_code)
        for key, value in headers:
            response[key] = value
        return response

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None


def generate_bearer_token(
    grant_type: str,
    client: Client,
    user: Account | None = None,
    scope: str | None = None,
    expires_in: int | None = None,
    include_refresh_token: bool = True,
) -> dict[str, Any]:
    token: dict[str, Any] = {
        "token_type": "Bearer",
        "access_token": tokens.new_secret_value(),
        "expires_in": tokens.ACCESS_TOKEN_SECONDS,
        "scope": scope or "",
    }
    if include_refresh_token and user is not None:
        token["refresh_token"] = tokens.new_secret_value()
        token["refresh_token_expires_in"] = tokens.REFRESH_TOKEN_SECONDS
    return token


# --- authorization code + PKCE --------------------------------------------------
class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    # Set by the authorize view from the sandbox sign-in session before the code is made.
    auth_time: int | None = None

    def generate_authorization_code(self) -> str:
        return tokens.new_secret_value()

    def save_authorization_code(self, code: str, request: OAuth2Request) -> AuthorizationCode:
        data = request.payload.data
        return AuthorizationCode.objects.create(
            code=AuthorizationCode.digest(code),
            client=request.client,
            account=request.user,
            redirect_uri=request.payload.redirect_uri or "",
            scope=request.scope or "",
            nonce=data.get("nonce") or "",
            code_challenge=data.get("code_challenge") or "",
            code_challenge_method=data.get("code_challenge_method") or "",
            auth_time=self.auth_time or int(time.time()),
        )

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        item = (
            AuthorizationCode.objects.select_for_update()
            .select_related("account", "client")
            .filter(code=AuthorizationCode.digest(code), client=client)
            .first()
        )
        if item is None:
            return None
        if item.used_at is not None:
            tokens.revoke_tokens_from_code(item)
            raise InvalidGrantError(
                "The authorization code was already used; the tokens issued from it have been revoked."
            )
        if item.is_expired():
            raise InvalidGrantError("The authorization code has expired (codes live 5 minutes).")
        return item

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        # Kept, marked used: a second use is recognised and revokes what the first one got.
        authorization_code.used_at = timezone.now()
        authorization_code.save(update_fields=["used_at"])

    def authenticate_user(self, authorization_code: AuthorizationCode) -> Account:
        return authorization_code.account


class S256CodeChallenge(CodeChallenge):
    """PKCE with S256 only; required for public clients, honoured for confidential ones."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        challenge = data.get("code_challenge")
        method = data.get("code_challenge_method")
        if grant.request.client.is_public and not challenge:
            raise InvalidRequestError("PKCE is required for public clients: send code_challenge with S256.")
        if challenge and method != "S256":
            raise InvalidRequestError("Unsupported 'code_challenge_method': only S256 is accepted.")
        super().validate_code_challenge(grant, redirect_uri)


class OpenIDCode(oidc_grants.OpenIDCode):
    """RS256 ID tokens with the key's `kid` and ID.me's claims."""

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return AuthorizationCode.objects.filter(client__client_id=request.payload.client_id, nonce=nonce).exists()

    def generate_user_info(self, user: Account, scope: str) -> dict[str, Any]:
        return claims.user_claims(user)

    def encode_id_token(self, token: dict[str, Any], request: OAuth2Request) -> str:
        key = SigningKey.current()
        code: AuthorizationCode = request.authorization_code
        django_request: HttpRequest = request.django_request
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": claims.issuer(django_request),
            "aud": request.client.client_id,
            "iat": now,
            "exp": now + claims.ID_TOKEN_SECONDS,
            "auth_time": code.auth_time,
        }
        if code.nonce:
            payload["nonce"] = code.nonce
        at_hash = create_half_hash(token["access_token"], "RS256")
        if at_hash is not None:
            payload["at_hash"] = at_hash.decode()
        payload.update(self.generate_user_info(request.user, token["scope"]))
        return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT"}, payload, key.private_jwk(), ["RS256"])


# --- refresh tokens (rotated) ------------------------------------------------------
class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        token = tokens.find_refresh_token_for_update(refresh_token)
        if token is None or token.is_revoked() or token.is_expired():
            return None
        return token

    def authenticate_user(self, refresh_token: Token) -> Account | None:
        return refresh_token.account

    def revoke_old_credential(self, refresh_token: Token) -> None:
        tokens.revoke(refresh_token)


# --- client credentials (the EPCS partner API) ---------------------------------------
class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def validate_token_request(self) -> None:
        super().validate_token_request()
        requested = set((self.request.payload.scope or claims.PARTNER_SCOPE).split())
        if requested != {claims.PARTNER_SCOPE}:
            raise InvalidScopeError("The client credentials grant gives the scope 'epcs' only.")

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        token = self.generate_token(scope=claims.PARTNER_SCOPE, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


def build_server() -> SandboxAuthorizationServer:
    server = SandboxAuthorizationServer()
    server.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True), OpenIDCode(require_nonce=False)])
    server.register_grant(RefreshTokenGrant)
    server.register_grant(ClientCredentialsGrant)
    return server


authorization_server = build_server()
