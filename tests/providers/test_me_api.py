"""GET /api/v1/me/ (providers.me_api): provider, practices and roles, identity, EPCS
permission and readiness to sign with the page's reason."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.test import Client
from django.utils import timezone

from providers.epcs import epcs_block_reason
from providers.models import (
    DeaRegistration,
    EpcsPermission,
    EpcsPermissionState,
    IdentityAssurance,
    Practice,
    PracticeRole,
    Provider,
    User,
)
from tests.conftest import TEST_PASSWORD, join, token_client
from tests.registry_fixtures import verified_registration


@pytest.mark.req("DEA-02")
@pytest.mark.req("DEA-16")
def test_me_says_why_signing_is_blocked_until_the_prescriber_is_ready(
    clinician: User, clinician_client: Client, practice: Practice
) -> None:
    provider = Provider.objects.get(user=clinician)
    join(clinician, practice, PracticeRole.AUDITOR)

    me = clinician_client.get("/api/v1/me/").json()
    assert me["username"] == "dr.house" and me["provider"]["display_name"] == "Dr. Gregory House"
    not_ready = {"ready": False, "reason": epcs_block_reason(provider, practice)}
    assert me["practices"] == [
        {
            "id": practice.pk,
            "name": practice.name,
            "roles": ["auditor", "prescriber"],
            "epcs_permission": "none",
            "signing": not_ready,
        }
    ]
    assert me["practice"] == {"id": practice.pk, "name": practice.name}
    assert me["roles"] == ["auditor", "prescriber"]
    assert me["identity"] == {"linked": False, "confirmed": False, "ial": "", "verified_at": None}
    assert me["epcs_permission"]["state"] == "none"
    assert me["signing"] == not_ready
    assert "Verify your identity" in me["signing"]["reason"]

    provider.identity_ial = IdentityAssurance.IAL2
    provider.identity_verified_at = timezone.now()
    provider.save()
    assert "EPCS permission" in clinician_client.get("/api/v1/me/").json()["signing"]["reason"]

    verified_registration(
        DeaRegistration.objects.create(
            provider=provider, number="AH1234563", state="NJ", expires_on=timezone.localdate() + dt.timedelta(days=90)
        )
    )
    EpcsPermission.objects.create(
        provider=provider,
        practice=practice,
        state=EpcsPermissionState.GRANTED,
        granted_at=timezone.now(),
        requested_at=timezone.now(),
    )
    me = clinician_client.get("/api/v1/me/").json()
    assert me["identity"]["confirmed"] is True and me["epcs_permission"]["state"] == "granted"
    assert me["dea_registrant"] is True and me["access_manager"] is False
    assert me["signing"] == {"ready": True, "reason": ""}


def test_me_for_staff_without_a_provider_profile_creates_nothing(make_user: Callable[..., User]) -> None:
    make_user("nurse.joy", is_staff=True)
    client = Client()
    assert client.login(username="nurse.joy", password=TEST_PASSWORD)
    me = client.get("/api/v1/me/").json()
    assert me["provider"] is None and me["identity"] is None and me["epcs_permission"] is None
    assert me["signing"]["ready"] is False and me["signing"]["reason"]
    assert not Provider.objects.filter(user__username="nurse.joy").exists()
    assert Client().get("/api/v1/me/").status_code in (401, 403)


@pytest.mark.req("DEA-16")
@pytest.mark.req("ASVS-11")
def test_me_answers_for_the_practice_of_the_call_and_each_practice_in_the_list(
    clinician: User, practice: Practice, other_practice: Practice
) -> None:
    """EPCS permission is per practice: a locum granted in one practice may sign there only."""
    provider = Provider.objects.get(user=clinician)
    provider.identity_ial = IdentityAssurance.IAL2
    provider.identity_verified_at = timezone.now()
    provider.save()
    verified_registration(
        DeaRegistration.objects.create(
            provider=provider, number="AH1234563", state="NJ", expires_on=timezone.localdate() + dt.timedelta(days=90)
        )
    )
    EpcsPermission.objects.create(
        provider=provider,
        practice=practice,
        state=EpcsPermissionState.GRANTED,
        granted_at=timezone.now(),
        requested_at=timezone.now(),
    )
    join(clinician, other_practice, PracticeRole.PRESCRIBER, PracticeRole.ACCESS_MANAGER)
    client = token_client(clinician, "profile:read")  # with a personal access token
    unnamed = client.get("/api/v1/me/").json()
    assert unnamed["practice"] is None and unnamed["access_manager"] is False
    assert unnamed["signing"]["ready"] is False and "X-Practice-Id" in unnamed["signing"]["reason"]
    by_id = {entry["id"]: entry for entry in unnamed["practices"]}
    assert by_id[practice.pk]["signing"] == {"ready": True, "reason": ""}
    assert by_id[practice.pk]["epcs_permission"] == "granted"
    assert by_id[other_practice.pk]["epcs_permission"] == "none"
    assert by_id[other_practice.pk]["signing"]["reason"] == epcs_block_reason(provider, other_practice)
    here = client.get("/api/v1/me/", HTTP_X_PRACTICE_ID=str(practice.pk)).json()
    assert here["signing"] == {"ready": True, "reason": ""} and here["epcs_permission"]["state"] == "granted"
    assert here["dea_registrant"] is True and here["access_manager"] is False and here["roles"] == ["prescriber"]
    there = client.get("/api/v1/me/", HTTP_X_PRACTICE_ID=str(other_practice.pk)).json()
    assert there["signing"]["ready"] is False and "EPCS permission" in there["signing"]["reason"]
    assert there["epcs_permission"]["state"] == "none" and there["access_manager"] is True
    assert token_client(clinician, "mfa:read").get("/api/v1/me/").status_code == 403
