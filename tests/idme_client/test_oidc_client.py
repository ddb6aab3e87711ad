"""idme_client.oidc against the sandbox over real HTTP: the flow and every ID token check."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from django.core.management import call_command
from joserfc import jwt

from idme_client import IdmeRejected, IdmeTokenInvalid, IdmeUnavailable
from idme_client import oidc as idme_oidc
from idme_client.oidc import IdentityNotProofed, StateMismatch
from idme_client.types import AuthorizationRequest
from idme_sandbox.models import SigningKey
from idme_sandbox.oidc.clients import register_client
from tests.idme_fixtures import IdmeSandboxHandle, clear_idme_client_caches

pytestmark = pytest.mark.django_db(transaction=True)
NONCE = "n-0S6_WzA2Mj"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def alice(idme_sandbox_live: IdmeSandboxHandle) -> Any:
    account = idme_sandbox_live.create_account("alice@example.test", fname="Alice", lname="Smith", linked=False)
    idme_sandbox_live.add_totp_device(account, "My iPhone")
    return account


def good_claims(sandbox: IdmeSandboxHandle, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": sandbox.base_url,
        "aud": "ehr-demo-client",
        "iat": now,
        "exp": now + 300,
        "auth_time": now,
        "nonce": NONCE,
        "sub": "abc123",
        "uuid": "abc123",
        "fname": "Alice",
        "lname": "Smith",
        "email": "alice@example.test",
        "credential_ial": 2,
        "credential_aal": 2,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def signed(claims: dict[str, Any], key: SigningKey | None = None) -> str:
    key = key or SigningKey.current()
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key.private_jwk(), ["RS256"])


# --- the flow ----------------------------------------------------------------------------
@pytest.mark.req("ASVS-01")
@pytest.mark.req("ASVS-07")
def test_authorization_request_uses_discovery_pkce_s256_and_fresh_random_values(
    idme_sandbox_live: IdmeSandboxHandle,
) -> None:
    first = idme_oidc.build_authorization_request(idme_sandbox_live.callback_url)
    second = idme_oidc.build_authorization_request(idme_sandbox_live.callback_url)
    parsed = urlparse(first.url)
    assert f"{parsed.scheme}://{parsed.netloc}{parsed.path}" == idme_sandbox_live.base_url + "/oauth/authorize"
    query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
    assert query["response_type"] == "code" and query["client_id"] == "ehr-demo-client"
    assert query["redirect_uri"] == idme_sandbox_live.callback_url
    assert query["scope"] == "openid http://idmanagement.gov/ns/assurance/ial/2/aal/2"
    assert query["state"] == first.state and query["nonce"] == first.nonce
    assert query["code_challenge_method"] == "S256"
    assert query["code_challenge"] == b64(hashlib.sha256(first.code_verifier.encode()).digest())
    assert min(len(first.state), len(first.nonce), len(first.code_verifier)) >= 43
    assert {first.state, first.nonce, first.code_verifier}.isdisjoint(
        {second.state, second.nonce, second.code_verifier}
    )


@pytest.mark.req("ASVS-07")
def test_complete_authorization_returns_verified_claims(idme_sandbox_live: IdmeSandboxHandle, alice: Any) -> None:
    pending = idme_oidc.build_authorization_request(idme_sandbox_live.callback_url)
    query = parse_qs(urlparse(idme_sandbox_live.answer_consent(alice, pending.url)).query)
    claims = idme_oidc.complete_authorization(
        redirect_uri=idme_sandbox_live.callback_url,
        code=query["code"][0],
        returned_state=query["state"][0],
        pending=pending,
    )
    assert (claims.uuid, claims.fname, claims.lname, claims.email) == (alice.uuid, "Alice", "Smith", alice.email)
    assert (claims.ial, claims.aal) == (2, 2)
    # The code is single use: redeeming it again is refused by ID.me.
    with pytest.raises(IdmeRejected) as refused:
        idme_oidc.complete_authorization(
            redirect_uri=idme_sandbox_live.callback_url,
            code=query["code"][0],
            returned_state=query["state"][0],
            pending=pending,
        )
    assert refused.value.code == "invalid_grant"


def test_a_secret_with_reserved_characters_authenticates(
    idme_sandbox_live: IdmeSandboxHandle, alice: Any, settings: Any
) -> None:
    settings.IDME_CLIENT_SECRET = "p%a+s:s w/ord&=é"
    register_client(
        client_id=settings.IDME_CLIENT_ID,
        secret=settings.IDME_CLIENT_SECRET,
        name="EHR Demo Practice",
        redirect_uris=[idme_sandbox_live.callback_url],
    )
    pending = idme_oidc.build_authorization_request(idme_sandbox_live.callback_url)
    query = parse_qs(urlparse(idme_sandbox_live.answer_consent(alice, pending.url)).query)
    claims = idme_oidc.complete_authorization(
        redirect_uri=idme_sandbox_live.callback_url,
        code=query["code"][0],
        returned_state=pending.state,
        pending=pending,
    )
    assert claims.uuid == alice.uuid


@pytest.mark.req("ASVS-07")
def test_wrong_state_is_refused_before_the_code_is_redeemed(idme_sandbox_live: IdmeSandboxHandle, alice: Any) -> None:
    pending = idme_oidc.build_authorization_request(idme_sandbox_live.callback_url)
    query = parse_qs(urlparse(idme_sandbox_live.answer_consent(alice, pending.url)).query)
    with pytest.raises(StateMismatch):
        idme_oidc.complete_authorization(
            redirect_uri=idme_sandbox_live.callback_url, code=query["code"][0], returned_state="forged", pending=pending
        )
    # The code was not spent: the real callback still succeeds.
    claims = idme_oidc.complete_authorization(
        redirect_uri=idme_sandbox_live.callback_url,
        code=query["code"][0],
        returned_state=pending.state,
        pending=pending,
    )
    assert claims.uuid == alice.uuid


@pytest.mark.req("ASVS-07")
def test_wrong_pkce_verifier_is_refused_by_idme(idme_sandbox_live: IdmeSandboxHandle, alice: Any) -> None:
    pending = idme_oidc.build_authorization_request(idme_sandbox_live.callback_url)
    query = parse_qs(urlparse(idme_sandbox_live.answer_consent(alice, pending.url)).query)
    tampered = AuthorizationRequest(
        url=pending.url, state=pending.state, nonce=pending.nonce, code_verifier=pending.code_verifier[::-1]
    )
    with pytest.raises(IdmeRejected) as refused:
        idme_oidc.complete_authorization(
            redirect_uri=idme_sandbox_live.callback_url,
            code=query["code"][0],
            returned_state=pending.state,
            pending=tampered,
        )
    assert refused.value.code == "invalid_grant"


@pytest.mark.req("DEA-02")
def test_ial1_identity_raises_identity_not_proofed(idme_sandbox_live: IdmeSandboxHandle) -> None:
    bob = idme_sandbox_live.create_account("bob@example.test", fname="Bob", lname="One", ial=1, linked=False)
    pending = idme_oidc.build_authorization_request(idme_sandbox_live.callback_url)
    query = parse_qs(urlparse(idme_sandbox_live.answer_consent(bob, pending.url)).query)
    with pytest.raises(IdentityNotProofed, match="only at IAL1"):
        idme_oidc.complete_authorization(
            redirect_uri=idme_sandbox_live.callback_url,
            code=query["code"][0],
            returned_state=pending.state,
            pending=pending,
        )


def test_unreachable_idme_raises_idme_unavailable(settings: Any) -> None:
    settings.IDME_BASE_URL = "http://127.0.0.1:9/idme-sandbox"
    settings.IDME_TIMEOUT_SECONDS = 2
    clear_idme_client_caches()
    with pytest.raises(IdmeUnavailable):
        idme_oidc.build_authorization_request("http://127.0.0.1:8000/account/idme/callback/")


# --- ID token checks ---------------------------------------------------------------------
def test_a_good_token_validates(idme_sandbox_live: IdmeSandboxHandle) -> None:
    claims = idme_oidc.validate_id_token(signed(good_claims(idme_sandbox_live)), nonce=NONCE)
    assert claims.uuid == "abc123" and claims.ial == 2
    assert claims.birth_date is None  # no birth_date claim


@pytest.mark.req("DEA-20")
def test_the_birth_date_claim_is_read_as_a_date(idme_sandbox_live: IdmeSandboxHandle) -> None:
    token = signed(good_claims(idme_sandbox_live, birth_date="1979-03-14"))
    assert idme_oidc.validate_id_token(token, nonce=NONCE).birth_date == dt.date(1979, 3, 14)


@pytest.mark.req("ASVS-07")
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"iss": "https://evil.example/idme-sandbox"}, "(iss)"),
        ({"aud": "another-client"}, "(aud)"),
        ({"aud": ["another-client", "third"]}, "(aud)"),
        ({"exp": int(time.time()) - 120}, "(exp)"),
        ({"iat": int(time.time()) + 600}, "(iat)"),
        ({"nonce": "a-different-nonce"}, "(nonce)"),
        ({"nonce": None}, "(nonce)"),
        ({"credential_ial": 1}, "IAL1"),
        ({"credential_ial": None}, "IAL1"),
        ({"birth_date": "14/03/1979"}, "birth_date"),
        ({"birth_date": 19790314}, "birth_date"),
    ],
)
def test_bad_claims_are_refused(idme_sandbox_live: IdmeSandboxHandle, overrides: dict[str, Any], message: str) -> None:
    token = signed(good_claims(idme_sandbox_live, **overrides))
    with pytest.raises(IdmeTokenInvalid) as refused:
        idme_oidc.validate_id_token(token, nonce=NONCE)
    assert message in str(refused.value)


@pytest.mark.req("ASVS-07")
def test_tampered_payload_fails_the_signature(idme_sandbox_live: IdmeSandboxHandle) -> None:
    header, payload, signature = signed(good_claims(idme_sandbox_live, credential_ial=1)).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["credential_ial"] = 2
    forged = ".".join([header, b64(json.dumps(claims).encode()), signature])
    with pytest.raises(IdmeTokenInvalid, match="signature"):
        idme_oidc.validate_id_token(forged, nonce=NONCE)


@pytest.mark.req("ASVS-07")
def test_alg_none_and_hs256_with_the_public_key_are_refused(idme_sandbox_live: IdmeSandboxHandle) -> None:
    claims = b64(json.dumps(good_claims(idme_sandbox_live)).encode())
    unsigned = f"{b64(json.dumps({'alg': 'none'}).encode())}.{claims}."
    with pytest.raises(IdmeTokenInvalid, match="only RS256"):
        idme_oidc.validate_id_token(unsigned, nonce=NONCE)
    key = SigningKey.current()
    public_pem = json.dumps(key.public_jwk()).encode()
    header = b64(json.dumps({"alg": "HS256", "kid": key.kid}).encode())
    mac = hmac.new(public_pem, f"{header}.{claims}".encode(), hashlib.sha256).digest()
    with pytest.raises(IdmeTokenInvalid, match="only RS256"):
        idme_oidc.validate_id_token(f"{header}.{claims}.{b64(mac)}", nonce=NONCE)


@pytest.mark.req("ASVS-07")
def test_malformed_token_is_refused(idme_sandbox_live: IdmeSandboxHandle) -> None:
    for junk in ("", "abc", "a.b.c", "....."):
        with pytest.raises(IdmeTokenInvalid):
            idme_oidc.validate_id_token(junk, nonce=NONCE)


def test_key_rotation_refetches_the_jwks_once_for_a_new_kid(idme_sandbox_live: IdmeSandboxHandle) -> None:
    idme_oidc.validate_id_token(signed(good_claims(idme_sandbox_live)), nonce=NONCE)  # caches the old JWKS
    call_command("idme_rotate_keys")
    new_key = SigningKey.current()
    claims = idme_oidc.validate_id_token(signed(good_claims(idme_sandbox_live), new_key), nonce=NONCE)
    assert claims.uuid == "abc123"
    # A kid nobody publishes is still refused after the refetch.
    stranger = SigningKey.generate()
    SigningKey.objects.filter(pk=stranger.pk).update(published=False)
    with pytest.raises(IdmeTokenInvalid, match="does not publish"):
        idme_oidc.validate_id_token(signed(good_claims(idme_sandbox_live), stranger), nonce=NONCE)


def test_an_unpublished_key_stops_verifying_once_the_cached_keys_age_out(
    idme_sandbox_live: IdmeSandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_key = SigningKey.current()
    idme_oidc.validate_id_token(signed(good_claims(idme_sandbox_live), old_key), nonce=NONCE)  # cached
    call_command("idme_rotate_keys", "--unpublish-inactive")
    # Within the cache lifetime the old key still verifies; after it, the refetched JWKS lacks it.
    idme_oidc.validate_id_token(signed(good_claims(idme_sandbox_live), old_key), nonce=NONCE)
    monkeypatch.setattr(idme_oidc, "JWKS_TTL_SECONDS", 0)
    with pytest.raises(IdmeTokenInvalid, match="does not publish"):
        idme_oidc.validate_id_token(signed(good_claims(idme_sandbox_live), old_key), nonce=NONCE)
