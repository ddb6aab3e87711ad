"""EPCS permissions, credential verification and identity reviews are practice-scoped (issue 10;
docs/epcs-permissions.md "Practices"): an access manager of practice A sees and changes only A's
people, requests and notices; the approver is a DEA registrant of the same practice; a lost
device revokes EPCS in every practice of the person.

Practice A is the `practice` fixture (Dr. House, Dr. Jones, manager.lee), practice B is
`other_practice` (Dr. Wilson, Dr. Chase, manager.ortiz).
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.core import mail
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from epcs_access.services import PermissionRefused, approval_refusal, enter_request, revoke_lapsed_permissions
from mfa import challenges
from mfa.models import ProviderDevice, VerificationChallenge
from providers.demo import seed_granted_permission
from providers.epcs import epcs_block_reason
from providers.models import (
    DeaRegistration,
    EpcsAccessNotice,
    EpcsPermission,
    EpcsPermissionRequest,
    EpcsPermissionState,
    IdentityAssurance,
    IdentityMismatch,
    Membership,
    Practice,
    PracticeRole,
    Provider,
    StateLicense,
    User,
)
from providers.practices import PRACTICE_HEADER
from tests.conftest import join, login_through_form
from tests.idme_fixtures import IdmeSandboxHandle
from tests.mfa.challenge_world import make_signing_world
from tests.registry_fixtures import verified_registration

PAGE = "/account/epcs-permissions/"
ENTER = "/account/epcs-permissions/requests/"
LOST = "/account/epcs/report-lost-device/"
VERIFICATION = "/account/credential-verification/"
REVIEWS = "/account/identity-reviews/"
ERX_INFO = "/account/provider-settings/erx-info/"


def signed_in(user: User, practice: Practice | None = None) -> Client:
    """Signed in through the form; a locum then chooses `practice`."""
    client = Client()
    assert login_through_form(client, user.username).status_code == 302
    if practice is not None:
        assert client.post("/practice/choose/", {"practice": practice.pk}).status_code == 302
    return client


def api(client: Client, method: str, url: str, body: object = None, **headers: Any) -> tuple[int, Any]:
    if method == "get":
        response = client.get(url, HTTP_ACCEPT="application/json", headers=headers)
    else:
        response = getattr(client, method)(
            url, data=json.dumps(body or {}), content_type="application/json", headers=headers
        )
    return response.status_code, response.json()


def prescriber(
    make_user: Callable[..., User], username: str, first: str, last: str, dea: str | None, *practices: Practice
) -> Provider:
    """An IAL2-confirmed prescriber of `practices` with a verified DEA registration `dea`."""
    user = make_user(username, first_name=first, last_name=last, email=f"{username}@example.test")
    provider = Provider.objects.create(
        user=user,
        display_name=f"Dr. {first} {last}",
        identity_ial=IdentityAssurance.IAL2,
        identity_verified_at=timezone.now(),
    )
    for practice in practices:
        join(user, practice)
    if dea:
        verified_registration(
            DeaRegistration.objects.create(
                provider=provider, number=dea, state="NJ", expires_on=timezone.localdate() + dt.timedelta(days=300)
            )
        )
    return provider


@dataclass
class TwoPractices:
    a: Practice
    b: Practice
    manager_a: User
    manager_b: User
    house: Provider  # prescriber in A
    jones: User  # DEA registrant in A
    wilson: Provider  # prescriber in B
    chase: Provider  # DEA registrant in B only
    a_request: EpcsPermissionRequest  # grant for Dr. House in A
    b_request: EpcsPermissionRequest  # grant for Dr. Wilson in B
    b_notice: EpcsAccessNotice
    b_registration: DeaRegistration  # unverified, of Dr. Cuddy (B)
    b_license: StateLicense  # unverified, of Dr. Cuddy (B)
    b_mismatch: IdentityMismatch  # pending, of Dr. Cuddy (B)


@pytest.fixture
def two(make_user: Callable[..., User], practice: Practice, other_practice: Practice) -> TwoPractices:
    a, b = practice, other_practice
    manager_a = join(make_user("manager.lee", email="lee@example.test"), a, PracticeRole.ACCESS_MANAGER)
    manager_b = join(make_user("manager.ortiz", email="ortiz@example.test"), b, PracticeRole.ACCESS_MANAGER)
    house = prescriber(make_user, "dr.house", "Gregory", "House", "AH1234563", a)
    jones = prescriber(make_user, "dr.jones", "Brian", "Jones", "BJ1234563", a).user
    wilson = prescriber(make_user, "dr.wilson", "James", "Wilson", "AW1234563", b)
    chase = prescriber(make_user, "dr.chase", "Robert", "Chase", "BC1234563", b)
    cuddy = prescriber(make_user, "dr.cuddy", "Lisa", "Cuddy", None, b)
    b_registration = DeaRegistration.objects.create(
        provider=cuddy, number="BC7654325", state="NJ", expires_on=timezone.localdate() + dt.timedelta(days=300)
    )
    b_license = StateLicense.objects.create(
        provider=cuddy, state="NJ", number="25MA0001", expires_on=timezone.localdate() + dt.timedelta(days=300)
    )
    b_mismatch = IdentityMismatch.objects.create(
        provider=cuddy,
        differences=["last_name"],
        idme_uuid="c0ddc0ddc0ddc0ddc0ddc0ddc0ddc0dd",
        idme_fname="Lisa",
        idme_lname="Cuddington",
        idme_ial=2,
        idme_aal=2,
        ehr_first_name="Lisa",
        ehr_last_name="Cuddy",
    )
    # Dr. Cuddy's lost-device report leaves a notice in B (her only practice).
    signed_in(cuddy.user).post(LOST, {"description": "Pager"})
    return TwoPractices(
        a=a,
        b=b,
        manager_a=manager_a,
        manager_b=manager_b,
        house=house,
        jones=jones,
        wilson=wilson,
        chase=chase,
        a_request=enter_request(actor=manager_a, practice=a, provider=house, action="grant"),
        b_request=enter_request(actor=manager_b, practice=b, provider=wilson, action="grant"),
        b_notice=EpcsAccessNotice.objects.get(practice=b),
        b_registration=b_registration,
        b_license=b_license,
        b_mismatch=b_mismatch,
    )


def assert_b_unchanged(two: TwoPractices) -> None:
    two.b_request.refresh_from_db()
    two.b_notice.refresh_from_db()
    two.b_registration.refresh_from_db()
    two.b_license.refresh_from_db()
    two.b_mismatch.refresh_from_db()
    assert two.b_request.status == "pending"
    assert two.b_notice.dismissed_at is None
    assert two.b_registration.verified_at is None and two.b_license.verified_at is None
    assert two.b_mismatch.is_pending


# --- another practice's ids are 404, its people are in no list -------------------------------
@pytest.mark.req("ASVS-11")
@pytest.mark.req("ASVS-06")
def test_an_access_manager_gets_404_for_another_practices_objects_on_the_pages(two: TwoPractices) -> None:
    client = signed_in(two.manager_a)
    b_pk = two.b_request.pk
    for url in (
        f"/account/epcs-permissions/requests/{b_pk}/cancel/",
        f"/account/epcs-permissions/requests/{b_pk}/approve/",
        f"/account/epcs-permissions/requests/{b_pk}/reject/",
        f"/account/epcs-permissions/notices/{two.b_notice.pk}/dismiss/",
        f"{VERIFICATION}dea/{two.b_registration.pk}/verify/",
        f"{VERIFICATION}licenses/{two.b_license.pk}/verify/",
        f"{REVIEWS}{two.b_mismatch.pk}/confirm/",
        f"{REVIEWS}{two.b_mismatch.pk}/reject/",
    ):
        response = client.post(url, {"reason": "Maiden name", "license-source": "Board", "license-reference": "1"})
        assert response.status_code == 404, url
    assert client.get(f"/account/epcs-permissions/requests/{b_pk}/approve/").status_code == 404
    # Entering a change for B's prescriber: not in the list, like one that does not exist.
    response = client.post(ENTER, {"provider": two.wilson.pk, "action": "grant"})
    assert response.status_code == 400 and "Choose a prescriber from the list." in response.content.decode()
    assert EpcsPermissionRequest.objects.filter(provider=two.wilson).count() == 1
    assert_b_unchanged(two)
    # None of B's people, requests or notices shows on A's pages.
    pages = "".join(client.get(url).content.decode() for url in (PAGE, VERIFICATION, REVIEWS))
    for name in ("Wilson", "Chase", "Cuddy", "BC7654325", "25MA0001", "Pager"):
        assert name not in pages, name
    assert "Dr. Gregory House" in pages and "Dr. Brian Jones" in pages
    # B's own access manager sees them.
    b_pages = "".join(signed_in(two.manager_b).get(url).content.decode() for url in (PAGE, VERIFICATION, REVIEWS))
    for name in ("Dr. James Wilson", "BC7654325", "25MA0001", "Cuddington", "Pager"):
        assert name in b_pages, name
    assert "Dr. Gregory House" not in b_pages


@pytest.mark.req("ASVS-11")
@pytest.mark.req("ASVS-06")
def test_an_access_manager_gets_404_for_another_practices_requests_in_the_api(two: TwoPractices) -> None:
    client = signed_in(two.manager_a)
    b_pk = two.b_request.pk
    assert api(client, "get", f"/api/v1/epcs/requests/{b_pk}/")[0] == 404
    assert api(client, "post", f"/api/v1/epcs/requests/{b_pk}/cancel/")[0] == 404
    assert api(client, "post", f"/api/v1/epcs/requests/{b_pk}/reject/", {"device_id": 1})[0] == 404
    assert api(client, "post", f"/api/v1/epcs/requests/{b_pk}/approval/", {"device_id": 1})[0] == 404
    status, listing = api(client, "get", "/api/v1/epcs/requests/")
    assert status == 200 and [item["id"] for item in listing] == [two.a_request.pk]
    assert listing[0]["practice_id"] == two.a.pk
    status, listing = api(client, "get", "/api/v1/epcs/permissions/")
    assert status == 200 and {item["name"] for item in listing} == {"Dr. Gregory House", "Dr. Brian Jones"}
    status, body = api(client, "post", "/api/v1/epcs/requests/", {"provider_id": two.chase.pk, "action": "grant"})
    assert status == 400 and [(e["attr"], e["detail"]) for e in body["errors"]] == [
        ("provider_id", "No such prescriber.")
    ]
    # Naming B in the header does not make it A's manager's practice.
    status, body = api(client, "get", "/api/v1/epcs/requests/", **{PRACTICE_HEADER: str(two.b.pk)})
    assert status == 403 and "X-Practice-Id" in body["detail"]
    assert_b_unchanged(two)


@pytest.mark.req("ASVS-11")
def test_a_token_client_works_in_the_practice_its_header_names(two: TwoPractices) -> None:
    """A locum's API client names the practice; without it, it is told to."""
    join(two.manager_a, two.b, PracticeRole.ACCESS_MANAGER)  # now an access manager of both
    client = Client()
    client.force_login(two.manager_a)  # no session practice: the API decides from the header
    status, body = api(client, "get", "/api/v1/epcs/requests/")
    assert status == 403 and body["detail"].startswith("Choose a practice")
    status, listing = api(client, "get", "/api/v1/epcs/requests/", **{PRACTICE_HEADER: str(two.b.pk)})
    assert status == 200 and [item["id"] for item in listing] == [two.b_request.pk]
    status, listing = api(client, "get", "/api/v1/epcs/requests/", **{PRACTICE_HEADER: str(two.a.pk)})
    assert status == 200 and [item["id"] for item in listing] == [two.a_request.pk]


# --- the approver is a registrant of the same practice (DEA-03) --------------------------------
@pytest.mark.req("ASVS-11")
@pytest.mark.req("DEA-03")
def test_a_registrant_of_another_practice_cannot_approve(two: TwoPractices) -> None:
    chase = two.chase.user
    device = ProviderDevice.objects.create(
        provider=two.chase, idme_device_id="chase-totp", name="Phone", kind="totp", added_at=timezone.now()
    )
    # Working in B, A's request does not exist for him.
    response = signed_in(chase).post(
        f"/account/epcs-permissions/requests/{two.a_request.pk}/approve/", {"step": "start", "device": device.pk}
    )
    assert response.status_code == 404
    # Even as a member of A (an agent there), he is no registrant of A: he may not approve.
    join(chase, two.a, PracticeRole.AGENT)
    refusal = approval_refusal(two.a_request, chase)
    assert refusal is not None and "DEA registrant of this practice" in refusal
    client = signed_in(chase, two.a)
    assert client.get(f"/account/epcs-permissions/requests/{two.a_request.pk}/approve/").status_code == 404
    assert "Requests awaiting your approval" not in client.get(PAGE).content.decode()
    two.a_request.refresh_from_db()
    assert two.a_request.status == "pending"
    assert epcs_block_reason(two.house, two.a) is not None


@dataclass
class LiveLocum:
    two: TwoPractices
    world: Any  # tests.mfa.challenge_world.SigningWorld of Dr. Jones


@pytest.fixture
def live_locum(idme_sandbox_live: IdmeSandboxHandle, two: TwoPractices) -> LiveLocum:
    """Dr. Jones, a DEA registrant of A, with real ID.me devices at the sandbox; also a locum in B."""
    join(two.jones, two.b)
    return LiveLocum(two, make_signing_world(idme_sandbox_live, two.jones, email="brian.jones@example.test"))


@pytest.mark.req("ASVS-11")
@pytest.mark.req("DEA-03")
@pytest.mark.req("DEA-05")
def test_a_registrant_of_the_same_practice_approves_a_grant_naming_the_registration(live_locum: LiveLocum) -> None:
    two = live_locum.two
    own = two.house.dea_registrations.get()
    two.a_request.delete()
    entered = signed_in(two.manager_a).post(
        ENTER, {"provider": two.house.pk, "action": "revoke", "registration": own.pk}
    )
    assert entered.status_code == 400 and "A revocation names no DEA registration" in entered.content.decode()
    entered = signed_in(two.manager_a).post(
        ENTER, {"provider": two.house.pk, "action": "grant", "registration": own.pk}
    )
    assert entered.status_code == 302
    request = EpcsPermissionRequest.objects.get(provider=two.house, status="pending")
    assert (request.practice, request.registration) == (two.a, own)
    approver = signed_in(two.jones, two.a)
    url = f"/account/epcs-permissions/requests/{request.pk}/approve/"
    response = approver.post(url, {"step": "start", "device": live_locum.world.totp_device.pk})
    challenge_id = response["Location"].split("challenge=")[1]
    response = approver.post(
        url, {"step": "code", "challenge": challenge_id, "code": live_locum.world.code()}, follow=True
    )
    assert "has been granted" in response.content.decode()
    permission = EpcsPermission.objects.get(provider=two.house)
    assert (permission.practice, permission.state, permission.registration) == (two.a, "granted", own)
    assert epcs_block_reason(two.house, two.a) is None
    assert epcs_block_reason(two.house, two.b) is not None  # granted in A only
    granted = AuditEvent.objects.get(action="epcs.permission_granted")
    assert granted.chain_id == two.a.pk and granted.details["registration"] == own.number


@pytest.mark.req("ASVS-11")
@pytest.mark.req("DEA-03")
def test_the_approvers_registrant_role_is_checked_again_when_the_2fa_completes(live_locum: LiveLocum) -> None:
    """Dr. Jones starts 2FA for A's request, then stops being a prescriber of A: the code grants nothing."""
    two = live_locum.two
    approver = signed_in(two.jones, two.a)
    url = f"/account/epcs-permissions/requests/{two.a_request.pk}/approve/"
    response = approver.post(url, {"step": "start", "device": live_locum.world.totp_device.pk})
    challenge_id = response["Location"].split("challenge=")[1]
    Membership.objects.filter(user=two.jones, practice=two.a).delete()
    challenge = VerificationChallenge.objects.get(pk=challenge_id)
    outcome = challenges.submit_code(challenge, live_locum.world.code())
    assert not outcome.approved
    two.a_request.refresh_from_db()
    assert two.a_request.status == "pending"
    assert epcs_block_reason(two.house, two.a) is not None
    failed = AuditEvent.objects.get(action="mfa.completion_failed")
    assert "DEA registrant of this practice" in failed.details["reason"]


@pytest.mark.req("ASVS-11")
@pytest.mark.req("DEA-05")
def test_a_grant_names_only_the_prescribers_own_registration_that_counts(two: TwoPractices) -> None:
    client = signed_in(two.manager_a)
    two.a_request.delete()
    jones_dea = DeaRegistration.objects.get(number="BJ1234563")
    response = client.post(ENTER, {"provider": two.house.pk, "action": "grant", "registration": jones_dea.pk})
    assert response.status_code == 400 and "own DEA registrations" in response.content.decode()
    b_dea = DeaRegistration.objects.get(number="AW1234563")  # B's prescriber's: not even offered
    response = client.post(ENTER, {"provider": two.house.pk, "action": "grant", "registration": b_dea.pk})
    assert response.status_code == 400
    unverified = DeaRegistration.objects.create(
        provider=two.house, number="AH7654321", state="NY", expires_on=timezone.localdate() + dt.timedelta(days=90)
    )
    response = client.post(ENTER, {"provider": two.house.pk, "action": "grant", "registration": unverified.pk})
    assert response.status_code == 400 and "cannot be granted EPCS with DEA registration AH7654321" in (
        response.content.decode()
    )
    status, body = api(
        client,
        "post",
        "/api/v1/epcs/requests/",
        {"provider_id": two.house.pk, "action": "grant", "registration_id": b_dea.pk},
    )
    assert status == 400 and "registration_id" in {e["attr"] for e in body["errors"]}
    assert not EpcsPermissionRequest.objects.filter(provider=two.house).exists()
    # A permission naming a registration signs with that one only.
    own = DeaRegistration.objects.get(number="AH1234563")
    seed_granted_permission(
        provider=two.house, practice=two.a, entered_by=two.manager_a, approved_by=two.jones, registration=own
    )
    verified_registration(unverified)
    assert epcs_block_reason(two.house, two.a, own) is None
    reason = epcs_block_reason(two.house, two.a, unverified)
    assert reason is not None and "for DEA registration AH1234563" in reason


# --- a lost device is personal: every practice (DEA-04, NIST-05) -------------------------------
@pytest.mark.req("ASVS-11")
@pytest.mark.req("DEA-04")
@pytest.mark.req("NIST-05")
def test_a_lost_device_revokes_in_every_practice_of_a_locum_with_a_notice_in_each(
    two: TwoPractices, django_capture_on_commit_callbacks: Any
) -> None:
    join(two.jones, two.b)
    jones = Provider.objects.get(user=two.jones)
    for practice, manager, approver in ((two.a, two.manager_a, two.house.user), (two.b, two.manager_b, two.chase.user)):
        seed_granted_permission(provider=jones, practice=practice, entered_by=manager, approved_by=approver)
    pending = enter_request(actor=two.manager_b, practice=two.b, provider=jones, action="revoke")
    client = signed_in(two.jones, two.a)
    erx = client.get(ERX_INFO).content.decode()
    assert f"EPCS permission in {two.a.name}" in erx and f"{two.b.name}: granted" in erx
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(LOST, {"description": "iPhone 15"}, follow=True)
    assert "revoked at once in every practice" in response.content.decode()
    for practice in (two.a, two.b):
        permission = EpcsPermission.objects.get(provider=jones, practice=practice)
        assert permission.state == EpcsPermissionState.REVOKED and "Lost or stolen" in permission.revoked_reason
        assert epcs_block_reason(jones, practice) is not None
    pending.refresh_from_db()
    assert pending.status == "cancelled"
    # A notice in each practice, each seen only by that practice's access managers.
    notice_a = EpcsAccessNotice.objects.get(provider=jones, practice=two.a)
    notice_b = EpcsAccessNotice.objects.get(provider=jones, practice=two.b)
    page_a = signed_in(two.manager_a).get(PAGE).content.decode()
    page_b = signed_in(two.manager_b).get(PAGE).content.decode()
    assert "iPhone 15" in notice_a.message and "revoked at once" in notice_a.message
    assert f"/notices/{notice_a.pk}/dismiss/" in page_a and f"/notices/{notice_b.pk}/dismiss/" not in page_a
    assert f"/notices/{notice_b.pk}/dismiss/" in page_b and f"/notices/{notice_a.pk}/dismiss/" not in page_b
    assert "Pager" in page_b and "Pager" not in page_a
    assert sorted(message.to[0] for message in mail.outbox) == ["lee@example.test", "ortiz@example.test"]
    # Audited in each practice's own chain.
    revoked = AuditEvent.objects.filter(action="epcs.permission_revoked", details__reason="lost_device")
    assert sorted(event.chain_id or 0 for event in revoked) == sorted([two.a.pk, two.b.pk])
    reported = AuditEvent.objects.filter(action="epcs.device_reported_lost", actor=two.jones)
    assert sorted(event.chain_id or 0 for event in reported) == sorted([two.a.pk, two.b.pk])
    notified = AuditEvent.objects.filter(action="epcs.access_managers_notified", target_id=str(notice_b.pk))
    assert [event.chain_id for event in notified] == [two.b.pk]


# --- roles: only the practice's access managers (DEA-03, DEA-20) --------------------------------
@pytest.mark.req("ASVS-11")
@pytest.mark.req("DEA-03")
@pytest.mark.req("DEA-20")
@pytest.mark.parametrize("role", [PracticeRole.PRESCRIBER, PracticeRole.AGENT, PracticeRole.AUDITOR])
def test_prescribers_agents_and_auditors_are_refused_on_access_manager_pages(
    two: TwoPractices, make_user: Callable[..., User], role: PracticeRole
) -> None:
    person = join(make_user(f"someone.{role}"), two.a, role)
    client = signed_in(person)
    assert client.get(VERIFICATION).status_code == 403
    assert client.get(REVIEWS).status_code == 403
    response = client.post(ENTER, {"provider": two.house.pk, "action": "grant"})
    assert response.status_code == 403 and "Only an EPCS access manager" in response.content.decode()
    page = client.get(PAGE).content.decode()
    assert "Enter a grant or revocation" not in page and "Dr. Gregory House" not in page
    status, body = api(client, "post", "/api/v1/epcs/requests/", {"provider_id": two.house.pk, "action": "revoke"})
    assert status == 403 and "access manager" in body["detail"]
    assert api(client, "post", f"/api/v1/epcs/requests/{two.a_request.pk}/cancel/")[0] == 404
    house_dea = two.house.dea_registrations.get()
    assert client.post(f"{VERIFICATION}dea/{house_dea.pk}/verify/").status_code == 403
    two.a_request.refresh_from_db()
    assert two.a_request.status == "pending"
    assert EpcsPermissionRequest.objects.filter(provider=two.house).count() == 1


@pytest.mark.req("ASVS-11")
def test_an_access_manager_of_another_practice_only_is_refused_in_this_one(two: TwoPractices) -> None:
    """manager.ortiz manages B; working in A as an agent, he is no access manager there."""
    join(two.manager_b, two.a, PracticeRole.AGENT)
    with pytest.raises(PermissionRefused):
        enter_request(actor=two.manager_b, practice=two.a, provider=two.house, action="revoke")
    client = signed_in(two.manager_b, two.a)
    assert client.get(VERIFICATION).status_code == 403
    assert client.post(f"/account/epcs-permissions/requests/{two.a_request.pk}/cancel/").status_code == 404


# --- the group is retired into memberships --------------------------------------------------
@pytest.mark.req("ASVS-11")
def test_the_retired_group_becomes_access_manager_memberships_of_the_members_practices(
    make_user: Callable[..., User], practice: Practice, other_practice: Practice
) -> None:
    migration = importlib.import_module("providers.migrations.0010_retire_access_manager_group")
    group, _ = Group.objects.get_or_create(name=migration.GROUP_NAME)
    locum = join(join(make_user("manager.two"), practice, PracticeRole.AGENT), other_practice)
    nowhere = make_user("manager.none")
    group.user_set.add(locum, nowhere)
    migration.group_members_to_memberships(apps, None)
    roles = set(Membership.objects.filter(role=PracticeRole.ACCESS_MANAGER).values_list("user__username", "practice"))
    assert roles == {("manager.two", practice.pk), ("manager.two", other_practice.pk)}
    assert not Membership.objects.filter(user=nowhere).exists()  # no practice: nothing to manage
    assert not Group.objects.filter(name=migration.GROUP_NAME).exists()


@pytest.mark.req("DEA-04")
@pytest.mark.req("ASVS-11")
def test_the_daily_sweep_revokes_a_practices_permission_whose_named_registration_lapsed(two: TwoPractices) -> None:
    """Dr. House signs in A with AH1234563 and in B with any registration: when AH1234563
    expires while his second registration stays current, only A's permission ends."""
    join(two.house.user, two.b)
    own = two.house.dea_registrations.get()
    second = verified_registration(
        DeaRegistration.objects.create(
            provider=two.house, number="AH2345672", state="NY", expires_on=timezone.localdate() + dt.timedelta(days=300)
        )
    )
    two.a_request.delete()
    seed_granted_permission(
        provider=two.house, practice=two.a, entered_by=two.manager_a, approved_by=two.jones, registration=own
    )
    seed_granted_permission(provider=two.house, practice=two.b, entered_by=two.manager_b, approved_by=two.chase.user)
    assert revoke_lapsed_permissions() == 0
    DeaRegistration.objects.filter(pk=own.pk).update(expires_on=timezone.localdate())
    assert revoke_lapsed_permissions() == 1
    in_a = EpcsPermission.objects.get(provider=two.house, practice=two.a)
    assert in_a.state == EpcsPermissionState.REVOKED and "AH1234563" in in_a.revoked_reason
    assert EpcsPermission.objects.get(provider=two.house, practice=two.b).is_granted
    assert epcs_block_reason(two.house, two.b, second) is None
    event = AuditEvent.objects.get(action="epcs.permission_revoked")
    assert event.chain_id == two.a.pk and event.details["registration"] == "AH1234563"


@pytest.mark.req("ASVS-11")
@pytest.mark.req("DEA-03")
def test_a_grant_for_someone_who_left_the_practice_cannot_be_approved(two: TwoPractices) -> None:
    Membership.objects.filter(user=two.house.user, practice=two.a).delete()
    refusal = approval_refusal(two.a_request, two.jones)
    assert refusal == "Dr. Gregory House is no longer a prescriber of this practice."
    device = ProviderDevice.objects.create(
        provider=Provider.objects.get(user=two.jones),
        idme_device_id="jones-totp",
        name="Phone",
        kind="totp",
        added_at=timezone.now(),
    )
    response = signed_in(two.jones).post(
        f"/account/epcs-permissions/requests/{two.a_request.pk}/approve/", {"step": "start", "device": device.pk}
    )
    assert response.status_code == 404  # no longer awaiting anyone's approval
    assert "Requests awaiting your approval" not in signed_in(two.jones).get(PAGE).content.decode()
    assert not EpcsPermission.objects.filter(provider=two.house, state="granted").exists()
