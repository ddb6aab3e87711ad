"""Third-party apps: OAuth 2.0 authorization code with PKCE, consent, scopes, refresh with
rotation, revocation, and the app's practice (docs/api.md "Authentication")."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model

from providers.models import Membership, Practice, User
from tests.api_access.conftest import (
    DEVICES,
    authorize_params,
    bearer,
    consent,
    exchange,
    oauth_tokens,
    pkce_pair,
    query_of,
)
from tests.conftest import TEST_PASSWORD, join

AccessToken = get_access_token_model()
Grant = get_grant_model()
RefreshToken = get_refresh_token_model()


def signed_in(user: User) -> Client:
    browser = Client()
    assert browser.login(username=user.username, password=TEST_PASSWORD)
    return browser


@pytest.mark.req("ASVS-12")
@pytest.mark.req("ASVS-01")
def test_pkce_round_trip_consent_token_call_refresh_and_revoke(member: User, app: Any, practice: Practice) -> None:
    browser = signed_in(member)
    verifier, challenge = pkce_pair()
    # The consent screen names the app, its practice and what it asks for.
    page = browser.get("/oauth/authorize/", authorize_params(app, "mfa:read profile:read", challenge))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Allow “Rx Mobile” to use your EHR account?" in html and practice.name in html
    assert "<strong>mfa:read</strong>: See your ID.me MFA devices" in html
    code = consent(browser, app, "mfa:read profile:read", challenge)
    response = exchange(app, code, verifier)
    assert response.status_code == 200
    tokens = response.json()
    assert tokens["scope"] == "mfa:read profile:read" and tokens["token_type"] == "Bearer"
    # Stored as SHA-256 checksums only, never the usable values (ASVS-01).
    stored = AccessToken.objects.get()
    assert stored.token == "" and stored.token_checksum == hashlib.sha256(tokens["access_token"].encode()).hexdigest()
    assert not RefreshToken.objects.filter(token=tokens["refresh_token"]).exists()
    assert bearer(tokens["access_token"]).get(DEVICES).status_code == 200
    assert bearer(tokens["access_token"]).get("/api/v1/providers/me/").json()["username"] == member.username
    # The code is single-use.
    assert exchange(app, code, verifier).status_code == 400
    # Refresh: a new pair; the old refresh token and the old access token stop working.
    refreshed = Client().post(
        "/oauth/token/",
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": app.client_id},
    )
    assert refreshed.status_code == 200
    fresh = refreshed.json()
    assert fresh["refresh_token"] != tokens["refresh_token"] and fresh["access_token"] != tokens["access_token"]
    assert bearer(tokens["access_token"]).get(DEVICES).status_code == 401
    assert bearer(fresh["access_token"]).get(DEVICES).status_code == 200
    # Revocation by the app (RFC 7009): the token no longer works.
    revoked = Client().post("/oauth/revoke/", {"token": fresh["access_token"], "client_id": app.client_id})
    assert revoked.status_code == 200
    after = bearer(fresh["access_token"]).get(DEVICES)
    assert after.status_code == 401 and after["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.req("ASVS-12")
def test_a_replayed_refresh_token_revokes_the_whole_chain(member: User, app: Any) -> None:
    tokens = oauth_tokens(signed_in(member), app, "mfa:read")
    body = {"grant_type": "refresh_token", "refresh_token": tokens.refresh, "client_id": app.client_id}
    first = Client().post("/oauth/token/", body)
    assert first.status_code == 200
    replay = Client().post("/oauth/token/", body)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    # Reuse means theft: the token minted by the legitimate refresh is revoked too.
    assert bearer(first.json()["access_token"]).get(DEVICES).status_code == 401


def test_an_authorization_request_without_pkce_is_refused(member: User, app: Any) -> None:
    browser = signed_in(member)
    response = browser.get("/oauth/authorize/", authorize_params(app, "mfa:read", challenge=None))
    assert response.status_code == 302
    answer = query_of(response["Location"])
    assert answer["error"] == "invalid_request" and answer["error_description"] == "Code challenge required."
    assert not Grant.objects.exists()


def test_a_code_is_not_exchanged_without_its_verifier(member: User, app: Any) -> None:
    browser = signed_in(member)
    _, challenge = pkce_pair()
    code = consent(browser, app, "mfa:read", challenge)
    assert exchange(app, code, verifier=None).status_code == 400
    other_verifier, _ = pkce_pair()
    wrong = exchange(app, code, other_verifier)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert not AccessToken.objects.exists()


def test_denying_consent_gives_the_app_nothing(member: User, app: Any) -> None:
    browser = signed_in(member)
    _, challenge = pkce_pair()
    denied = browser.post("/oauth/authorize/", authorize_params(app, "mfa:read", challenge))
    assert denied.status_code == 302 and query_of(denied["Location"])["error"] == "access_denied"
    assert not Grant.objects.exists()


@pytest.mark.req("ASVS-06")
@pytest.mark.req("ASVS-11")
def test_only_members_of_the_apps_practice_can_authorize_it(make_user: Any, other_practice: Practice, app: Any) -> None:
    outsider = join(make_user("dr.cuddy"), other_practice)  # a member of another practice only
    browser = signed_in(outsider)
    _, challenge = pkce_pair()
    page = browser.get("/oauth/authorize/", authorize_params(app, "mfa:read", challenge))
    assert page.status_code == 403 and "not available to you" in page.content.decode()
    allowed = browser.post("/oauth/authorize/", {**authorize_params(app, "mfa:read", challenge), "allow": "Authorize"})
    assert allowed.status_code == 403
    assert not Grant.objects.exists()


@pytest.mark.req("ASVS-06")
@pytest.mark.req("ASVS-11")
def test_an_apps_token_stops_working_when_the_person_leaves_its_practice(member: User, app: Any) -> None:
    tokens = oauth_tokens(signed_in(member), app, "mfa:read")
    assert bearer(tokens.access).get(DEVICES).status_code == 200
    Membership.objects.filter(user=member).delete()
    assert bearer(tokens.access).get(DEVICES).status_code == 401


@pytest.mark.req("ASVS-12")
@pytest.mark.req("ASVS-06")
def test_an_oauth_token_without_the_scope_is_refused(member: User, app: Any) -> None:
    tokens = oauth_tokens(signed_in(member), app, "mfa:read")
    api = bearer(tokens.access)
    assert api.get(DEVICES).status_code == 200
    refresh = api.post(f"{DEVICES}refresh/", content_type="application/json")
    assert refresh.status_code == 403 and "mfa:write" in refresh.json()["detail"]
    assert api.get("/api/v1/prescriptions/").status_code == 403
    assert api.get("/api/v1/epcs/permissions/").status_code == 403


def test_unknown_scopes_are_refused_at_the_consent_step(member: User, app: Any) -> None:
    browser = signed_in(member)
    _, challenge = pkce_pair()
    response = browser.get("/oauth/authorize/", authorize_params(app, "mfa:read admin:everything", challenge))
    assert response.status_code == 302 and query_of(response["Location"])["error"] == "invalid_scope"


def test_a_bodyless_post_with_an_oauth_token_reaches_the_view(member: User, app: Any) -> None:
    """The OAuth check reads only the header: a POST without a JSON body is the view's to judge."""
    api = bearer(oauth_tokens(signed_in(member), app, "mfa:write").access)
    response = api.post(f"{DEVICES}refresh/")
    assert response.status_code == 409 and response.json()["code"] == "not_linked"


def test_an_access_token_in_the_query_string_is_not_accepted(member: User, app: Any) -> None:
    tokens = oauth_tokens(signed_in(member), app, "mfa:read")
    assert Client().get(DEVICES, {"access_token": tokens.access}).status_code == 401


@pytest.mark.req("ASVS-12")
def test_the_security_tab_lists_connected_apps_and_disconnects_one(
    member: User, app: Any, make_user: Any, practice: Practice
) -> None:
    tokens = oauth_tokens(signed_in(member), app, "mfa:read")
    browser = signed_in(member)
    page = browser.get("/account/provider-settings/security/").content.decode()
    assert '<th scope="row">Rx Mobile</th>' in page and practice.name in page
    # Nobody else can disconnect it for them.
    assert signed_in(make_user("dr.cuddy")).post(f"/account/api-tokens/apps/{app.pk}/disconnect/").status_code == 404
    assert bearer(tokens.access).get(DEVICES).status_code == 200
    assert browser.post(f"/account/api-tokens/apps/{app.pk}/disconnect/").status_code == 302
    assert bearer(tokens.access).get(DEVICES).status_code == 401
    refreshed = Client().post(
        "/oauth/token/", {"grant_type": "refresh_token", "refresh_token": tokens.refresh, "client_id": app.client_id}
    )
    assert refreshed.status_code == 400
    assert "No app holds a token of yours." in browser.get("/account/provider-settings/security/").content.decode()


@pytest.mark.req("NIST-07")
def test_a_grant_that_can_sign_ends_twelve_hours_after_consent_however_often_refreshed(member: User, app: Any) -> None:
    signer = oauth_tokens(signed_in(member), app, "mfa:read epcs:sign")
    reader = oauth_tokens(signed_in(member), app, "mfa:read")
    refresh = {"grant_type": "refresh_token", "refresh_token": signer.refresh, "client_id": app.client_id}
    fresh = Client().post("/oauth/token/", refresh).json()
    assert bearer(fresh["access_token"]).get(DEVICES).status_code == 200
    # Consent 12 hours and a second ago: the chain's newest token, minted a moment ago, is refused.
    old = timezone.now() - dt.timedelta(hours=12, seconds=1)
    RefreshToken.objects.update(created=old)  # the access token itself stays new
    refused = bearer(fresh["access_token"]).get(DEVICES)
    assert refused.status_code == 401 and "every 12 hours" in refused.json()["detail"]
    # A grant that cannot sign is not cut short (it lives by its own expiry and revocation).
    assert bearer(reader.access).get(DEVICES).status_code == 200
