"""The sandbox's OpenID Connect provider over real HTTP (live_server)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html as html_lib
import json
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import pyotp
import pytest
import requests
from django.core.management import call_command
from django.test import Client as BrowserClient
from django.utils import timezone
from joserfc import jwt
from joserfc.jwk import KeySet

from idme_sandbox.models import Account, AuthorizationCode, Consent, SigningKey, Token
from idme_sandbox.oidc.clients import register_client
from tests.idme_fixtures import IdmeSandboxHandle

pytestmark = pytest.mark.django_db(transaction=True)
IAL2_SCOPE = "openid http://idmanagement.gov/ns/assurance/ial/2/aal/2"


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class Flow:
    """A relying party driving the code flow by hand (requests), so every step can be bent."""

    def __init__(self, sandbox: IdmeSandboxHandle, client_id: str = "ehr-demo-client") -> None:
        self.sandbox = sandbox
        self.client_id = client_id
        self.http = requests.Session()
        self.state = secrets.token_urlsafe(16)
        self.nonce = secrets.token_urlsafe(16)
        self.verifier = secrets.token_urlsafe(48)

    def authorize_params(self, **overrides: str | None) -> dict[str, str]:
        params: dict[str, str | None] = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.sandbox.callback_url,
            "scope": IAL2_SCOPE,
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": s256(self.verifier),
            "code_challenge_method": "S256",
        }
        params.update(overrides)
        return {k: v for k, v in params.items() if v is not None}

    def sign_in(self, account: Any) -> None:
        for name, value in self.sandbox.session_cookie(account).items():
            self.http.cookies.set(name, value)

    def authorize(self, decision: str = "allow", **overrides: str | None) -> dict[str, list[str]]:
        """GET the consent screen, POST the decision, return the callback's query."""
        url = f"{self.sandbox.base_url}/oauth/authorize?{urlencode(self.authorize_params(**overrides))}"
        page = self.http.get(url, allow_redirects=False)
        assert page.status_code == 200, page.text
        csrf = csrf_token(page.text)
        answer = self.http.post(
            url,
            data={"decision": decision, "csrfmiddlewaretoken": csrf},
            headers={"Referer": url},
            allow_redirects=False,
        )
        assert answer.status_code == 302, answer.text
        location = answer.headers["Location"]
        assert location.startswith(self.sandbox.callback_url)
        return parse_qs(urlparse(location).query)

    def token(self, code: str, **overrides: str | None) -> requests.Response:
        data: dict[str, str | None] = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.sandbox.callback_url,
            "code_verifier": self.verifier,
        }
        data.update(overrides)
        return requests.post(
            f"{self.sandbox.base_url}/oauth/token",
            data={k: v for k, v in data.items() if v is not None},
            auth=("ehr-demo-client", "ehr-demo-client-secret-change-me"),
            timeout=10,
        )


@pytest.fixture
def alice(idme_sandbox_live: IdmeSandboxHandle) -> Any:
    account = idme_sandbox_live.create_account("alice@example.test", fname="Alice", lname="Smith", ial=2, linked=False)
    idme_sandbox_live.add_totp_device(account, "My iPhone")
    return account


def verify_id_token(sandbox: IdmeSandboxHandle, id_token: str) -> dict[str, Any]:
    keys = requests.get(f"{sandbox.base_url}/oidc/.well-known/jwks", timeout=10).json()
    return dict(jwt.decode(id_token, KeySet.import_key_set(keys), algorithms=["RS256"]).claims)


# --- discovery and keys ---------------------------------------------------------
def test_discovery_names_the_endpoints_at_idme_paths(idme_sandbox_live: IdmeSandboxHandle) -> None:
    doc = requests.get(f"{idme_sandbox_live.base_url}/oidc/.well-known/openid-configuration", timeout=10).json()
    base = idme_sandbox_live.base_url
    assert doc["issuer"] == base
    assert doc["authorization_endpoint"] == base + "/oauth/authorize"
    assert doc["token_endpoint"] == base + "/oauth/token"
    assert doc["userinfo_endpoint"] == base + "/api/public/v3/userinfo"
    assert doc["jwks_uri"] == base + "/oidc/.well-known/jwks"
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["code_challenge_methods_supported"] == ["S256"]


@pytest.mark.req("ASVS-01")
def test_jwks_publishes_public_keys_only_and_keeps_old_keys_after_rotation(
    idme_sandbox_live: IdmeSandboxHandle,
) -> None:
    url = f"{idme_sandbox_live.base_url}/oidc/.well-known/jwks"
    first = requests.get(url, timeout=10).json()["keys"]
    assert len(first) == 1
    assert first[0]["kty"] == "RSA" and first[0]["alg"] == "RS256" and first[0]["kid"]
    assert "d" not in first[0] and "p" not in first[0]
    # The private key is stored encrypted: the raw column is no PEM.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT private_key_pem FROM idme_sandbox_signingkey")
        (raw,) = cursor.fetchone()
    assert "PRIVATE KEY" not in raw

    call_command("idme_rotate_keys")
    after = requests.get(url, timeout=10).json()["keys"]
    assert len(after) == 2
    assert first[0]["kid"] in {key["kid"] for key in after}
    assert SigningKey.current().kid != first[0]["kid"]


# --- the code flow ---------------------------------------------------------------------
@pytest.mark.req("ASVS-07")
def test_code_flow_with_pkce_issues_a_signed_id_token_with_idme_claims(
    idme_sandbox_live: IdmeSandboxHandle, alice: Any
) -> None:
    flow = Flow(idme_sandbox_live)
    flow.sign_in(alice)
    query = flow.authorize()
    assert query["state"] == [flow.state]
    response = flow.token(query["code"][0])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    assert body["refresh_token"]
    claims = verify_id_token(idme_sandbox_live, body["id_token"])
    assert claims["iss"] == idme_sandbox_live.base_url
    assert claims["aud"] == "ehr-demo-client"
    assert claims["nonce"] == flow.nonce
    assert claims["sub"] == claims["uuid"] == alice.uuid
    assert (claims["fname"], claims["lname"], claims["email"]) == ("Alice", "Smith", "alice@example.test")
    assert claims["credential_ial"] == 2 and claims["credential_aal"] == 2
    assert claims["exp"] - claims["iat"] == 300 and claims["auth_time"] <= claims["iat"]
    # Consent links the account to the client (what the partner API checks).
    assert Consent.objects.filter(account=alice, client=idme_sandbox_live.client).exists()
    # Only digests are stored.
    assert not Token.objects.filter(access_token_digest=body["access_token"]).exists()
    assert Token.objects.filter(access_token_digest=Token.digest(body["access_token"])).exists()
    userinfo = requests.get(
        f"{idme_sandbox_live.base_url}/api/public/v3/userinfo",
        headers={"Authorization": f"Bearer {body['access_token']}"},
        timeout=10,
    )
    assert userinfo.status_code == 200 and userinfo.json()["uuid"] == alice.uuid


@pytest.mark.req("DEA-20")
def test_the_birth_date_is_a_claim_only_when_identity_verification_recorded_one(
    idme_sandbox_live: IdmeSandboxHandle, alice: Any
) -> None:
    flow = Flow(idme_sandbox_live)
    flow.sign_in(alice)
    without = verify_id_token(idme_sandbox_live, flow.token(flow.authorize()["code"][0]).json()["id_token"])
    assert "birth_date" not in without
    Account.objects.filter(pk=alice.pk).update(birth_date=dt.date(1979, 3, 14))
    flow = Flow(idme_sandbox_live)
    flow.sign_in(alice)
    body = flow.token(flow.authorize()["code"][0]).json()
    assert verify_id_token(idme_sandbox_live, body["id_token"])["birth_date"] == "1979-03-14"
    userinfo = requests.get(
        f"{idme_sandbox_live.base_url}/api/public/v3/userinfo",
        headers={"Authorization": f"Bearer {body['access_token']}"},
        timeout=10,
    )
    assert userinfo.json()["birth_date"] == "1979-03-14"


def test_unsigned_in_person_is_sent_to_sign_in_with_next(idme_sandbox_live: IdmeSandboxHandle) -> None:
    flow = Flow(idme_sandbox_live)
    url = f"{idme_sandbox_live.base_url}/oauth/authorize?{urlencode(flow.authorize_params())}"
    response = requests.get(url, allow_redirects=False, timeout=10)
    if response.status_code == 302:
        location = urlparse(response.headers["Location"])
        assert location.path == "/idme-sandbox/sign-in/"
        assert parse_qs(location.query)["next"][0].startswith("/idme-sandbox/oauth/authorize?")
    else:  # before the sign-in page exists
        assert response.status_code == 401 and response.json()["error"] == "login_required"


def test_consent_screen_names_the_client_and_the_scopes(idme_sandbox_live: IdmeSandboxHandle, alice: Any) -> None:
    flow = Flow(idme_sandbox_live)
    flow.sign_in(alice)
    page = flow.http.get(f"{idme_sandbox_live.base_url}/oauth/authorize?{urlencode(flow.authorize_params())}")
    assert "EHR Demo Practice" in page.text
    assert "identity assurance level (IAL2)" in page.text
    assert ">Allow<" in page.text and ">Deny<" in page.text
    assert page.headers["X-Frame-Options"] == "DENY"  # no clickjacking of the Allow button


@pytest.mark.req("ASVS-07")
def test_deny_returns_access_denied_to_the_client_and_links_nothing(
    idme_sandbox_live: IdmeSandboxHandle, alice: Any
) -> None:
    flow = Flow(idme_sandbox_live)
    flow.sign_in(alice)
    query = flow.authorize(decision="deny")
    assert query["error"] == ["access_denied"] and query["state"] == [flow.state]
    assert "code" not in query
    assert not Consent.objects.filter(account=alice).exists()


@pytest.mark.req("ASVS-07")
def test_unregistered_redirect_uri_gets_json_error_and_no_redirect(
    idme_sandbox_live: IdmeSandboxHandle, alice: Any
) -> None:
    flow = Flow(idme_sandbox_live)
    flow.sign_in(alice)
    url = f"{idme_sandbox_live.base_url}/oauth/authorize?" + urlencode(
        flow.authorize_params(redirect_uri="https://evil.example/cb")
    )
    response = flow.http.get(url, allow_redirects=False)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request" and response.json()["error_description"]


@pytest.mark.req("ASVS-07")
def test_plain_pkce_method_is_refused(idme_sandbox_live: IdmeSandboxHandle, alice: Any) -> None:
    flow = Flow(idme_sandbox_live)
    flow.sign_in(alice)
    url = f"{idme_sandbox_live.base_url}/oauth/authorize?" + urlencode(
        flow.authorize_params(code_challenge=flow.verifier, code_challenge_method="plain")
    )
    response = flow.http.get(url, allow_redirects=False)
    assert response.status_code == 302
    query = parse_qs(urlparse(response.headers["Location"]).query)
    assert query["error"] == ["invalid_request"] and "S256" in query["error_description"][0]


@pytest.mark.req("ASVS-07")
@pytest.mark.parametrize("verifier", [None, "x" * 43 + "wrong-verifier"])
def test_missing_or_wrong_pkce_verifier_gets_no_tokens(
    idme_sandbox_live: IdmeSandboxHandle, alice: Any, verifier: str | None
) -> None:
    flow = Flow(idme_sandbox_live)
    flow.sign_in(alice)
    code = flow.authorize()["code"][0]
    response = flow.token(code, code_verifier=verifier)
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_request", "invalid_grant")
    assert not Token.objects.exists()


@pytest.mark.req("ASVS-07")
def test_public_client_must_use_pkce(idme_sandbox_live: IdmeSandboxHandle, alice: Any) -> None:
    register_client(
        client_id="public-app", name="Public App", redirect_uris=[idme_sandbox_live.callback_url], public=True
    )
    flow = Flow(idme_sandbox_live, client_id="public-app")
    flow.sign_in(alice)
    url = f"{idme_sandbox_live.base_url}/oauth/authorize?" + urlencode(
        flow.authorize_params(code_challenge=None, code_challenge_method=None)
    )
    response = flow.http.get(url, allow_redirects=False)
    query = parse_qs(urlparse(response.headers["Location"]).query)
    assert query["error"] == ["invalid_request"] and "PKCE" in query["error_description"][0]
    # With PKCE it works, and the public client authenticates with its client_id only.
    code = flow.authorize()["code"][0]
    response = requests.post(
        f"{idme_sandbox_live.base_url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": "public-app",
            "redirect_uri": idme_sandbox_live.callback_url,
            "code_verifier": flow.verifier,
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text


@pytest.mark.req("ASVS-07")
def test_code_reuse_fails_and_revokes_the_tokens_from_the_first_use(
    idme_sandbox_live: IdmeSandboxHandle, alice: Any
) -> None:
    flow = Flow(idme_sandbox_live)
    flow.sign_in(alice)
    code = flow.authorize()["code"][0]
    first = flow.token(code)
    assert first.status_code == 200
    second = flow.token(code)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant" and "already used" in second.json()["error_description"]
    userinfo = requests.get(
        f"{idme_sandbox_live.base_url}/api/public/v3/userinfo",
        headers={"Authorization": f"Bearer {first.json()['access_token']}"},
        timeout=10,
    )
    assert userinfo.status_code == 401 and userinfo.json()["error"] == "invalid_token"


@pytest.mark.req("ASVS-07")
def test_expired_code_fails(idme_sandbox_live: IdmeSandboxHandle, alice: Any) -> None:
    flow = Flow(idme_sandbox_live)
    flow.sign_in(alice)
    code = flow.authorize()["code"][0]
    AuthorizationCode.objects.update(created_at=timezone.now() - dt.timedelta(minutes=5, seconds=1))
    response = flow.token(code)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant" and "expired" in response.json()["error_description"]


def test_code_is_bound_to_its_redirect_uri(idme_sandbox_live: IdmeSandboxHandle, alice: Any) -> None:
    flow = Flow(idme_sandbox_live)
    flow.sign_in(alice)
    code = flow.authorize()["code"][0]
    response = flow.token(code, redirect_uri="http://localhost:8000/account/idme/callback/")
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


@pytest.mark.req("ASVS-01")
def test_refresh_token_rotation_retires_the_old_refresh_token(idme_sandbox_live: IdmeSandboxHandle, alice: Any) -> None:
    flow = Flow(idme_sandbox_live)
    flow.sign_in(alice)
    tokens = flow.token(flow.authorize()["code"][0]).json()

    def refresh(value: str) -> requests.Response:
        return requests.post(
            f"{idme_sandbox_live.base_url}/oauth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": value,
                "client_id": "ehr-demo-client",
                "client_secret": "ehr-demo-client-secret-change-me",
            },
            timeout=10,
        )

    rotated = refresh(tokens["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()
    assert new["refresh_token"] != tokens["refresh_token"] and new["access_token"] != tokens["access_token"]
    again = refresh(tokens["refresh_token"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert refresh(new["refresh_token"]).status_code == 200
    stored = Token.objects.get(refresh_token_digest=Token.digest(tokens["refresh_token"]))
    assert stored.refresh_expires_at is not None
    assert (stored.refresh_expires_at - stored.issued_at) == dt.timedelta(days=7)


# --- client credentials (the EPCS partner API) -------------------------------------------
def test_client_credentials_gives_an_epcs_token_with_basic_and_post_auth(
    idme_sandbox_live: IdmeSandboxHandle,
) -> None:
    url = f"{idme_sandbox_live.base_url}/oauth/token"
    basic = requests.post(
        url,
        data={"grant_type": "client_credentials", "scope": "epcs"},
        auth=("ehr-demo-client", "ehr-demo-client-secret-change-me"),
        timeout=10,
    )
    assert basic.status_code == 200, basic.text
    assert basic.json()["scope"] == "epcs" and basic.json()["expires_in"] == 300
    assert "refresh_token" not in basic.json() and "id_token" not in basic.json()
    post = requests.post(
        url,
        data={
            "grant_type": "client_credentials",
            "scope": "epcs",
            "client_id": "ehr-demo-client",
            "client_secret": "ehr-demo-client-secret-change-me",
        },
        timeout=10,
    )
    assert post.status_code == 200
    token = Token.objects.get(access_token_digest=Token.digest(post.json()["access_token"]))
    assert token.account is None and token.scope == "epcs"


@pytest.mark.parametrize(
    ("data", "auth", "status", "error"),
    [
        ({"grant_type": "client_credentials", "scope": "epcs"}, ("ehr-demo-client", "wrong"), 401, "invalid_client"),
        ({"grant_type": "client_credentials", "scope": "epcs"}, ("nobody", "x"), 401, "invalid_client"),
        ({"grant_type": "client_credentials", "scope": "openid"}, None, 400, "invalid_scope"),
        ({"grant_type": "password"}, None, 400, "unsupported_grant_type"),
        ({}, None, 400, "unsupported_grant_type"),
    ],
)
def test_bad_token_requests_get_json_errors(
    idme_sandbox_live: IdmeSandboxHandle, data: dict[str, str], auth: Any, status: int, error: str
) -> None:
    response = requests.post(
        f"{idme_sandbox_live.base_url}/oauth/token",
        data=data,
        auth=auth or ("ehr-demo-client", "ehr-demo-client-secret-change-me"),
        timeout=10,
    )
    assert response.status_code == status
    assert response.json()["error"] == error and response.json()["error_description"]


def test_token_endpoint_refuses_get_and_json_bodies_cleanly(idme_sandbox_live: IdmeSandboxHandle) -> None:
    url = f"{idme_sandbox_live.base_url}/oauth/token"
    assert requests.get(url, timeout=10).status_code == 405
    response = requests.post(url, data=b"{not json", headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code in (400, 401) and response.json()["error"]


def test_userinfo_needs_a_valid_bearer_token(idme_sandbox_live: IdmeSandboxHandle) -> None:
    url = f"{idme_sandbox_live.base_url}/api/public/v3/userinfo"
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        response = requests.get(url, headers=headers, timeout=10)
        assert response.status_code == 401 and response.json()["error"] == "invalid_token"


# --- an ordinary OIDC client ----------------------------------------------------------------
@pytest.mark.req("ASVS-07")
def test_an_ordinary_oidc_client_completes_the_flow_from_discovery(
    idme_sandbox_live: IdmeSandboxHandle, alice: Any
) -> None:
    """Plain requests + JOSE (not idme_client): discovery, code flow with PKCE, ID token checks."""
    config = requests.get(f"{idme_sandbox_live.base_url}/oidc/.well-known/openid-configuration", timeout=10).json()
    state, nonce, verifier = secrets.token_urlsafe(16), secrets.token_urlsafe(16), secrets.token_urlsafe(48)
    authorize_url = (
        config["authorization_endpoint"]
        + "?"
        + urlencode(
            {
                "response_type": "code",
                "client_id": "ehr-demo-client",
                "redirect_uri": idme_sandbox_live.callback_url,
                "scope": IAL2_SCOPE,
                "state": state,
                "nonce": nonce,
                "code_challenge": s256(verifier),
                "code_challenge_method": "S256",
            }
        )
    )
    query = parse_qs(urlparse(idme_sandbox_live.answer_consent(alice, authorize_url)).query)
    assert query["state"] == [state]
    response = requests.post(
        config["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": idme_sandbox_live.callback_url,
            "code_verifier": verifier,
            "client_id": "ehr-demo-client",
            "client_secret": "ehr-demo-client-secret-change-me",
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert "no-store" in response.headers["Cache-Control"]
    id_token = response.json()["id_token"]
    header = json.loads(base64.urlsafe_b64decode(id_token.split(".")[0] + "=="))
    assert header["alg"] == "RS256" and header["kid"]
    keys = KeySet.import_key_set(requests.get(config["jwks_uri"], timeout=10).json())
    token = jwt.decode(id_token, keys, algorithms=["RS256"])
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": config["issuer"]},
        aud={"essential": True, "value": "ehr-demo-client"},
        nonce={"essential": True, "value": nonce},
        exp={"essential": True},
        iat={"essential": True},
        sub={"essential": True},
    )
    registry.validate(token.claims)
    assert token.claims["credential_ial"] == 2
    userinfo = requests.get(
        config["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {response.json()['access_token']}"},
        timeout=10,
    ).json()
    assert userinfo["sub"] == token.claims["sub"] == alice.uuid


def test_sign_in_with_mfa_from_authorize_comes_back_to_the_consent_screen(
    idme_sandbox_live: IdmeSandboxHandle,
) -> None:
    """The whole browser path: authorize -> sandbox sign-in (password, code) -> consent."""
    account = idme_sandbox_live.create_account(
        "zoe@example.test", "Zoe-Password-2026", fname="Zoe", lname="Young", linked=False
    )
    device, secret = idme_sandbox_live.add_totp_device(account, "Zoe's phone")
    browser = BrowserClient()
    flow = Flow(idme_sandbox_live)
    sign_in = browser.get(f"/idme-sandbox/oauth/authorize?{urlencode(flow.authorize_params())}")
    assert sign_in.status_code == 302
    page = browser.get(sign_in["Location"]).content.decode()
    match = re.search(r'name="next" value="([^"]*)"', page)
    assert match
    next_url = html_lib.unescape(match.group(1))
    assert next_url.startswith("/idme-sandbox/oauth/authorize?")
    browser.post(sign_in["Location"], {"email": account.email, "password": "Zoe-Password-2026", "next": next_url})
    code_page = f"/idme-sandbox/sign-in/mfa/{device.device_id}/code/?{urlencode({'next': next_url})}"
    consent = browser.post(code_page, {"code": pyotp.TOTP(secret).now(), "next": next_url}, follow=True)
    assert consent.redirect_chain[-1][0] == next_url
    text = consent.content.decode()
    assert "Allow EHR Demo Practice to access your ID.me account?" in text
    assert 'value="allow"' in text and 'value="deny"' in text
