"""The API call that takes a password (select the primary device) from an attacker's side:
it shares the one limiter with sign-in (ASVS-12), and a password it accepts belongs to that
user and that request, never to another token or another user (ASVS-12, ASVS-05)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from api_access.services import create_token
from audit.models import AuditEvent, Outcome
from mfa.models import ProviderDevice
from providers.models import Provider, User
from tests.conftest import TEST_PASSWORD, login_through_form

API = "/api/v1/mfa/devices/"
LOCKED = "Too many failed sign-in attempts for this account"
MakeDevice = Callable[..., ProviderDevice]


def post_json(client: Client, url: str, body: Any = None, **extra: Any) -> Any:
    return client.post(url, body or {}, content_type="application/json", **extra)


def token_header(user: User) -> dict[str, str]:
    """A new personal access token of `user` (scopes mfa:read mfa:write) as a header."""
    created = create_token(user, name="script", scopes=["mfa:read", "mfa:write"])
    return {"HTTP_AUTHORIZATION": f"Bearer {created.secret}"}


@pytest.mark.req("ASVS-12")
@pytest.mark.req("ASVS-09")
def test_password_guesses_through_the_api_lock_the_sign_in_page(
    clinician: User, provider: Provider, make_mirror_device: MakeDevice
) -> None:
    device = make_mirror_device(provider, "MyiPhone")
    api = Client(HTTP_AUTHORIZATION=token_header(clinician)["HTTP_AUTHORIZATION"])
    url = f"{API}{device.pk}/primary/"
    for attempt in range(10):
        assert post_json(api, url, {"password": f"guess-{attempt}"}).status_code == 403
    failures = AuditEvent.objects.filter(action="auth.reauthentication_failed")
    assert failures.count() == 10
    assert {(e.outcome, e.details["path"], e.actor_id) for e in failures} == {(Outcome.FAILURE, url, clinician.pk)}
    response = login_through_form(Client(), clinician.username)
    assert response.status_code == 200 and LOCKED in response.content.decode()
    locked = post_json(api, url, {"password": TEST_PASSWORD})
    assert locked.status_code == 429 and locked.json()["code"] == "too_many_attempts"
    device.refresh_from_db()
    assert not device.is_primary


@pytest.mark.req("ASVS-12")
def test_an_account_locked_on_the_sign_in_page_is_refused_by_the_api(
    clinician: User, provider: Provider, make_mirror_device: MakeDevice
) -> None:
    device = make_mirror_device(provider, "MyiPhone")
    for _ in range(10):
        login_through_form(Client(), clinician.username, "wrong password")
    response = post_json(
        Client(HTTP_AUTHORIZATION=token_header(clinician)["HTTP_AUTHORIZATION"]),
        f"{API}{device.pk}/primary/",
        {"password": TEST_PASSWORD},
    )
    assert response.status_code == 429
    assert AuditEvent.objects.filter(action="auth.reauthentication_locked", outcome=Outcome.DENIED).exists()
    device.refresh_from_db()
    assert not device.is_primary


@pytest.mark.req("ASVS-12")
@pytest.mark.req("ASVS-05")
def test_a_password_sent_with_one_token_never_helps_another_token(
    clinician: User,
    provider: Provider,
    other_provider: Provider,
    make_mirror_device: MakeDevice,
) -> None:
    """An attacker who holds the clinician's token but not their password, in one browser."""
    victims_device = make_mirror_device(provider, "MyiPhone")
    attackers_device = make_mirror_device(other_provider, "Cuddy's phone")
    browser = Client()  # one cookie jar for every call below
    # The attacker confirms their own password with their own token...
    attackers_token = token_header(other_provider.user)
    own = post_json(browser, f"{API}{attackers_device.pk}/primary/", {"password": TEST_PASSWORD}, **attackers_token)
    assert own.status_code == 200
    # ...then uses the stolen token in the same browser: the password is asked for.
    stolen = post_json(browser, f"{API}{victims_device.pk}/primary/", **token_header(clinician))
    assert stolen.status_code == 403 and stolen.json()["code"] == "reauthentication_required"
    # Nor does the attacker's own next token call ride on that password: it counted for one request.
    again = post_json(browser, f"{API}{attackers_device.pk}/primary/", **attackers_token)
    assert again.status_code == 403 and again.json()["code"] == "reauthentication_required"
    victims_device.refresh_from_db()
    assert not victims_device.is_primary


@pytest.mark.req("ASVS-12")
@pytest.mark.req("ASVS-05")
def test_a_re_check_in_one_session_never_helps_another_user_in_the_same_browser(
    clinician: User,
    provider: Provider,
    other_provider: Provider,
    make_mirror_device: MakeDevice,
) -> None:
    victims_device = make_mirror_device(provider, "MyiPhone")
    browser = Client()
    # The attacker signs in and has a fresh password entry in this browser's session...
    login_through_form(browser, other_provider.user.username)
    # ...and sends the victim's token from the same browser: the token in the header wins over
    # the cookie (docs/api.md "Authentication"), so the call acts as the victim, and the
    # attacker's password entry in the session is not the victim's: the password is asked for.
    response = post_json(browser, f"{API}{victims_device.pk}/primary/", **token_header(clinician))
    assert response.status_code == 403 and response.json()["code"] == "reauthentication_required"
    # Signed out, the browser's session no longer carries anyone's password entry.
    browser.post("/accounts/logout/")
    response = post_json(browser, f"{API}{victims_device.pk}/primary/", **token_header(clinician))
    assert response.status_code == 403 and response.json()["code"] == "reauthentication_required"
    victims_device.refresh_from_db()
    assert not victims_device.is_primary
