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
    Membership,
    Practice,
    PracticeRole,
    Provider,
    User,
)
from tests.conftest import TEST_PASSWORD
from tests.registry_fixtures import verified_registration


@pytest.mark.req("DEA-02")
@pytest.mark.req("DEA-16")
def test_me_says_why_signing_is_blocked_until_the_prescriber_is_ready(
    clinician: User, clinician_client: Client
) -> None:
    provider = Provider.objects.get(user=clinician)
    practice = Practice.objects.create(name="Princeton Plainsboro")
    Membership.objects.create(user=clinician, practice=practice, role=PracticeRole.PRESCRIBER)
    Membership.objects.create(user=clinician, practice=practice, role=PracticeRole.AUDITOR)

    me = clinician_client.get("/api/v1/me/").json()
    assert me["username"] == "dr.house" and me["provider"]["display_name"] == "Dr. Gregory House"
    assert me["practices"] == [{"id": practice.pk, "name": "Princeton Plainsboro", "roles": ["auditor", "prescriber"]}]
    assert me["identity"] == {"linked": False, "confirmed": False, "ial": "", "verified_at": None}
    assert me["epcs_permission"]["state"] == "none"
    assert me["signing"]["ready"] is False
    assert me["signing"]["reason"] == epcs_block_reason(provider)
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
        provider=provider, state=EpcsPermissionState.GRANTED, granted_at=timezone.now(), requested_at=timezone.now()
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
