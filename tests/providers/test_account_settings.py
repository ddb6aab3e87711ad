"""Account > Provider Settings: tabs, Profile and Security, as a signed-in clinician."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from audit.models import AuditEvent
from providers.models import Provider, User
from providers.tabs import TABS
from tests.conftest import TEST_PASSWORD, login_through_form

SEED_TAB_ORDER = [
    "Profile",
    "General",
    "Email",
    "Medical Billing",
    "eRx Info",
    "Services",
    "Usage",
    "My Billing",
    "Sample Data",
    "Security",
    "Patient Payments",
]
PAGES = ["/", "/account/reauthenticate/"] + [f"/account/provider-settings/{tab.slug}/" for tab in TABS]


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES)
def test_every_page_requires_sign_in(client: Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("tab", TABS, ids=lambda t: t.slug)
def test_every_tab_renders_and_marks_itself_current(clinician_client: Client, tab: object) -> None:
    response = clinician_client.get(f"/account/provider-settings/{tab.slug}/")  # type: ignore[attr-defined]
    assert response.status_code == 200
    html = response.content.decode()
    current = re.findall(r'<a href="([^"]+)" aria-current="page"', html)
    assert current == [f"/account/provider-settings/{tab.slug}/"]  # type: ignore[attr-defined]
    tab_bar = html.split('<nav class="tabs" aria-label="Account Settings">')[1].split("</nav>")[0]
    labels = re.findall(r"<a [^>]*>([^<]+)</a>", tab_bar)
    assert labels == SEED_TAB_ORDER


def test_unknown_tab_is_404(clinician_client: Client) -> None:
    assert clinician_client.get("/account/provider-settings/nope/").status_code == 404


def test_other_module_tab_says_so(clinician_client: Client) -> None:
    html = clinician_client.get("/account/provider-settings/medical-billing/").content.decode()
    assert "belong to another EHR module" in html


def valid_profile(**overrides: str) -> dict[str, str]:
    data = {
        "display_name": "Dr. Greg House",
        "prescribing_name": "",
        "npi": "1234567802",
        "email": "greg@example.test",
        "phone": "(609) 555-0142",
        "address_line1": "1 Hospital Way",
        "address_line2": "",
        "city": "Princeton",
        "state": "nj",
        "postal_code": "08540",
    }
    data.update(overrides)
    return data


def test_profile_saves_good_input(clinician_client: Client, clinician: User) -> None:
    response = clinician_client.post("/account/provider-settings/profile/", valid_profile(), follow=True)
    assert "Your profile has been saved." in response.content.decode()
    provider = Provider.objects.get(user=clinician)
    assert provider.display_name == "Dr. Greg House"
    assert provider.state == "NJ"
    assert provider.npi == "1234567802"
    clinician.refresh_from_db()
    assert clinician.email == "greg@example.test"
    event = AuditEvent.objects.get(action="provider.profile_updated")
    assert "npi" in event.details["fields"]


@pytest.mark.req("ASVS-10")
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("npi", "1234567890", "fails its check digit"),
        ("npi", "12345", "exactly 10 digits"),
        ("email", "not-an-email", "valid email"),
        ("state", "ZZ", "two-letter US state"),
        ("postal_code", "ABCDE", "ZIP code"),
        ("phone", "12", "10-digit phone"),
        ("display_name", "", "required"),
    ],
)
def test_profile_refuses_bad_input_and_saves_nothing(
    clinician_client: Client, clinician: User, field: str, value: str, message: str
) -> None:
    before = Provider.objects.filter(user=clinician).values().get()
    response = clinician_client.post("/account/provider-settings/profile/", valid_profile(**{field: value}))
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert "Nothing was saved" in html
    assert Provider.objects.filter(user=clinician).values().get() == before
    assert not AuditEvent.objects.filter(action="provider.profile_updated").exists()


def test_change_password(clinician_client: Client, clinician: User) -> None:
    response = clinician_client.post(
        "/account/provider-settings/security/",
        {
            "action": "change_password",
            "old_password": TEST_PASSWORD,
            "new_password1": "A-much-better-passphrase-9",
            "new_password2": "A-much-better-passphrase-9",
        },
        follow=True,
    )
    assert "Your password has been changed." in response.content.decode()
    clinician.refresh_from_db()
    assert clinician.check_password("A-much-better-passphrase-9")
    # This session stays signed in.
    assert clinician_client.get("/account/provider-settings/security/").status_code == 200


@pytest.mark.req("ASVS-10")
@pytest.mark.parametrize(
    ("old", "new1", "new2", "message"),
    [
        ("wrong-password", "A-much-better-passphrase-9", "A-much-better-passphrase-9", "incorrect"),
        (TEST_PASSWORD, "A-much-better-passphrase-9", "different-passphrase-99", "didn\u2019t match"),
        (TEST_PASSWORD, "short", "short", "too short"),
    ],
)
def test_change_password_refuses_bad_input(
    clinician_client: Client, clinician: User, old: str, new1: str, new2: str, message: str
) -> None:
    response = clinician_client.post(
        "/account/provider-settings/security/",
        {"action": "change_password", "old_password": old, "new_password1": new1, "new_password2": new2},
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    clinician.refresh_from_db()
    assert clinician.check_password(TEST_PASSWORD)


def test_sign_out_all_other_sessions(clinician: User) -> None:
    here, elsewhere = Client(), Client()
    login_through_form(here, clinician.username)
    login_through_form(elsewhere, clinician.username)
    assert elsewhere.get("/account/provider-settings/profile/").status_code == 200
    response = here.post("/account/provider-settings/security/", {"action": "sign_out_other_sessions"}, follow=True)
    assert "All your other sessions have been signed out." in response.content.decode()
    assert here.get("/account/provider-settings/profile/").status_code == 200
    assert elsewhere.get("/account/provider-settings/profile/").status_code == 302
    assert AuditEvent.objects.filter(action="auth.other_sessions_ended").count() == 1


def test_security_forms_are_csrf_protected(clinician: User) -> None:
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(clinician)
    response = strict.post("/account/provider-settings/security/", {"action": "sign_out_other_sessions"})
    assert response.status_code == 403
