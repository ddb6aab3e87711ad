"""Identity proofing with ID.me: the OpenID Connect code flow with PKCE, as a relying party.

`build_authorization_request` makes the redirect (state, nonce and PKCE verifier from the
CSPRNG); `complete_authorization` checks the returned state, redeems the code and validates
the ID token: RS256 signature against the published JWKS (a new `kid` refetches the keys once,
for key rotation), iss, aud, exp, iat, nonce and the identity assurance level (IAL2).
Discovery and keys are cached per base URL. Works unchanged against real ID.me.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from django.conf import settings
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from idme_client.errors import IdmeError, IdmeRejected, IdmeTokenInvalid, IdmeUnavailable
from idme_client.http import base_url, request_json
from idme_client.types import AuthorizationRequest, IdentityClaims

DISCOVERY_PATH = "/oidc/.well-known/openid-configuration"
DISCOVERY_TTL_SECONDS = 3600
# Keys are refetched at least this often (so an unpublished key stops verifying) and at once
# when a token names a kid the cached set does not have (rotation).
JWKS_TTL_SECONDS = 3600
CLOCK_LEEWAY_SECONDS = 60
ALLOWED_ALGORITHMS = ("RS256",)
REQUIRED_IAL = 2


class IdentityNotProofed(IdmeTokenInvalid):
    """The ID token is valid but the identity is not verified at IAL2."""


class StateMismatch(IdmeTokenInvalid):
    """The callback's state is not the one this browser session sent (forged or crossed)."""


@dataclass
class _Provider:
    discovery: dict[str, Any]
    fetched_at: float
    keys: KeySet | None = None
    keys_fetched_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


_providers: dict[str, _Provider] = {}
_providers_lock = threading.Lock()


def clear_caches() -> None:
    """Forget every cached discovery document and key set (tests; after reconfiguration)."""
    with _providers_lock:
        _providers.clear()


def _provider() -> _Provider:
    root = base_url()
    with _providers_lock:
        cached = _providers.get(root)
        if cached is not None and time.monotonic() - cached.fetched_at < DISCOVERY_TTL_SECONDS:
            return cached
    document = request_json("GET", root + DISCOVERY_PATH)
    if not isinstance(document, dict) or not all(
        isinstance(document.get(name), str)
        for name in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
    ):
        raise IdmeUnavailable("ID.me's discovery document is incomplete.")
    provider = _Provider(discovery=document, fetched_at=time.monotonic())
    with _providers_lock:
        _providers[root] = provider
    return provider


def _fetch_keys(provider: _Provider) -> KeySet:
    document = request_json("GET", provider.discovery["jwks_uri"])
    try:
        keys = KeySet([]) if document.get("keys") == [] else KeySet.import_key_set(document)
    except (JoseError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise IdmeUnavailable("ID.me's key set (JWKS) could not be read.") from exc
    provider.keys = keys
    provider.keys_fetched_at = time.monotonic()
    return keys


def _key_for(provider: _Provider, kid: str | None) -> Any:
    """The published key with this `kid`; an unknown kid refetches the JWKS once (rotation)."""
    with provider.lock:
        cached = provider.keys
        if cached is not None and time.monotonic() - provider.keys_fetched_at < JWKS_TTL_SECONDS:
            key = _find_key(cached, kid)
            if key is None:  # a new kid: the keys were rotated since we fetched them
                key = _find_key(_fetch_keys(provider), kid)
        else:
            key = _find_key(_fetch_keys(provider), kid)
    if key is None:
        raise IdmeTokenInvalid("The ID token was signed with a key ID.me does not publish.")
    return key


def _find_key(keys: KeySet, kid: str | None) -> Any:
    candidates = [key for key in keys.keys if key.key_type == "RSA" and (kid is None or key.kid == kid)]
    if kid is None:  # a token without kid is accepted only when one key is published
        return candidates[0] if len(candidates) == 1 else None
    return candidates[0] if candidates else None


# --- the flow ------------------------------------------------------------------------
def build_authorization_request(redirect_uri: str) -> AuthorizationRequest:
    """The URL to send the browser to, with the state, nonce and verifier to keep for the callback."""
    provider = _provider()
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    code_verifier = secrets.token_urlsafe(64)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": settings.IDME_CLIENT_ID,
            "redirect_uri": redirect_uri,
            "scope": settings.IDME_SCOPE,
            "state": state,
            "nonce": nonce,
            "code_challenge": create_s256_code_challenge(code_verifier),
            "code_challenge_method": "S256",
        }
    )
    endpoint = provider.discovery["authorization_endpoint"]
    separator = "&" if "?" in endpoint else "?"
    return AuthorizationRequest(
        url=f"{endpoint}{separator}{query}", state=state, nonce=nonce, code_verifier=code_verifier
    )


def complete_authorization(
    *, redirect_uri: str, code: str, returned_state: str, pending: AuthorizationRequest
) -> IdentityClaims:
    """Check the state, redeem the code (with the PKCE verifier) and validate the ID token."""
    if not returned_state or not secrets.compare_digest(returned_state.encode(), pending.state.encode()):
        raise StateMismatch("The state returned by ID.me does not match the request this session started.")
    provider = _provider()
    body = request_json(
        "POST",
        provider.discovery["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": pending.code_verifier,
        },
        # client_secret_basic: both parts form-urlencoded first (RFC 6749 section 2.3.1).
        auth=(quote(str(settings.IDME_CLIENT_ID), safe=""), quote(str(settings.IDME_CLIENT_SECRET), safe="")),
        headers={"Accept": "application/json"},
    )
    id_token = body.get("id_token") if isinstance(body, dict) else None
    if not isinstance(id_token, str) or not id_token:
        raise IdmeTokenInvalid("ID.me returned no ID token.")
    return validate_id_token(id_token, nonce=pending.nonce)


def validate_id_token(id_token: str, *, nonce: str) -> IdentityClaims:
    """Every check of OIDC Core 3.1.3.7 that applies, plus ID.me's assurance claim."""
    provider = _provider()
    try:
        header = jws.extract_compact(id_token.encode()).protected
    except (JoseError, ValueError, TypeError) as exc:
        raise IdmeTokenInvalid("The ID token is malformed.") from exc
    algorithm = header.get("alg")
    if algorithm not in ALLOWED_ALGORITHMS:
        raise IdmeTokenInvalid(f"The ID token uses the algorithm {algorithm!r}; only RS256 is accepted.")
    key = _key_for(provider, header.get("kid"))
    try:
        token = jwt.decode(id_token, key, algorithms=list(ALLOWED_ALGORITHMS))
    except (JoseError, ValueError, TypeError) as exc:
        raise IdmeTokenInvalid("The ID token's signature is not valid.") from exc
    claims = dict(token.claims)
    _check_claims(claims, issuer=provider.discovery["issuer"], nonce=nonce)
    return _identity(claims)


def _check_claims(claims: dict[str, Any], *, issuer: str, nonce: str) -> None:
    now = time.time()
    if claims.get("iss") != issuer:
        raise IdmeTokenInvalid("The ID token was issued by someone other than ID.me (iss).")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if settings.IDME_CLIENT_ID not in audiences:
        raise IdmeTokenInvalid("The ID token was issued for another application (aud).")
    expires = claims.get("exp")
    if not isinstance(expires, int | float) or expires < now - CLOCK_LEEWAY_SECONDS:
        raise IdmeTokenInvalid("The ID token has expired (exp).")
    issued = claims.get("iat")
    if not isinstance(issued, int | float) or issued > now + CLOCK_LEEWAY_SECONDS:
        raise IdmeTokenInvalid("The ID token's issue time is missing or in the future (iat).")
    token_nonce = claims.get("nonce")
    if not isinstance(token_nonce, str) or not secrets.compare_digest(token_nonce.encode(), nonce.encode()):
        raise IdmeTokenInvalid("The ID token's nonce does not match this sign-in (nonce).")
    if not (claims.get("uuid") or claims.get("sub")):
        raise IdmeTokenInvalid("The ID token names no ID.me user (sub).")
    try:
        ial = int(claims.get("credential_ial") or 0)
    except (TypeError, ValueError):
        ial = 0
    if ial < REQUIRED_IAL:
        raise IdentityNotProofed(
            "ID.me has verified this identity only at IAL1; EPCS needs an identity verified at IAL2."
        )
    if "birth_date" in claims and claims["birth_date"] not in (None, "") and _birth_date(claims) is None:
        raise IdmeTokenInvalid("The ID token's birth_date is not a date (YYYY-MM-DD).")


def _birth_date(claims: dict[str, Any]) -> dt.date | None:
    value = claims.get("birth_date")
    if not isinstance(value, str) or not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _identity(claims: dict[str, Any]) -> IdentityClaims:
    def text(name: str) -> str:
        value = claims.get(name)
        return value if isinstance(value, str) else ""

    try:
        aal = int(claims.get("credential_aal") or 1)
    except (TypeError, ValueError):
        aal = 1
    return IdentityClaims(
        uuid=text("uuid") or text("sub"),
        fname=text("fname"),
        lname=text("lname"),
        email=text("email"),
        ial=int(claims["credential_ial"]),
        aal=aal,
        issued_at=dt.datetime.fromtimestamp(float(claims["iat"]), tz=dt.UTC),
        birth_date=_birth_date(claims),
    )


__all__ = [
    "IdentityNotProofed",
    "IdmeError",
    "IdmeRejected",
    "IdmeTokenInvalid",
    "IdmeUnavailable",
    "StateMismatch",
    "build_authorization_request",
    "clear_caches",
    "complete_authorization",
    "validate_id_token",
]
