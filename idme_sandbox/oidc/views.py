"""OIDC endpoints at ID.me's paths: discovery, JWKS, authorize (+ consent), token, userinfo."""

from __future__ import annotations

import logging
import time
from urllib.parse import urlencode

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from idme_sandbox.models import Account, Consent, SigningKey
from idme_sandbox.oidc import claims
from idme_sandbox.oidc.resource import authenticate_bearer, unauthorized_response
from idme_sandbox.oidc.server import AuthorizationCodeGrant, authorization_server
from idme_sandbox.session import read_session

logger = logging.getLogger(__name__)


def json_error(status: int, error: str, description: str) -> JsonResponse:
    return JsonResponse({"error": error, "error_description": description}, status=status)


def _method_not_allowed(allowed: str) -> JsonResponse:
    response = json_error(405, "invalid_request", f"Use {allowed}.")
    response["Allow"] = allowed
    return response


def discovery(request: HttpRequest) -> HttpResponse:
    if request.method != "GET":
        return _method_not_allowed("GET")
    issuer = claims.issuer(request)
    return JsonResponse(
        {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/oauth/authorize",
            "token_endpoint": f"{issuer}/oauth/token",
            "userinfo_endpoint": f"{issuer}/api/public/v3/userinfo",
            "jwks_uri": f"{issuer}/oidc/.well-known/jwks",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": claims.SCOPES_SUPPORTED,
            "claims_supported": [
                "sub",
                "uuid",
                "fname",
                "lname",
                "birth_date",
                "email",
                "credential_ial",
                "credential_aal",
                "nonce",
                "auth_time",
                "iss",
                "aud",
                "iat",
                "exp",
            ],
        }
    )


def jwks(request: HttpRequest) -> HttpResponse:
    if request.method != "GET":
        return _method_not_allowed("GET")
    SigningKey.current()  # the first key is made on first use
    keys = [key.public_jwk() for key in SigningKey.objects.filter(published=True).order_by("-created_at", "-id")]
    return JsonResponse({"keys": keys})


def _sign_in_url(next_url: str) -> str | None:
    try:
        return f"{reverse('idme_sandbox:sign_in')}?{urlencode({'next': next_url})}"
    except NoReverseMatch:
        return None


def _authorize_error(request: HttpRequest, error: OAuth2Error) -> HttpResponse:
    """Redirect the error to the client only when its redirect_uri was validated; else JSON."""
    if error.redirect_uri:
        return authorization_server.handle_error_response(request, error)
    status, body, _headers = error()
    description = body.get("error_description") or "The authorization request is invalid."
    return json_error(400 if status == 302 else status, body.get("error", "invalid_request"), description)


@never_cache
def authorize(request: HttpRequest) -> HttpResponse:
    """GET: validate, then sign-in or the consent screen. POST: Allow / Deny (CSRF-protected)."""
    if request.method not in ("GET", "POST"):
        return _method_not_allowed("GET, POST")
    session = read_session(request)
    account = session.account if session and session.fully_signed_in else None
    try:
        grant = authorization_server.get_consent_grant(request, end_user=account)
    except OAuth2Error as error:
        return _authorize_error(request, error)
    if account is None or session is None:
        next_url = request.get_full_path()
        sign_in = _sign_in_url(next_url)
        if sign_in is None:
            return json_error(401, "login_required", "Sign in to the ID.me sandbox first.")
        return HttpResponseRedirect(sign_in)
    client = grant.client
    if request.method == "GET":
        scope = grant.request.scope or ""
        return render(
            request,
            "idme_sandbox/oidc/consent.html",
            {"client": client, "account": account, "scopes": claims.describe_scopes(scope)},
        )
    decision = request.POST.get("decision")
    if decision not in ("allow", "deny"):
        return json_error(400, "invalid_request", "Choose Allow or Deny.")
    if not isinstance(grant, AuthorizationCodeGrant):  # pragma: no cover - one grant registered
        return json_error(400, "unsupported_response_type", "Only the code flow is supported.")
    if decision == "deny":
        return authorization_server.create_authorization_response(request, grant_user=None, grant=grant)
    grant.auth_time = int(session.mfa_at or session.password_at or time.time())
    with transaction.atomic():
        _record_consent(account, grant)
        return authorization_server.create_authorization_response(request, grant_user=account, grant=grant)


def _record_consent(account: Account, grant: AuthorizationCodeGrant) -> None:
    """Completing consent links the account to the client (what the partner API checks)."""
    scope = grant.request.scope or ""
    consent, created = Consent.objects.get_or_create(account=account, client=grant.client, defaults={"scope": scope})
    if not created:
        consent.scope = scope
        consent.save(update_fields=["scope"])


@csrf_exempt
@never_cache
def token(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _method_not_allowed("POST")
    try:
        with transaction.atomic():
            response = authorization_server.create_token_response(request)
    except Exception:  # never a 500 for a token request: log it and answer in JSON
        logger.exception("token endpoint failed")
        return json_error(400, "invalid_request", "The token request could not be processed.")
    # Every decision is logged (ASVS-09); never the code, tokens or secrets.
    logger.info(
        "token grant=%s client=%s status=%s",
        str(request.POST.get("grant_type", ""))[:40],
        str(request.POST.get("client_id", "") or _basic_client_id(request))[:100],
        response.status_code,
    )
    return response


def _basic_client_id(request: HttpRequest) -> str:
    client_id, _secret = extract_basic_authorization(request.headers)
    return str(client_id or "")


@never_cache
def userinfo(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "POST"):
        return _method_not_allowed("GET, POST")
    token = authenticate_bearer(request, "openid")
    if token is None or token.account is None:
        return unauthorized_response("openid")
    return JsonResponse(claims.user_claims(token.account))
