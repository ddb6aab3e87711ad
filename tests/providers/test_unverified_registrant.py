"""The attack of issue 8, section 2, from the attacker's side: typing a check-digit-valid DEA
number on one's own eRx Info does not make a DEA registrant (DEA-03, DEA-20)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from epcs_access.services import PermissionRefused, enter_request, requests_awaiting
from mfa.models import ProviderDevice
from providers.models import (
    DeaRegistration,
    EpcsPermissionRequest,
    IdentityAssurance,
    Practice,
    PracticeRole,
    Provider,
    User,
)
from providers.roles import is_registrant
from tests.conftest import join, login_through_form
from tests.registry_fixtures import verified_registration


def signed_in(user: User) -> Client:
    client = Client()
    assert login_through_form(client, user.username).status_code == 302
    return client


def typed_on_erx_info(client: Client, number: str) -> DeaRegistration:
    """What an attacker does: enter a number that passes the DEA rule on their own eRx Info."""
    response = client.post(
        "/account/credentials/dea/add/",
        {
            "number": number,
            "state": "NJ",
            "expires_on": "2099-12-31",
            "schedule_2": "on",
            "schedule_3": "on",
            "schedule_4": "on",
            "schedule_5": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    return DeaRegistration.objects.get(number=number)


@pytest.fixture
def manager(make_user: Callable[..., User], practice: Practice) -> User:
    user = make_user("manager.lee", first_name="Casey", last_name="Lee")
    return join(user, practice, PracticeRole.ACCESS_MANAGER)


@pytest.fixture
def applicant(make_user: Callable[..., User], practice: Practice) -> Provider:
    """Dr. Wilson, a prescriber of `practice` waiting for EPCS: identity confirmed, a verified registration."""
    user = join(make_user("dr.wilson", first_name="James", last_name="Wilson"), practice)
    provider = Provider.objects.create(
        user=user,
        display_name="Dr. James Wilson",
        identity_ial=IdentityAssurance.IAL2,
        identity_verified_at=timezone.now(),
    )
    verified_registration(
        DeaRegistration.objects.create(
            provider=provider, number="AW1234563", state="NJ", expires_on=timezone.localdate() + dt.timedelta(days=300)
        )
    )
    return provider


@pytest.mark.req("DEA-03")
@pytest.mark.req("DEA-20")
def test_a_typed_number_does_not_let_anyone_approve_others_epcs_grants(
    clinician: User, manager: User, applicant: Provider, practice: Practice
) -> None:
    attacker = signed_in(clinician)  # Dr. House
    registration = typed_on_erx_info(attacker, "AH1234563")
    ProviderDevice.objects.create(
        provider=registration.provider, idme_device_id="dev-house", name="Phone", kind="totp", added_at=timezone.now()
    )
    pending = enter_request(actor=manager, practice=practice, provider=applicant, action="grant")
    assert not is_registrant(clinician, practice)
    assert requests_awaiting(clinician, practice) == []
    device = ProviderDevice.objects.get(idme_device_id="dev-house")
    response = attacker.post(
        f"/account/epcs-permissions/requests/{pending.pk}/approve/", {"step": "start", "device": device.pk}
    )
    assert response.status_code == 404
    pending.refresh_from_db()
    assert pending.status == "pending" and pending.approved_by is None
    # Once an access manager verified it against the registry, the same person may approve.
    verified_registration(registration, verifier=manager)
    assert is_registrant(clinician, practice)
    assert [r.pk for r in requests_awaiting(clinician, practice)] == [pending.pk]


@pytest.mark.req("DEA-20")
def test_a_typed_number_does_not_qualify_a_prescriber_for_an_epcs_grant(
    clinician: User, manager: User, practice: Practice
) -> None:
    house = Provider.objects.get(user=clinician)
    house.identity_ial = IdentityAssurance.IAL2
    house.identity_verified_at = timezone.now()
    house.save()
    typed_on_erx_info(signed_in(clinician), "AH1234563")
    with pytest.raises(PermissionRefused) as refused:
        enter_request(actor=manager, practice=practice, provider=house, action="grant")
    assert "no current DEA registration verified against the DEA registry" in refused.value.message
    assert not EpcsPermissionRequest.objects.exists()
    assert AuditEvent.objects.filter(action="epcs.permission_request_refused").exists()


@pytest.mark.req("DEA-20")
def test_the_admin_shows_verification_read_only(clinician: User, manager: User, applicant: Provider) -> None:
    typed_on_erx_info(signed_in(clinician), "AH1234563")
    root = User.objects.create_superuser("root", "root@example.test", "Root-Password-42")
    client = Client()
    client.force_login(root)
    page = client.get("/admin/providers/dearegistration/").content.decode()
    assert "Verified" in page and "registry.verifier" in page
    verified = DeaRegistration.objects.get(number="AW1234563")
    change = client.get(f"/admin/providers/dearegistration/{verified.pk}/change/").content.decode()
    assert "Registry answer" in change and "AW1234563" in change
    response = client.post(
        f"/admin/providers/dearegistration/{verified.pk}/change/", {"verified_at": "", "verified_fingerprint": ""}
    )
    assert response.status_code == 403
    assert DeaRegistration.objects.get(pk=verified.pk).verified_at is not None
