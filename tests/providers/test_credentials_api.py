"""/api/v1/credentials/ (providers.credentials.api): the prescriber lists and adds their own
DEA registrations and state licenses, with eRx Info's checks; added ones are unverified."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from providers.models import DeaRegistration, Provider, StateLicense, User
from tests.conftest import TEST_PASSWORD

DEA = "/api/v1/credentials/dea-registrations/"
LICENSES = "/api/v1/credentials/state-licenses/"


def post(client: Client, url: str, body: Any) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json")


def future(days: int = 365) -> str:
    return (timezone.localdate() + dt.timedelta(days=days)).isoformat()


@pytest.mark.req("DEA-18")
@pytest.mark.req("DEA-20")
@pytest.mark.req("DEA-13")
def test_a_prescriber_adds_a_dea_registration_which_stays_unverified(clinician: User, clinician_client: Client) -> None:
    added = post(clinician_client, DEA, {"number": "ah1234563", "state": "NJ", "expires_on": future()})
    assert added.status_code == 201, added.content
    body = added.json()
    assert body["number"] == "AH1234563" and body["schedule_2"] is True
    assert body["verified"] is False and body["counts"] is False and "verif" in body["status"].lower()
    assert [row["id"] for row in clinician_client.get(DEA).json()] == [body["id"]]
    registration = DeaRegistration.objects.get()
    assert registration.provider.user == clinician and registration.verified_at is None
    assert AuditEvent.objects.filter(action="credentials.dea_added", actor=clinician).count() == 1


@pytest.mark.req("DEA-18")
@pytest.mark.req("ASVS-10")
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"number": "AH1234564", "state": "NJ"}, "number"),  # wrong check digit
        ({"number": "AX1234563", "state": "NJ"}, "number"),  # second letter is not H(ouse)
        ({"number": "AH1234563", "state": "ZZ"}, "state"),
        ({"number": "AH1234563", "state": "NJ", "expires_on": "2001-01-01"}, "expires_on"),
        (
            {
                "number": "AH1234563",
                "state": "NJ",
                "schedule_2": False,
                "schedule_2n": False,
                "schedule_3": False,
                "schedule_3n": False,
                "schedule_4": False,
                "schedule_5": False,
            },
            "non_field_errors",
        ),
        ({"number": "AH1234563", "state": "NJ", "verified_at": "2026-01-01T00:00:00Z"}, "verified_at"),
    ],
)
def test_a_bad_registration_is_refused_with_the_pages_reason_and_nothing_saved(
    clinician_client: Client, body: dict[str, Any], field: str
) -> None:
    response = post(clinician_client, DEA, {"expires_on": future(), **body})
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"
    assert field in {error["attr"] for error in response.json()["errors"]}
    assert not DeaRegistration.objects.exists()


@pytest.mark.req("DEA-20")
def test_a_prescriber_adds_a_state_license(clinician_client: Client) -> None:
    added = post(clinician_client, LICENSES, {"state": "NJ", "number": "25MA01234500", "expires_on": future()})
    assert added.status_code == 201 and added.json()["verified"] is False
    again = post(clinician_client, LICENSES, {"state": "NJ", "number": "25MA01234500", "expires_on": future()})
    assert again.status_code == 400 and "already entered" in json.dumps(again.json())
    bad = post(clinician_client, LICENSES, {"state": "NJ", "number": "<script>", "expires_on": future()})
    assert bad.status_code == 400 and "number" in {error["attr"] for error in bad.json()["errors"]}
    assert StateLicense.objects.count() == 1


@pytest.mark.req("ASVS-06")
def test_another_prescribers_credentials_are_not_listed_or_found(
    clinician_client: Client, make_user: Callable[..., User]
) -> None:
    wilson = make_user("dr.wilson", first_name="James", last_name="Wilson")
    other = Provider.objects.create(user=wilson, display_name="Dr. James Wilson")
    registration = DeaRegistration.objects.create(provider=other, number="AW1234563", state="NJ", expires_on=future())
    license_ = StateLicense.objects.create(provider=other, state="NJ", number="X1", expires_on=future())
    assert clinician_client.get(DEA).json() == [] and clinician_client.get(LICENSES).json() == []
    assert clinician_client.get(f"{DEA}{registration.pk}/").status_code == 404
    assert clinician_client.get(f"{LICENSES}{license_.pk}/").status_code == 404
    wilson_client = Client()
    assert wilson_client.login(username="dr.wilson", password=TEST_PASSWORD)
    assert [row["number"] for row in wilson_client.get(DEA).json()] == ["AW1234563"]
