"""Fixtures of the API access tests: a practice, its OAuth app, and the PKCE round trip."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from oauth2_provider.models import get_application_model

from api_access.models import ApplicationPractice
from providers.models import Practice, PracticeRole, User
from tests.conftest import join

Application = get_application_model()
REDIRECT_URI = "https://rx-mobile.example/callback"
DEVICES = "/api/v1/mfa/devices/"


@pytest.fixture
def member(clinician: User, practice: Practice) -> User:
    """dr.house, a prescriber of `practice` (tests/conftest.py's, the practice of the app)."""
    return join(clinician, practice, PracticeRole.PRESCRIBER)


@pytest.fixture
def app(practice: Practice) -> Any:
    """A public client (a mobile app: no secret, so PKCE is its only proof)."""
    application = Application.objects.create(
        name="Rx Mobile",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=REDIRECT_URI,
        algorithm="",
    )
    ApplicationPractice.objects.create(application=application, practice=practice)
    return application


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_params(app: Any, scope: str, challenge: str | None, state: str = "s-123") -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": scope,
        "state": state,
    }
    if challenge is not None:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    return params


def query_of(location: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def consent(browser: Client, app: Any, scope: str, challenge: str) -> str:
    """The person allows the app on the consent screen; the code the app receives."""
    page = browser.get("/oauth/authorize/", authorize_params(app, scope, challenge))
    assert page.status_code == 200
    allowed = browser.post("/oauth/authorize/", {**authorize_params(app, scope, challenge), "allow": "Authorize"})
    assert allowed.status_code == 302
    answer = query_of(allowed["Location"])
    assert answer["state"] == "s-123"
    return answer["code"]


@dataclass
class Tokens:
    access: str
    refresh: str
    scope: str


def exchange(app: Any, code: str, verifier: str | None) -> Any:
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "client_id": app.client_id}
    if verifier is not None:
        body["code_verifier"] = verifier
    return Client().post("/oauth/token/", body)


def oauth_tokens(browser: Client, app: Any, scope: str) -> Tokens:
    """The whole PKCE round trip for a signed-in `browser`."""
    verifier, challenge = pkce_pair()
    response = exchange(app, consent(browser, app, scope, challenge), verifier)
    assert response.status_code == 200, response.content
    body = response.json()
    return Tokens(access=body["access_token"], refresh=body["refresh_token"], scope=body["scope"])


def bearer(token: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")
