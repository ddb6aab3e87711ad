"""Sign-in, sign-out, anti-automation and session lifetime."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from audit.models import AuditEvent, Outcome
from providers.models import User
from tests.conftest import TEST_PASSWORD, login_through_form


@pytest.mark.req("ASVS-09")
def test_sign_in_and_out_are_audited(clinician: User) -> None:
    client = Client()
    response = login_through_form(client, clinician.username)
    assert response.status_code == 302
    client.post("/accounts/logout/")
    login_through_form(client, clinician.username, "wrong password")
    actions = list(AuditEvent.objects.values_list("action", "outcome"))
    assert actions == [
        ("auth.login", Outcome.SUCCESS),
        ("auth.logout", Outcome.SUCCESS),
        ("auth.login_failed", Outcome.FAILURE),
    ]


@pytest.mark.req("ASVS-02")
def test_repeated_wrong_passwords_lock_the_username(clinician: User) -> None:
    client = Client()
    for _ in range(10):
        assert login_through_form(client, clinician.username, "wrong password").status_code == 200
    response = login_through_form(client, clinician.username, TEST_PASSWORD)
    assert response.status_code == 200
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert AuditEvent.objects.filter(action="auth.login_locked").exists()


@pytest.mark.req("NIST-07")
@override_settings(SESSION_IDLE_TIMEOUT_SECONDS=0)
def test_idle_session_ends(clinician: User) -> None:
    import time

    client = Client()
    login_through_form(client, clinician.username)
    client.get("/account/provider-settings/profile/")
    time.sleep(0.05)
    assert client.get("/account/provider-settings/profile/").status_code == 302


@pytest.mark.req("NIST-07")
def test_sessions_end_twelve_hours_after_sign_in_however_active(clinician: User) -> None:
    import time

    client = Client()
    login_through_form(client, clinician.username)
    assert client.get("/account/provider-settings/profile/").status_code == 200
    session = client.session
    # Signed in 12 hours and a second ago, active a moment ago: activity does not extend it.
    session["signed_in_at"] = time.time() - 12 * 60 * 60 - 1
    session["last_seen_at"] = time.time() - 5
    session.save()
    assert client.get("/account/provider-settings/profile/").status_code == 302


@pytest.mark.req("ASVS-05")
def test_reauthentication_prompt_and_continue(clinician: User) -> None:
    client = Client()
    client.force_login(clinician)  # no recent password entry in this session
    response = client.get("/account/reauthenticate/?next=/account/provider-settings/security/")
    assert response.status_code == 200
    bad = client.post("/account/reauthenticate/", {"password": "nope", "next": "/account/provider-settings/security/"})
    assert bad.status_code == 400
    good = client.post(
        "/account/reauthenticate/", {"password": TEST_PASSWORD, "next": "/account/provider-settings/security/"}
    )
    assert good.status_code == 302
    assert good["Location"] == "/account/provider-settings/security/"


def test_reauthentication_never_redirects_off_site(clinician: User) -> None:
    client = Client()
    client.force_login(clinician)
    response = client.post("/account/reauthenticate/", {"password": TEST_PASSWORD, "next": "https://evil.example/"})
    assert response["Location"] == "/"
