"""Prescriber credentials on eRx Info: DEA registrations, state licenses, Medicaid id, name."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from providers.epcs import epcs_block_reason
from providers.models import DeaRegistration, Provider, StateLicense, User
from providers.validators import dea_check_digit_valid, validate_dea_number

ERX_INFO = "/account/provider-settings/erx-info/"
DEA_ADD = "/account/credentials/dea/add/"


def future(days: int = 365) -> str:
    return (timezone.localdate() + dt.timedelta(days=days)).isoformat()


def dea_form(number: str, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "number": number,
        "state": "NJ",
        "expires_on": future(),
        "schedule_2": "on",
        "schedule_3": "on",
        "schedule_4": "on",
        "schedule_5": "on",
    }
    data.update(extra)
    return data


def with_check_digit(prefix: str, six: str) -> str:
    d = [int(c) for c in six]
    check = (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10
    return f"{prefix}{six}{check}"


# --- the DEA rule (DEA-18) -------------------------------------------------------
@pytest.mark.req("DEA-18")
@pytest.mark.parametrize("number", ["AS1234563", "BJ1234563", "FS6543210", "GS0000000"])
def test_valid_dea_numbers_pass_the_check_digit(number: str) -> None:
    assert dea_check_digit_valid(number)


@pytest.mark.req("DEA-18")
@pytest.mark.parametrize("number", ["AS1234564", "AS1234560", "AS2134563", "BJ1234569"])
def test_a_wrong_check_digit_or_swapped_digits_fail(number: str) -> None:
    assert not dea_check_digit_valid(number)
    with pytest.raises(ValidationError) as excinfo:
        validate_dea_number(number, number[1])
    assert excinfo.value.code == "dea_checksum"


@pytest.mark.req("DEA-18")
def test_the_check_digit_follows_the_published_formula() -> None:
    # (1 + 3 + 5) + 2 * (2 + 4 + 6) = 33 -> the check digit is 3.
    assert with_check_digit("AS", "123456") == "AS1234563"
    for six in ("000001", "987654", "555555", "102938"):
        number = with_check_digit("AH", six)
        assert dea_check_digit_valid(number)
        wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
        assert not dea_check_digit_valid(wrong)


@pytest.mark.req("DEA-18")
def test_the_second_letter_must_match_the_last_name() -> None:
    validate_dea_number("AS1234563", "Smith")
    with pytest.raises(ValidationError) as excinfo:
        validate_dea_number("AS1234563", "Jones")
    assert excinfo.value.code == "dea_name"
    assert "first letter of the registrant's last name (J)" in excinfo.value.messages[0]


@pytest.mark.req("DEA-18")
def test_a_mid_level_practitioner_may_have_9_as_second_character() -> None:
    number = with_check_digit("M9", "123456")
    validate_dea_number(number, "Nguyen")
    # 9 is allowed only with the mid-level prefix M.
    with pytest.raises(ValidationError) as excinfo:
        validate_dea_number(with_check_digit("A9", "123456"), "Nguyen")
    assert excinfo.value.code == "dea_name"


@pytest.mark.req("DEA-18")
@pytest.mark.req("ASVS-10")
@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("", "dea_format"),
        ("AS123456", "dea_format"),
        ("AS12345633", "dea_format"),
        ("A11234563", "dea_name"),
        ("ASl234563", "dea_format"),
        ("AS12345²3", "dea_format"),
        ("ÀS1234563", "dea_format"),
        ("CS1234563", "dea_type"),
        ("XS1234563", "dea_type"),
    ],
)
def test_malformed_dea_numbers_get_a_clear_reason(number: str, code: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        validate_dea_number(number, "Smith")
    assert excinfo.value.code == code


# --- through eRx Info ----------------------------------------------------------------
@pytest.fixture
def house(clinician: User) -> Provider:
    return Provider.objects.get(user=clinician)


@pytest.mark.req("DEA-18")
@pytest.mark.req("DEA-13")
def test_a_valid_dea_registration_is_added_and_audited(clinician_client: Client, house: Provider) -> None:
    response = clinician_client.post(DEA_ADD, dea_form(" ah1234563 "))
    assert response.status_code == 302
    registration = DeaRegistration.objects.get(provider=house)
    assert registration.number == "AH1234563"
    assert (registration.schedule_2, registration.schedule_2n, registration.schedule_5) == (True, False, True)
    page = clinician_client.get(ERX_INFO).content.decode()
    assert "AH1234563" in page and "Prescriber Credentials" in page
    event = AuditEvent.objects.get(action="credentials.dea_added")
    assert event.actor_id == house.user_id and event.details["number"] == "AH1234563"


@pytest.mark.req("DEA-18")
@pytest.mark.req("ASVS-10")
@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("AH1234564", "fails its check digit"),
        ("AS1234563", "first letter of the registrant&#x27;s last name (H)"),
        ("AH12", "2 letters followed by 7 digits"),
    ],
)
def test_a_bad_dea_number_saves_nothing_and_says_why(
    clinician_client: Client, house: Provider, number: str, message: str
) -> None:
    response = clinician_client.post(DEA_ADD, dea_form(number))
    assert response.status_code == 400
    body = response.content.decode()
    assert message in body
    assert "Nothing was saved." in body
    assert not DeaRegistration.objects.exists()
    assert not AuditEvent.objects.filter(action="credentials.dea_added").exists()


@pytest.mark.req("ASVS-10")
def test_other_bad_fields_save_nothing(clinician_client: Client) -> None:
    cases = [
        dea_form("AH1234563", state="ZZ"),
        dea_form("AH1234563", expires_on="not a date"),
        dea_form("AH1234563", expires_on=(timezone.localdate() - dt.timedelta(days=1)).isoformat()),
        {"number": "AH1234563", "state": "NJ", "expires_on": future()},  # no schedule at all
        {},
    ]
    for data in cases:
        assert clinician_client.post(DEA_ADD, data).status_code == 400
    assert not DeaRegistration.objects.exists()


@pytest.mark.req("DEA-18")
def test_a_dea_number_registered_to_someone_else_is_refused(
    clinician_client: Client, house: Provider, make_user: Callable[..., User]
) -> None:
    other_user = make_user("dr.hart", last_name="Hart")
    other = Provider.objects.create(user=other_user, display_name="Dr. Hart")
    DeaRegistration.objects.create(provider=other, number="AH1234563", state="NY", expires_on=timezone.localdate())
    response = clinician_client.post(DEA_ADD, dea_form("AH1234563"))
    assert response.status_code == 400
    assert "already registered" in response.content.decode()
    assert not DeaRegistration.objects.filter(provider=house).exists()


@pytest.mark.req("ASVS-06")
def test_nobody_edits_or_removes_another_prescribers_registration(
    clinician_client: Client, make_user: Callable[..., User]
) -> None:
    other = Provider.objects.create(user=make_user("dr.hart", last_name="Hart"), display_name="Dr. Hart")
    registration = DeaRegistration.objects.create(
        provider=other, number="AH1234563", state="NY", expires_on=timezone.localdate() + dt.timedelta(days=30)
    )
    license_ = StateLicense.objects.create(
        provider=other, state="NY", number="12345", expires_on=registration.expires_on
    )
    for url in (
        f"/account/credentials/dea/{registration.pk}/edit/",
        f"/account/credentials/dea/{registration.pk}/remove/",
        f"/account/credentials/dea/{registration.pk}/revoke/",
        f"/account/credentials/licenses/{license_.pk}/edit/",
        f"/account/credentials/licenses/{license_.pk}/remove/",
    ):
        assert clinician_client.post(url, dea_form("AH1234563")).status_code == 404
    registration.refresh_from_db()
    assert registration.revoked_at is None
    assert StateLicense.objects.filter(pk=license_.pk).exists()


def test_credentials_need_a_signed_in_user() -> None:
    response = Client().post(DEA_ADD, dea_form("AH1234563"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.req("DEA-13")
def test_editing_a_registration_is_audited_with_the_changes(clinician_client: Client, house: Provider) -> None:
    registration = DeaRegistration.objects.create(
        provider=house, number="AH1234563", state="NJ", expires_on=timezone.localdate() + dt.timedelta(days=10)
    )
    new_expiry = future(700)
    response = clinician_client.post(
        f"/account/credentials/dea/{registration.pk}/edit/", dea_form("AH1234563", expires_on=new_expiry)
    )
    assert response.status_code == 302
    registration.refresh_from_db()
    assert registration.expires_on.isoformat() == new_expiry
    event = AuditEvent.objects.get(action="credentials.dea_changed")
    assert event.details["changes"]["expires_on"]["to"] == new_expiry


def test_removing_an_unused_registration(clinician_client: Client, house: Provider) -> None:
    registration = DeaRegistration.objects.create(
        provider=house, number="AH1234563", state="NJ", expires_on=timezone.localdate() + dt.timedelta(days=10)
    )
    response = clinician_client.post(f"/account/credentials/dea/{registration.pk}/remove/", follow=True)
    assert "has been removed" in response.content.decode()
    assert not DeaRegistration.objects.exists()
    assert AuditEvent.objects.filter(action="credentials.dea_removed").exists()


def _make_prescription(provider: Provider, registration: DeaRegistration) -> Any:
    """A prescription that names the registration (the eprescribe app's own models)."""
    from django.apps import apps

    address = {"address_line1": "1 Main St", "city": "Trenton", "state": "NJ", "postal_code": "08601"}
    # Patients and prescriptions belong to a practice: the prescriber's.
    practice = provider.user.memberships.get().practice
    patient = apps.get_model("eprescribe", "Patient").objects.create(
        practice=practice, first_name="Pat", last_name="Doe", date_of_birth=dt.date(1980, 1, 1), **address
    )
    pharmacy = apps.get_model("eprescribe", "Pharmacy").objects.create(
        ncpdp_id="1234567", name="Main St Pharmacy", phone="6095550100", **address
    )
    medication = apps.get_model("eprescribe", "Medication").objects.create(
        name="Oxycodone", strength="5 mg", dosage_form="tablet", dea_schedule="2"
    )
    return apps.get_model("eprescribe", "Prescription").objects.create(
        practice=practice,
        patient=patient,
        prescriber=provider,
        dea_registration=registration,
        medication=medication,
        pharmacy=pharmacy,
        quantity=10,
        directions="1 tablet every 6 hours as needed",
        written_date=timezone.localdate(),
        created_by=provider.user,
    )


@pytest.mark.req("DEA-13")
def test_a_registration_used_on_prescriptions_cannot_be_removed(clinician_client: Client, house: Provider) -> None:
    registration = DeaRegistration.objects.create(
        provider=house, number="AH1234563", state="NJ", expires_on=timezone.localdate() + dt.timedelta(days=10)
    )
    _make_prescription(house, registration)
    response = clinician_client.post(f"/account/credentials/dea/{registration.pk}/remove/", follow=True)
    body = response.content.decode()
    assert "is used on prescriptions, so it cannot be removed" in body
    assert DeaRegistration.objects.filter(pk=registration.pk).exists()
    assert AuditEvent.objects.filter(action="credentials.dea_remove_refused", outcome="denied").exists()
    # Nor can its number change under the prescriptions that carry it.
    response = clinician_client.post(
        f"/account/credentials/dea/{registration.pk}/edit/", dea_form(with_check_digit("AH", "765432"))
    )
    assert response.status_code == 400
    assert "its number cannot change" in response.content.decode()
    registration.refresh_from_db()
    assert registration.number == "AH1234563"


@pytest.mark.req("DEA-04")
def test_marking_a_registration_revoked_stops_signing_with_it(clinician_client: Client, house: Provider) -> None:
    registration = DeaRegistration.objects.create(
        provider=house, number="AH1234563", state="NJ", expires_on=timezone.localdate() + dt.timedelta(days=10)
    )
    clinician_client.post(f"/account/credentials/dea/{registration.pk}/revoke/")
    registration.refresh_from_db()
    assert registration.revoked_at is not None
    reason = epcs_block_reason(house, house.user.memberships.get().practice, registration)
    assert reason is not None


# --- state licenses, Medicaid id, prescribing name -------------------------------------
@pytest.mark.req("DEA-13")
def test_state_licenses_are_added_edited_and_removed(clinician_client: Client, house: Provider) -> None:
    response = clinician_client.post(
        "/account/credentials/licenses/add/", {"state": "NJ", "number": "25MA12345", "expires_on": future()}
    )
    assert response.status_code == 302
    license_ = StateLicense.objects.get(provider=house)
    assert "25MA12345" in clinician_client.get(ERX_INFO).content.decode()
    clinician_client.post(
        f"/account/credentials/licenses/{license_.pk}/edit/",
        {"state": "NY", "number": "25MA12345", "expires_on": future(30)},
    )
    license_.refresh_from_db()
    assert license_.state == "NY"
    clinician_client.post(f"/account/credentials/licenses/{license_.pk}/remove/")
    assert not StateLicense.objects.exists()
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"credentials.license_added", "credentials.license_changed", "credentials.license_removed"} <= actions


@pytest.mark.req("ASVS-10")
def test_a_bad_state_license_saves_nothing(clinician_client: Client) -> None:
    for data in (
        {"state": "XX", "number": "1", "expires_on": future()},
        {"state": "NJ", "number": "<script>", "expires_on": future()},
        {"state": "NJ", "number": "", "expires_on": future()},
    ):
        response = clinician_client.post("/account/credentials/licenses/add/", data)
        assert response.status_code == 400
        assert "Nothing was saved." in response.content.decode()
    assert not StateLicense.objects.exists()


@pytest.mark.req("DEA-13")
def test_medicaid_id_and_prescribing_name(clinician_client: Client, house: Provider) -> None:
    page = clinician_client.get(ERX_INFO).content.decode()
    assert "Physician Medicaid Provider id" in page
    assert "The prescribing physician&#x27;s name displayed in eRx. Leave blank if the same as user&#x27;s name" in page
    response = clinician_client.post(
        "/account/credentials/details/", {"medicaid_id": "NJ-778899", "prescribing_name": "Gregory House, MD"}
    )
    assert response.status_code == 302
    house.refresh_from_db()
    assert (house.medicaid_id, house.name_for_erx) == ("NJ-778899", "Gregory House, MD")
    assert AuditEvent.objects.filter(action="credentials.prescriber_details_changed").exists()
    # Blank prescribing name: eRx shows the user's name.
    clinician_client.post("/account/credentials/details/", {"medicaid_id": "NJ-778899", "prescribing_name": ""})
    house.refresh_from_db()
    assert house.name_for_erx == "Dr. Gregory House"


@pytest.mark.req("ASVS-10")
def test_a_bad_medicaid_id_saves_nothing(clinician_client: Client, house: Provider) -> None:
    response = clinician_client.post(
        "/account/credentials/details/", {"medicaid_id": "12; DROP TABLE", "prescribing_name": "X" * 151}
    )
    assert response.status_code == 400
    house.refresh_from_db()
    assert (house.medicaid_id, house.prescribing_name) == ("", "")
