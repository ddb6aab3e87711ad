"""One limiter for every password path (ASVS-12, NIST-02, ASVS-02, ASVS-09), tried the way an
outside tester would: sign-in, the Django admin's sign-in, username variants, many usernames
from one address, the password re-check and the change-password form."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from audit.models import AuditEvent, Outcome
from providers.models import User
from tests.conftest import TEST_PASSWORD, login_through_form

ADMIN_LOGIN = "/admin/login/"
SECURITY = "/account/provider-settings/security/"
REAUTH = "/account/reauthenticate/"
LOCKED = "Too many failed sign-in attempts for this account"


def admin_login(client: Client, username: str, password: str = TEST_PASSWORD) -> Any:
    return client.post(ADMIN_LOGIN, {"username": username, "password": password, "next": "/admin/"})


def signed_in_as(client: Client) -> str | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id).username if user_id else None


@pytest.fixture
def staff(make_user: Callable[..., User]) -> User:
    return make_user("admin.ada", is_staff=True, is_superuser=True)


@pytest.mark.req("ASVS-12")
@pytest.mark.req("NIST-02")
def test_a_username_locked_on_sign_in_is_refused_by_the_admin_sign_in(staff: User) -> None:
    for _ in range(10):
        assert login_through_form(Client(), staff.username, "wrong password").status_code == 200
    client = Client()
    response = admin_login(client, staff.username)
    assert response.status_code == 200  # the form again, not a redirect into the admin
    assert LOCKED in response.content.decode()
    assert signed_in_as(client) is None
    assert client.get("/account/provider-settings/profile/").status_code == 302  # no EHR session either
    refused = AuditEvent.objects.get(action="auth.login_locked")
    assert refused.outcome == Outcome.DENIED
    assert refused.details["path"] == ADMIN_LOGIN and refused.details["limit"] == "account_locked"


@pytest.mark.req("ASVS-12")
@pytest.mark.req("ASVS-09")
def test_admin_sign_in_failures_count_and_are_audited_with_their_path(staff: User) -> None:
    for _ in range(10):
        admin_login(Client(), staff.username, "wrong password")
    failures = AuditEvent.objects.filter(action="auth.login_failed")
    assert failures.count() == 10
    assert {event.details["path"] for event in failures} == {ADMIN_LOGIN}
    assert {event.outcome for event in failures} == {Outcome.FAILURE}
    client = Client()
    response = login_through_form(client, staff.username)
    assert response.status_code == 200 and LOCKED in response.content.decode()
    assert signed_in_as(client) is None


@pytest.mark.req("ASVS-12")
@pytest.mark.req("NIST-02")
def test_username_variants_that_sign_in_share_one_counter(clinician: User) -> None:
    variants = [" dr.house", "dr.house\n", "\uff44\uff52.house", "DR.HOUSE", "Dr.House ", "\tdr.house"]
    # Django signs these in as dr.house (the form strips and applies NFKC)...
    for variant in variants[:3]:
        client = Client()
        assert login_through_form(client, variant).status_code == 302
        assert signed_in_as(client) == "dr.house"
    # ...so a guess under any of them counts against dr.house: ten guesses spread over them lock it.
    for attempt in range(10):
        login_through_form(Client(), variants[attempt % len(variants)], "wrong password")
    for variant in ["dr.house", *variants]:
        client = Client()
        response = login_through_form(client, variant)
        assert response.status_code == 200 and LOCKED in response.content.decode()
        assert signed_in_as(client) is None
    # The audit names the account the guesses were against.
    assert {e.details["account"] for e in AuditEvent.objects.filter(action="auth.login_failed")} == {"dr.house"}


@pytest.mark.req("ASVS-12")
@pytest.mark.req("ASVS-02")
def test_one_address_guessing_many_usernames_is_locked_out(clinician: User) -> None:
    attacker = "203.0.113.7"
    for n in range(50):
        Client(REMOTE_ADDR=attacker).post("/accounts/login/", {"username": f"user{n}", "password": "Summer2026!"})
    # Every username from that address is refused now, even with the right password...
    client = Client(REMOTE_ADDR=attacker)
    response = client.post("/accounts/login/", {"username": clinician.username, "password": TEST_PASSWORD})
    assert response.status_code == 200
    assert "Too many failed sign-in attempts from your network address" in response.content.decode()
    assert signed_in_as(client) is None
    assert admin_login(Client(REMOTE_ADDR=attacker), clinician.username).status_code == 200
    refused = AuditEvent.objects.filter(action="auth.login_locked", details__limit="client_locked")
    assert [event.ip_address for event in refused] == ["203.0.113.7", "203.0.113.7"]
    # ...while the account itself is not locked: the clinician signs in from their own address.
    elsewhere = Client(REMOTE_ADDR="198.51.100.20")
    assert login_through_form(elsewhere, clinician.username).status_code == 302


@pytest.mark.req("ASVS-12")
@pytest.mark.req("ASVS-09")
def test_the_change_password_form_old_password_is_limited_and_audited(clinician: User) -> None:
    client = Client()
    login_through_form(client, clinician.username)

    def change(old: str) -> Any:
        return client.post(
            SECURITY,
            {
                "action": "change_password",
                "old_password": old,
                "new_password1": "A-much-better-passphrase-9",
                "new_password2": "A-much-better-passphrase-9",
            },
        )

    for attempt in range(10):
        response = change(f"guess-{attempt}")
        assert response.status_code == 400
    failures = AuditEvent.objects.filter(action="auth.password_change_failed")
    assert failures.count() == 10 and {e.details["path"] for e in failures} == {SECURITY}
    response = change(TEST_PASSWORD)
    assert response.status_code == 400
    assert LOCKED in response.content.decode()
    clinician.refresh_from_db()
    assert clinician.check_password(TEST_PASSWORD)
    assert AuditEvent.objects.get(action="auth.password_change_locked").outcome == Outcome.DENIED
    # The same counter guards sign-in.
    assert LOCKED in login_through_form(Client(), clinician.username).content.decode()


@pytest.mark.req("ASVS-09")
def test_a_password_change_is_audited(clinician: User) -> None:
    client = Client()
    login_through_form(client, clinician.username)
    response = client.post(
        SECURITY,
        {
            "action": "change_password",
            "old_password": TEST_PASSWORD,
            "new_password1": "A-much-better-passphrase-9",
            "new_password2": "A-much-better-passphrase-9",
        },
    )
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="auth.password_changed", actor=clinician).count() == 1


@pytest.mark.req("ASVS-12")
@pytest.mark.req("ASVS-05")
def test_the_password_re_check_is_limited_with_sign_in(clinician: User, staff: User) -> None:
    client = Client()
    client.force_login(clinician)
    for attempt in range(10):
        response = client.post(REAUTH, {"password": f"guess-{attempt}", "next": SECURITY})
        assert response.status_code == 400
    response = client.post(REAUTH, {"password": TEST_PASSWORD, "next": SECURITY})
    assert response.status_code == 400 and LOCKED in response.content.decode()
    failures = AuditEvent.objects.filter(action="auth.reauthentication_failed")
    assert failures.count() == 10 and {e.details["path"] for e in failures} == {REAUTH}
    assert AuditEvent.objects.filter(action="auth.reauthentication_locked", outcome=Outcome.DENIED).exists()
    # Guessing at the prompt locks the account everywhere, the admin's sign-in included.
    assert LOCKED in login_through_form(Client(), clinician.username).content.decode()
    clinician.is_staff = True
    clinician.save()
    admin = Client()
    admin_login(admin, clinician.username)
    assert signed_in_as(admin) is None
    # Another account is not affected.
    assert login_through_form(Client(), staff.username).status_code == 302


@pytest.mark.req("ASVS-12")
def test_a_right_password_clears_the_account_counter_but_not_the_address_counter(clinician: User) -> None:
    for _ in range(9):
        login_through_form(Client(), clinician.username, "wrong password")
    assert login_through_form(Client(), clinician.username).status_code == 302
    for _ in range(9):
        login_through_form(Client(), clinician.username, "wrong password")
    assert login_through_form(Client(), clinician.username).status_code == 302
    # The address has 18 failures on record; 32 more (any usernames) lock it.
    for n in range(32):
        login_through_form(Client(), f"someone{n}", "wrong password")
    response = login_through_form(Client(), clinician.username)
    assert response.status_code == 200 and "from your network address" in response.content.decode()


@pytest.mark.req("ASVS-01")
@pytest.mark.req("ASVS-09")
def test_failed_passwords_are_audited_without_the_password(clinician: User) -> None:
    secret = "Tr0ub4dor&3-not-mine"
    login_through_form(Client(), clinician.username, secret)
    admin_login(Client(), clinician.username, secret)
    client = Client()
    client.force_login(clinician)
    client.post(REAUTH, {"password": secret, "next": SECURITY})
    events = AuditEvent.objects.filter(outcome=Outcome.FAILURE)
    assert {e.action for e in events} == {"auth.login_failed", "auth.reauthentication_failed"}
    assert events.count() == 3
    assert all(secret not in str(e.details) for e in AuditEvent.objects.all())
