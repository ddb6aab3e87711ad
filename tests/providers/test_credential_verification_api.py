"""Credential verification through the API (providers.credentials.verification_api): the
page's steps and service, for the access managers of the practice the call works in and that
practice's people only, against the DEA registry over HTTP."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from providers.credentials.rules import license_is_verified, registration_is_verified
from providers.models import DeaRegistration, Practice, PracticeRole, Provider, StateLicense, User
from tests.conftest import TEST_PASSWORD, join, token_client
from tests.registry_fixtures import DeaRegistryHandle

CREDENTIALS = "/api/v1/credentials/"


def post(client: Client, url: str, body: Any = None) -> Any:
    return client.post(url, json.dumps(body or {}), content_type="application/json")


def signed_in(username: str) -> Client:
    client = Client()
    assert client.login(username=username, password=TEST_PASSWORD)
    return client


def future(days: int = 365) -> str:
    return (timezone.localdate() + dt.timedelta(days=days)).isoformat()


@pytest.fixture
def manager(make_user: Callable[..., User], practice: Practice) -> User:
    user = make_user("manager.lee", first_name="Casey", last_name="Lee")
    return join(user, practice, PracticeRole.ACCESS_MANAGER)


@pytest.mark.req("DEA-20")
@pytest.mark.req("ASVS-06")
def test_an_access_manager_verifies_a_prescribers_registration_against_the_registry(
    dea_registry_live: DeaRegistryHandle, clinician: User, clinician_client: Client, manager: User
) -> None:
    added = post(
        clinician_client,
        CREDENTIALS + "dea-registrations/",
        {"number": "AH1234563", "state": "NJ", "expires_on": future()},
    )
    assert added.status_code == 201
    pk = added.json()["id"]
    # The prescriber can neither see the queue nor verify their own.
    refused = clinician_client.get(CREDENTIALS + "unverified/")
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    assert post(clinician_client, f"{CREDENTIALS}dea-registrations/{pk}/verify/").status_code == 403
    manager_client = signed_in("manager.lee")
    pending = manager_client.get(CREDENTIALS + "unverified/").json()
    assert [r["number"] for r in pending["dea_registrations"]] == ["AH1234563"]
    assert pending["dea_registrations"][0]["provider_name"] == "Dr. Gregory House"
    # Not in the registry: refused, naming why; nothing verified.
    missing = post(manager_client, f"{CREDENTIALS}dea-registrations/{pk}/verify/")
    assert missing.status_code == 409 and missing.json()["code"] == "not_in_registry"
    registration = DeaRegistration.objects.get(pk=pk)
    dea_registry_live.add_matching(registration)
    verified = post(manager_client, f"{CREDENTIALS}dea-registrations/{pk}/verify/")
    assert verified.status_code == 200, verified.content
    assert verified.json()["verified"] is True and verified.json()["counts"] is True
    registration.refresh_from_db()
    assert registration_is_verified(registration) and registration.verified_by == manager
    assert clinician_client.get(f"{CREDENTIALS}dea-registrations/{pk}/").json()["verified"] is True
    assert post(manager_client, f"{CREDENTIALS}dea-registrations/999999/verify/").status_code == 404
    assert AuditEvent.objects.filter(action="credentials.verification_page_refused", actor=clinician).exists()


@pytest.mark.req("DEA-20")
def test_an_access_manager_records_a_license_check_but_not_their_own(
    clinician: User, clinician_client: Client, manager: User
) -> None:
    added = post(
        clinician_client, CREDENTIALS + "state-licenses/", {"state": "NJ", "number": "25MA0001", "expires_on": future()}
    )
    pk = added.json()["id"]
    manager_client = signed_in("manager.lee")
    incomplete = post(manager_client, f"{CREDENTIALS}state-licenses/{pk}/verify/", {"source": "NJ board"})
    assert incomplete.status_code == 400 and incomplete.json()["code"] == "invalid"
    assert [error["attr"] for error in incomplete.json()["errors"]] == ["reference"]
    checked = post(
        manager_client,
        f"{CREDENTIALS}state-licenses/{pk}/verify/",
        {"source": "NJ Division of Consumer Affairs license lookup", "reference": "LK-20261130-17"},
    )
    assert checked.status_code == 200 and checked.json()["verified"] is True
    assert license_is_verified(StateLicense.objects.get(pk=pk))
    # Their own credential: refused by the service, as on the page.
    own = StateLicense.objects.create(
        provider=Provider.objects.create(user=manager, display_name="Casey Lee"),
        state="NJ",
        number="25MA0002",
        expires_on=timezone.localdate() + dt.timedelta(days=30),
    )
    refused = post(manager_client, f"{CREDENTIALS}state-licenses/{own.pk}/verify/", {"source": "x", "reference": "y"})
    assert refused.status_code == 403 and refused.json()["code"] == "own_credential"
    assert not license_is_verified(own)


@pytest.mark.req("ASVS-11")
@pytest.mark.req("DEA-20")
def test_another_practices_credentials_are_not_listed_and_their_ids_are_not_found(
    clinician: User, manager: User, other_practice: Practice, make_user: Callable[..., User]
) -> None:
    ours = StateLicense.objects.create(
        provider=Provider.objects.get(user=clinician), state="NJ", number="25MA0003", expires_on=future_date()
    )
    outsider = join(make_user("dr.cuddy", first_name="Lisa", last_name="Cuddy"), other_practice)
    provider = Provider.objects.create(user=outsider, display_name="Dr. Lisa Cuddy")
    their_license = StateLicense.objects.create(
        provider=provider, state="CA", number="A12345", expires_on=future_date()
    )
    their_dea = DeaRegistration.objects.create(
        provider=provider, number="AC1234563", state="CA", expires_on=future_date()
    )
    client = token_client(manager, "credentials:read", "credentials:write")  # a personal access token
    pending = client.get(CREDENTIALS + "unverified/").json()
    assert [lic["id"] for lic in pending["state_licenses"]] == [ours.pk] and pending["dea_registrations"] == []
    body = {"source": "CA board", "reference": "X-1", "password": TEST_PASSWORD}
    for answer in (
        post(client, f"{CREDENTIALS}state-licenses/{their_license.pk}/verify/", body),
        post(client, f"{CREDENTIALS}dea-registrations/{their_dea.pk}/verify/", {"password": TEST_PASSWORD}),
    ):
        assert answer.status_code == 404 and answer.json()["code"] == "not_found"
    assert not license_is_verified(StateLicense.objects.get(pk=their_license.pk))
    # The password factor: a token alone is not it; the password in the body is.
    unconfirmed = post(client, f"{CREDENTIALS}state-licenses/{ours.pk}/verify/", {"source": "NJ", "reference": "R"})
    assert unconfirmed.status_code == 403 and unconfirmed.json()["code"] == "reauthentication_required"
    checked = post(client, f"{CREDENTIALS}state-licenses/{ours.pk}/verify/", {**body, "source": "NJ board"})
    assert checked.status_code == 200 and checked.json()["verified"] is True


def future_date(days: int = 365) -> dt.date:
    return timezone.localdate() + dt.timedelta(days=days)
