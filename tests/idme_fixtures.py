"""Shared fixtures for tests that talk to the ID.me sandbox over real HTTP.

`idme_sandbox_live` starts nothing of its own: it uses pytest-django's `live_server`, points
the EHR's settings at the sandbox mounted on it, registers the EHR's client with the live
server's callback and return addresses, and hands back helpers to make accounts and devices.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyotp
import pytest
import requests
from django.conf import settings as django_settings
from django.http import HttpResponse
from django.utils import timezone

from idme_sandbox.models import Account, Client, Consent, Device, DeviceKind, Operator
from idme_sandbox.oidc.clients import register_client
from idme_sandbox.session import COOKIE_NAME, OPERATOR_COOKIE_NAME, write_session

EHR_CALLBACK_PATH = "/account/idme/callback/"
EHR_RETURN_PATH = "/mfa/devices/returned/"
IDME_TEST_PASSWORD = "Idme-Test-Password-42"
OPERATOR_TEST_PASSWORD = "Operator-Test-Password-42"


def make_operator(username: str = "operator", password: str = OPERATOR_TEST_PASSWORD) -> Operator:
    """A sandbox operator (the person who may read the outbox and the pharmacy network)."""
    operator = Operator.objects.filter(username=username).first() or Operator(username=username)
    operator.set_password(password)
    operator.save()
    return operator


def operator_http_session(base_url: str, username: str = "operator") -> requests.Session:
    """A `requests` session signed in as a sandbox operator through the sign-in page.
    `base_url` is the sandbox's, e.g. `<live server>/idme-sandbox`."""
    operator = make_operator(username)
    http = requests.Session()
    url = f"{base_url}/operator/sign-in/"
    page = http.get(url, timeout=10)
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert match, "the operator sign-in page has no CSRF token"
    signed_in = http.post(
        url,
        data={"username": operator.username, "password": OPERATOR_TEST_PASSWORD, "csrfmiddlewaretoken": match.group(1)},
        headers={"Referer": url},
        allow_redirects=False,
        timeout=10,
    )
    assert signed_in.status_code == 302, signed_in.text[:300]
    # Outside DEBUG the cookie is marked Secure; the live server speaks plain http.
    http.cookies.set(OPERATOR_COOKIE_NAME, signed_in.cookies[OPERATOR_COOKIE_NAME])
    return http


def clear_idme_client_caches() -> None:
    """Forget discovery documents, JWKS and partner tokens cached per base URL."""
    from idme_client import oidc as idme_oidc
    from idme_client import partner as idme_partner

    clear = getattr(idme_oidc, "clear_caches", None)
    if clear is not None:
        clear()
    clients = getattr(idme_partner, "_clients", None)
    if isinstance(clients, dict):
        clients.clear()


@dataclass
class IdmeSandboxHandle:
    """The sandbox on the live server, and the EHR's client registered with it."""

    live_url: str
    base_url: str
    client: Client

    @property
    def callback_url(self) -> str:
        return self.live_url + EHR_CALLBACK_PATH

    @property
    def return_url(self) -> str:
        return self.live_url + EHR_RETURN_PATH

    def create_account(
        self,
        email: str,
        password: str = IDME_TEST_PASSWORD,
        *,
        fname: str,
        lname: str,
        ial: int = 2,
        linked: bool = True,
        birth_date: dt.date | None = None,
    ) -> Account:
        """An ID.me account; `linked` means it completed consent for the EHR's client;
        `birth_date` (when given) is sent as the `birth_date` claim."""
        account = Account(email=email, fname=fname, lname=lname, ial=ial, birth_date=birth_date)
        if ial >= 2:
            account.identity_verified_at = timezone.now()
        account.set_password(password)
        account.save()
        if linked:
            Consent.objects.update_or_create(account=account, client=self.client, defaults={"scope": self.client.scope})
        return account

    def add_totp_device(self, account: Account, name: str) -> tuple[Device, str]:
        """A Code Generator device; returns it with its base32 secret (for pyotp.TOTP)."""
        secret = pyotp.random_base32(32)
        device = Device.objects.create(account=account, kind=DeviceKind.TOTP, name=name, totp_secret=secret)
        return device, secret

    def session_cookie(self, account: Account, *, mfa: bool = True) -> dict[str, str]:
        """The sandbox sign-in cookie of `account` (as if it signed in just now)."""
        response = HttpResponse()
        now = time.time()
        write_session(response, account, password_at=now, mfa_at=now if mfa else None)
        return {COOKIE_NAME: response.cookies[COOKIE_NAME].value}

    def answer_consent(self, account: Account, authorize_url: str, decision: str = "allow") -> str:
        """Play the person at ID.me: signed in as `account`, open `authorize_url` (an
        /oauth/authorize URL) and press Allow or Deny. Returns where ID.me redirects to."""
        http = requests.Session()
        for name, value in self.session_cookie(account).items():
            http.cookies.set(name, value)
        page = http.get(authorize_url, allow_redirects=False, timeout=10)
        if page.status_code != 200:
            raise AssertionError(f"ID.me did not show the consent screen ({page.status_code}): {page.text[:300]}")
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert match, "the consent screen has no CSRF token"
        answer = http.post(
            authorize_url,
            data={"decision": decision, "csrfmiddlewaretoken": match.group(1)},
            headers={"Referer": authorize_url},
            allow_redirects=False,
            timeout=10,
        )
        if answer.status_code != 302:
            raise AssertionError(f"ID.me did not redirect after consent ({answer.status_code}): {answer.text[:300]}")
        return str(answer.headers["Location"])


@pytest.fixture
def idme_sandbox_live(live_server: Any, settings: Any) -> Iterator[IdmeSandboxHandle]:
    live_url = str(live_server.url)
    base_url = live_url + "/idme-sandbox"
    settings.IDME_BASE_URL = base_url
    clear_idme_client_caches()
    hosts = [f"{host}:8000" for host in ("http://127.0.0.1", "http://localhost")]
    client, _ = register_client(
        client_id=str(django_settings.IDME_CLIENT_ID),
        secret=str(django_settings.IDME_CLIENT_SECRET),
        name="EHR Demo Practice",
        redirect_uris=[live_url + EHR_CALLBACK_PATH, *(h + EHR_CALLBACK_PATH for h in hosts)],
        return_uris=[live_url + EHR_RETURN_PATH, *(h + EHR_RETURN_PATH for h in hosts)],
    )
    yield IdmeSandboxHandle(live_url=live_url, base_url=base_url, client=client)
    clear_idme_client_caches()
