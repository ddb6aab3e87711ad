"""EPCS permissions: two people grant and revoke, the approver proves it with their own 2FA at
the live ID.me sandbox, lost devices revoke at once, expired DEA registrations stop signing."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from epcs_access.services import enter_request, revoke_lapsed_permissions
from mfa.models import ProviderDevice
from providers.demo import seed_granted_permission
from providers.epcs import epcs_block_reason
from providers.models import (
    DeaRegistration,
    EpcsAccessNotice,
    EpcsPermission,
    EpcsPermissionRequest,
    EpcsPermissionState,
    IdentityAssurance,
    Practice,
    PracticeRole,
    Provider,
    User,
)
from providers.reauth import AUTHENTICATED_AT_KEY
from tests.conftest import TEST_PASSWORD, join, login_through_form
from tests.idme_fixtures import IdmeSandboxHandle
from tests.mfa.challenge_world import SigningWorld, make_signing_world, wrong_code
from tests.registry_fixtures import verified_registration

PAGE = "/account/epcs-permissions/"
ENTER = "/account/epcs-permissions/requests/"
LOST = "/account/epcs/report-lost-device/"


def approve_url(pk: int) -> str:
    return f"/account/epcs-permissions/requests/{pk}/approve/"


def signed_in(user: User) -> Client:
    client = Client()
    assert login_through_form(client, user.username).status_code == 302
    return client


def confirm_identity(provider: Provider) -> Provider:
    provider.identity_ial = IdentityAssurance.IAL2
    provider.identity_verified_at = timezone.now()
    provider.save()
    return provider


def add_dea(provider: Provider, number: str, days: int = 365) -> DeaRegistration:
    """A registration an access manager verified against the DEA registry (DEA-20)."""
    return verified_registration(
        DeaRegistration.objects.create(
            provider=provider, number=number, state="NJ", expires_on=timezone.localdate() + dt.timedelta(days=days)
        )
    )


@dataclass
class People:
    practice: Practice  # everyone below works in it
    manager: User
    prescriber: Provider  # Dr. House: identity confirmed, current DEA AH1234563
    registrant: User  # Dr. Jones: a DEA registrant (BJ1234563), the second person
    bystander: User  # an agent of the practice: no DEA registration and no manager role


@pytest.fixture
def people(make_user: Callable[..., User], clinician: User, practice: Practice) -> People:
    manager = make_user("manager.lee", first_name="Casey", last_name="Lee", email="lee@example.test")
    join(manager, practice, PracticeRole.ACCESS_MANAGER)
    prescriber = confirm_identity(Provider.objects.get(user=clinician))
    add_dea(prescriber, "AH1234563")
    registrant = join(
        make_user("dr.jones", first_name="Brian", last_name="Jones", email="jones@example.test"), practice
    )
    jones = Provider.objects.create(user=registrant, display_name="Dr. Brian Jones")
    add_dea(jones, "BJ1234563")
    bystander = join(make_user("nurse.kim", first_name="Dana", last_name="Kim"), practice, PracticeRole.AGENT)
    return People(practice, manager, prescriber, registrant, bystander)


def grant_directly(people: People) -> EpcsPermission:
    seed_granted_permission(
        provider=people.prescriber, practice=people.practice, entered_by=people.manager, approved_by=people.registrant
    )
    return EpcsPermission.objects.get(provider=people.prescriber)


# --- epcs_block_reason (DEA-02, DEA-04, DEA-05) ---------------------------------------
@pytest.mark.req("DEA-02")
def test_no_epcs_without_ial2_identity(people: People) -> None:
    grant_directly(people)
    assert epcs_block_reason(people.prescriber, people.practice) is None
    people.prescriber.identity_ial = IdentityAssurance.IAL1
    people.prescriber.save()
    reason = epcs_block_reason(people.prescriber, people.practice)
    assert reason is not None and "IAL2" in reason


@pytest.mark.req("DEA-03")
def test_no_epcs_without_a_granted_permission(people: People) -> None:
    reason = epcs_block_reason(people.prescriber, people.practice)
    assert reason is not None and "EPCS permission" in reason


@pytest.mark.req("DEA-04")
@pytest.mark.req("DEA-05")
def test_an_expired_dea_registration_stops_signing_the_same_day(people: People) -> None:
    grant_directly(people)
    registration = people.prescriber.dea_registrations.get()
    today = timezone.localdate()
    registration.expires_on = today + dt.timedelta(days=1)
    registration.save()
    registration = verified_registration(registration)  # a changed expiry is verified again (DEA-20)
    assert epcs_block_reason(people.prescriber, people.practice, registration) is None
    # The day it expires, signing with it stops: no nightly job in between.
    registration.expires_on = today
    registration.save()
    registration = verified_registration(registration)
    reason = epcs_block_reason(people.prescriber, people.practice, registration)
    assert reason is not None and "expired" in reason
    assert epcs_block_reason(people.prescriber, people.practice) is not None
    # Evaluated for a given day, too.
    assert epcs_block_reason(people.prescriber, people.practice, registration, on=today - dt.timedelta(days=1)) is None


@pytest.mark.req("DEA-05")
def test_only_the_registrants_own_registration_counts(people: People) -> None:
    grant_directly(people)
    jones_registration = DeaRegistration.objects.get(number="BJ1234563")
    reason = epcs_block_reason(people.prescriber, people.practice, jones_registration)
    assert reason is not None and "not yours" in reason


@pytest.mark.req("DEA-04")
def test_the_daily_sweep_revokes_permissions_without_a_current_registration(people: People) -> None:
    permission = grant_directly(people)
    DeaRegistration.objects.filter(provider=people.prescriber).update(expires_on=timezone.localdate())
    assert revoke_lapsed_permissions() == 1
    permission.refresh_from_db()
    assert permission.state == EpcsPermissionState.REVOKED
    event = AuditEvent.objects.filter(action="epcs.permission_revoked").latest("occurred_at")
    assert event.details["immediate"] is True


@pytest.mark.req("DEA-04")
def test_marking_the_last_registration_revoked_revokes_the_permission(people: People) -> None:
    permission = grant_directly(people)
    client = signed_in(people.prescriber.user)
    registration = people.prescriber.dea_registrations.get()
    client.post(f"/account/credentials/dea/{registration.pk}/revoke/")
    permission.refresh_from_db()
    assert permission.state == EpcsPermissionState.REVOKED


# --- entering (DEA-02, DEA-03) -------------------------------------------------------
@pytest.mark.req("DEA-03")
@pytest.mark.req("ASVS-06")
def test_only_an_access_manager_enters_a_change(people: People) -> None:
    for user in (people.registrant, people.bystander, people.prescriber.user):
        response = signed_in(user).post(ENTER, {"provider": people.prescriber.pk, "action": "grant"})
        assert response.status_code == 403
        assert "Only an EPCS access manager" in response.content.decode()
    assert not EpcsPermissionRequest.objects.exists()
    assert AuditEvent.objects.filter(action="epcs.permission_request_refused", outcome="denied").count() == 3


@pytest.mark.req("DEA-03")
@pytest.mark.req("DEA-13")
def test_the_access_manager_enters_a_grant(people: People) -> None:
    client = signed_in(people.manager)
    response = client.post(
        ENTER, {"provider": people.prescriber.pk, "action": "grant", "note": "New hire"}, follow=True
    )
    assert "A second person who is a DEA registrant must approve it" in response.content.decode()
    entered = EpcsPermissionRequest.objects.get()
    assert (entered.action, entered.status, entered.entered_by) == ("grant", "pending", people.manager)
    # Entering grants nothing yet.
    assert epcs_block_reason(people.prescriber, people.practice) is not None
    assert AuditEvent.objects.filter(action="epcs.permission_request_entered", actor=people.manager).exists()
    # The registrant sees it waiting; the prescriber does not get to approve it.
    assert "Requests awaiting your approval" in signed_in(people.registrant).get(PAGE).content.decode()
    assert "Requests awaiting your approval" not in signed_in(people.prescriber.user).get(PAGE).content.decode()


@pytest.mark.req("DEA-02")
def test_a_grant_needs_ial2_identity_and_a_current_dea_registration(people: People) -> None:
    client = signed_in(people.manager)
    people.prescriber.identity_ial = IdentityAssurance.NONE
    people.prescriber.save()
    response = client.post(ENTER, {"provider": people.prescriber.pk, "action": "grant"})
    assert response.status_code == 400
    assert "identity is not confirmed at IAL2" in response.content.decode()
    confirm_identity(people.prescriber)
    DeaRegistration.objects.filter(provider=people.prescriber).update(expires_on=timezone.localdate())
    response = client.post(ENTER, {"provider": people.prescriber.pk, "action": "grant"})
    assert response.status_code == 400
    assert "no current DEA registration" in response.content.decode()
    assert not EpcsPermissionRequest.objects.exists()


@pytest.mark.req("ASVS-10")
def test_bad_input_on_the_page_changes_nothing(people: People) -> None:
    client = signed_in(people.manager)
    for data, message in (
        ({}, "This field is required."),
        ({"provider": "abc", "action": "grant"}, "Choose a prescriber from the list."),
        ({"provider": 99999, "action": "grant"}, "Choose a prescriber from the list."),
        ({"provider": people.prescriber.pk, "action": "delete"}, "Choose grant or revoke."),
        ({"provider": people.prescriber.pk, "action": "revoke"}, "does not have EPCS permission"),
        ({"provider": people.prescriber.pk, "action": "grant", "note": "x" * 301}, "at most 300 characters"),
    ):
        response = client.post(ENTER, data)
        assert response.status_code == 400
        body = response.content.decode()
        assert message in body and "Nothing changed." in body
    assert not EpcsPermissionRequest.objects.exists()
    assert not EpcsPermission.objects.exists()


# --- approval refusals, from the attacker's side (DEA-03) ---------------------------------
@pytest.fixture
def pending_grant(people: People) -> EpcsPermissionRequest:
    return enter_request(actor=people.manager, practice=people.practice, provider=people.prescriber, action="grant")


def _devices_of(user: User) -> list[ProviderDevice]:
    provider = Provider.objects.get(user=user)
    return [
        ProviderDevice.objects.create(
            provider=provider, idme_device_id=f"dev-{user.pk}", name="Phone", kind="totp", added_at=timezone.now()
        )
    ]


@pytest.mark.req("DEA-03")
def test_the_prescriber_cannot_approve_their_own_grant(people: People, pending_grant: EpcsPermissionRequest) -> None:
    device = _devices_of(people.prescriber.user)[0]
    client = signed_in(people.prescriber.user)
    assert client.get(approve_url(pending_grant.pk)).status_code == 403
    response = client.post(approve_url(pending_grant.pk), {"step": "start", "device": device.pk})
    assert response.status_code == 403
    assert "your own EPCS permission" in response.content.decode()
    pending_grant.refresh_from_db()
    assert pending_grant.status == "pending"
    assert epcs_block_reason(people.prescriber, people.practice) is not None


@pytest.mark.req("DEA-03")
def test_the_person_who_entered_it_cannot_approve_it(people: People, make_user: Callable[..., User]) -> None:
    # A manager who is also a DEA registrant enters a change, then tries to approve it.
    join(people.registrant, people.practice, PracticeRole.ACCESS_MANAGER)
    entered = enter_request(
        actor=people.registrant, practice=people.practice, provider=people.prescriber, action="grant"
    )
    device = _devices_of(people.registrant)[0]
    response = signed_in(people.registrant).post(approve_url(entered.pk), {"step": "start", "device": device.pk})
    assert response.status_code == 403
    assert "a second person must approve it" in response.content.decode()
    entered.refresh_from_db()
    assert entered.status == "pending"
    assert AuditEvent.objects.filter(action="epcs.permission_approval_refused", actor=people.registrant).exists()


@pytest.mark.req("DEA-03")
def test_a_non_registrant_cannot_approve(people: People, pending_grant: EpcsPermissionRequest) -> None:
    nurse = Provider.objects.create(user=people.bystander, display_name="Dana Kim")
    device = _devices_of(nurse.user)[0]
    client = signed_in(people.bystander)
    # Not among the people who may see it at all: 404, and nothing changes.
    assert client.post(approve_url(pending_grant.pk), {"step": "start", "device": device.pk}).status_code == 404
    # An expired DEA registration does not make someone a registrant either.
    DeaRegistration.objects.filter(number="BJ1234563").update(expires_on=timezone.localdate())
    device = _devices_of(people.registrant)[0]
    response = signed_in(people.registrant).post(approve_url(pending_grant.pk), {"step": "start", "device": device.pk})
    assert response.status_code == 404
    pending_grant.refresh_from_db()
    assert pending_grant.status == "pending"


@pytest.mark.req("DEA-03")
@pytest.mark.req("NIST-05")
def test_approval_without_2fa_is_refused(people: People, pending_grant: EpcsPermissionRequest) -> None:
    client = signed_in(people.registrant)
    for data in ({"step": "code", "code": "123456"}, {"step": "check"}, {"step": "approve"}, {}):
        response = client.post(approve_url(pending_grant.pk), data)
        assert response.status_code == 403
        assert "two-factor authentication" in response.content.decode()
    # Someone else's challenge id is not found, a made-up one neither.
    response = client.post(approve_url(pending_grant.pk), {"step": "code", "code": "123456", "challenge": "not-a-uuid"})
    assert response.status_code == 404
    pending_grant.refresh_from_db()
    assert pending_grant.status == "pending"
    assert EpcsPermission.objects.get(provider=people.prescriber).state == EpcsPermissionState.REQUESTED


@pytest.mark.req("DEA-03")
@pytest.mark.req("ASVS-06")
def test_approving_with_someone_elses_device_is_refused(people: People, pending_grant: EpcsPermissionRequest) -> None:
    prescribers_device = _devices_of(people.prescriber.user)[0]
    response = signed_in(people.registrant).post(
        approve_url(pending_grant.pk), {"step": "start", "device": prescribers_device.pk}
    )
    assert response.status_code == 403
    assert "your own ID.me devices" in response.content.decode()


# --- the REST API ---------------------------------------------------------------------
def api(client: Client, method: str, url: str, body: object = None, raw: str | None = None) -> tuple[int, dict]:
    if method == "get":
        response = client.get(url, HTTP_ACCEPT="application/json")
    else:
        data = raw if raw is not None else json.dumps(body or {})
        response = getattr(client, method)(url, data=data, content_type="application/json")
    return response.status_code, response.json()


@pytest.mark.req("ASVS-06")
@pytest.mark.req("ASVS-10")
@pytest.mark.req("DEA-03")
def test_the_api_applies_the_same_rules_with_json_errors(people: People) -> None:
    manager = signed_in(people.manager)
    status, body = api(manager, "post", "/api/v1/epcs/requests/", raw="{not json")
    assert status == 400 and body["code"] in ("parse_error", "invalid")
    status, body = api(manager, "post", "/api/v1/epcs/requests/", {"provider_id": "x", "action": "grant"})
    assert status == 400 and "provider_id" in {e["attr"] for e in body["errors"]}
    status, body = api(manager, "post", "/api/v1/epcs/requests/", {"provider_id": 99999, "action": "grant"})
    assert status == 400
    status, body = api(
        signed_in(people.registrant),
        "post",
        "/api/v1/epcs/requests/",
        {"provider_id": people.prescriber.pk, "action": "grant"},
    )
    assert status == 403 and "access manager" in body["detail"]
    assert not EpcsPermissionRequest.objects.exists()
    status, body = api(
        manager, "post", "/api/v1/epcs/requests/", {"provider_id": people.prescriber.pk, "action": "grant"}
    )
    assert status == 201 and body["status"] == "pending"
    pk = body["id"]
    status, body = api(
        manager, "post", "/api/v1/epcs/requests/", {"provider_id": people.prescriber.pk, "action": "grant"}
    )
    assert status == 409 and "pending" in body["detail"]
    # The prescriber sees their own request, a bystander sees nothing of it.
    status, body = api(signed_in(people.prescriber.user), "get", f"/api/v1/epcs/requests/{pk}/")
    assert status == 200
    bystander = signed_in(people.bystander)
    assert api(bystander, "get", f"/api/v1/epcs/requests/{pk}/")[0] == 404
    assert api(bystander, "post", f"/api/v1/epcs/requests/{pk}/cancel/")[0] == 404
    status, listing = api(bystander, "get", "/api/v1/epcs/permissions/")
    assert status == 200 and listing == []
    # The prescriber cannot approve their own grant through the API either.
    device = _devices_of(people.prescriber.user)[0]
    status, body = api(
        signed_in(people.prescriber.user), "post", f"/api/v1/epcs/requests/{pk}/approval/", {"device_id": device.pk}
    )
    assert status == 403
    # Without a challenge there is no code to submit.
    status, body = api(
        signed_in(people.registrant),
        "post",
        f"/api/v1/epcs/requests/{pk}/approval/00000000-0000-0000-0000-000000000000/code/",
        {"code": "123456"},
    )
    assert status == 404 and body["code"] == "not_found"
    assert EpcsPermission.objects.get(provider=people.prescriber).state == EpcsPermissionState.REQUESTED
    assert Client().get("/api/v1/epcs/permissions/").status_code in (401, 403)


@pytest.mark.req("ASVS-06")
def test_the_page_needs_sign_in_and_shows_each_role_its_part(
    people: People, pending_grant: EpcsPermissionRequest
) -> None:
    response = Client().get(PAGE)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    manager_page = signed_in(people.manager).get(PAGE).content.decode()
    assert "Prescribers" in manager_page and "Enter a grant or revocation" in manager_page
    bystander_page = signed_in(people.bystander).get(PAGE).content.decode()
    assert "Dr. Gregory House" not in bystander_page
    assert "Enter a grant or revocation" not in bystander_page


# --- lost or stolen device (DEA-04, NIST-05) -------------------------------------------------
@pytest.mark.req("DEA-04")
@pytest.mark.req("NIST-05")
@pytest.mark.req("DEA-13")
def test_report_lost_device_revokes_at_once_and_tells_the_access_managers(
    people: People, django_capture_on_commit_callbacks: Any
) -> None:
    grant_directly(people)
    pending = enter_request(actor=people.manager, practice=people.practice, provider=people.prescriber, action="revoke")
    client = signed_in(people.prescriber.user)
    erx = client.get("/account/provider-settings/erx-info/").content.decode()
    assert "Report lost or stolen device" in erx
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(LOST, {"description": "iPhone 15"}, follow=True)
    assert "Your EPCS permission has been revoked at once" in response.content.decode()
    permission = EpcsPermission.objects.get(provider=people.prescriber)
    assert permission.state == EpcsPermissionState.REVOKED
    assert "Lost or stolen" in permission.revoked_reason
    assert epcs_block_reason(people.prescriber, people.practice) is not None
    pending.refresh_from_db()
    assert pending.status == "cancelled"
    # In the app, for the access managers ...
    notice = EpcsAccessNotice.objects.get()
    assert "iPhone 15" in notice.message
    assert notice.message in signed_in(people.manager).get(PAGE).content.decode()
    assert notice.message not in signed_in(people.registrant).get(PAGE).content.decode()
    # ... and by email.
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["lee@example.test"]
    assert "lost or stolen" in mail.outbox[0].subject
    actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert "epcs.device_reported_lost" in actions
    assert "epcs.access_managers_notified" in actions
    revoked = AuditEvent.objects.get(action="epcs.permission_revoked")
    assert revoked.details["reason"] == "lost_device" and revoked.actor_id == people.prescriber.user_id


@pytest.mark.req("ASVS-05")
def test_report_lost_device_needs_recent_sign_in_and_a_post(people: People) -> None:
    grant_directly(people)
    client = Client()
    assert client.login(username=people.prescriber.user.username, password=TEST_PASSWORD)
    session = client.session
    session[AUTHENTICATED_AT_KEY] = time.time() - 16 * 60  # the password was entered 16 minutes ago
    session.save()
    assert client.get(LOST).status_code == 405
    response = client.post(LOST, {})
    assert response.status_code == 302 and "/account/reauthenticate/" in response["Location"]
    assert EpcsPermission.objects.get(provider=people.prescriber).state == EpcsPermissionState.GRANTED
    csrf_client = Client(enforce_csrf_checks=True)
    login_through_form(csrf_client, people.prescriber.user.username)
    assert csrf_client.post(LOST, {}).status_code == 403
    assert EpcsPermission.objects.get(provider=people.prescriber).state == EpcsPermissionState.GRANTED


@pytest.mark.req("DEA-13")
def test_seeded_grants_say_so_in_the_audit_trail(people: People) -> None:
    grant_directly(people)
    event = AuditEvent.objects.get(action="epcs.permission_granted")
    assert event.details["seeded"] is True
    assert "challenge" not in event.details
    request = EpcsPermissionRequest.objects.get()
    assert request.approval_challenge_id is None and "no 2FA" in request.decision_reason


@pytest.mark.req("DEA-03")
def test_seeding_a_grant_is_refused_outside_development(people: People, settings: Any) -> None:
    """The demo shortcut skips the two-person rule, so a production deployment cannot use it."""
    settings.DEBUG = False
    settings.TESTING = False
    with pytest.raises(ImproperlyConfigured, match="only in development"):
        seed_granted_permission(
            provider=people.prescriber,
            practice=people.practice,
            entered_by=people.manager,
            approved_by=people.registrant,
        )
    assert not EpcsPermission.objects.filter(provider=people.prescriber).exists()
    assert not EpcsPermissionRequest.objects.exists()
    assert not AuditEvent.objects.filter(action="epcs.permission_granted").exists()


# --- the two-person flow with real 2FA at the live ID.me sandbox ------------------------------
@dataclass
class LiveApproval:
    people: People
    approver: SigningWorld


@pytest.fixture
def live(idme_sandbox_live: IdmeSandboxHandle, people: People) -> LiveApproval:
    approver = make_signing_world(idme_sandbox_live, people.registrant, email="brian.jones@example.test")
    return LiveApproval(people, approver)


@pytest.mark.req("DEA-03")
@pytest.mark.req("DEA-13")
@pytest.mark.req("DEA-02")
def test_two_people_grant_with_the_approvers_own_code(live: LiveApproval) -> None:
    people = live.people
    signed_in(people.manager).post(ENTER, {"provider": people.prescriber.pk, "action": "grant"})
    entered = EpcsPermissionRequest.objects.get()
    approver = signed_in(people.registrant)
    page = approver.get(approve_url(entered.pk)).content.decode()
    assert "Approve with two-factor authentication" in page
    response = approver.post(approve_url(entered.pk), {"step": "start", "device": live.approver.totp_device.pk})
    assert response.status_code == 302
    challenge_url = response["Location"]
    assert "challenge=" in challenge_url
    assert "Enter your code" in approver.get(challenge_url).content.decode()
    challenge_id = challenge_url.split("challenge=")[1]
    # A wrong code approves nothing.
    approver.post(
        approve_url(entered.pk),
        {"step": "code", "challenge": challenge_id, "code": wrong_code(live.approver.totp_secret)},
    )
    assert epcs_block_reason(people.prescriber, people.practice) is not None
    response = approver.post(
        approve_url(entered.pk), {"step": "code", "challenge": challenge_id, "code": live.approver.code()}, follow=True
    )
    assert "has been granted" in response.content.decode()
    entered.refresh_from_db()
    assert entered.status == "approved" and entered.approved_by == people.registrant
    assert str(entered.approval_challenge_id) == challenge_id
    assert "Office iPhone" in entered.approval_device_label
    permission = EpcsPermission.objects.get(provider=people.prescriber)
    assert (permission.state, permission.entered_by, permission.approved_by) == (
        "granted",
        people.manager,
        people.registrant,
    )
    assert epcs_block_reason(people.prescriber, people.practice) is None
    event = AuditEvent.objects.get(action="epcs.permission_granted")
    assert event.details["entered_by"] == "manager.lee" and event.details["approved_by"] == "dr.jones"
    assert event.details["challenge"] == challenge_id and event.details.get("seeded") is None


@pytest.mark.req("DEA-03")
@pytest.mark.req("DEA-04")
def test_two_people_revoke_through_the_api_with_a_code(live: LiveApproval) -> None:
    people = live.people
    grant_directly(people)
    status, body = api(
        signed_in(people.manager),
        "post",
        "/api/v1/epcs/requests/",
        {"provider_id": people.prescriber.pk, "action": "revoke", "note": "Left the practice"},
    )
    assert status == 201
    pk = body["id"]
    approver = signed_in(people.registrant)
    status, body = api(
        approver, "post", f"/api/v1/epcs/requests/{pk}/approval/", {"device_id": live.approver.totp_device.pk}
    )
    assert status == 201 and body["method"] == "code"
    challenge_id = body["challenge_id"]
    assert epcs_block_reason(people.prescriber, people.practice) is None  # not revoked until approved
    status, body = api(approver, "post", f"/api/v1/epcs/requests/{pk}/approval/{challenge_id}/code/", {"code": "12"})
    assert status == 400
    status, body = api(
        approver, "post", f"/api/v1/epcs/requests/{pk}/approval/{challenge_id}/code/", {"code": live.approver.code()}
    )
    assert status == 200 and body["request"]["status"] == "approved"
    permission = EpcsPermission.objects.get(provider=people.prescriber)
    assert permission.state == "revoked" and permission.revoked_reason == "Left the practice"
    reason = epcs_block_reason(people.prescriber, people.practice)
    assert reason is not None and "revoked" in reason


@pytest.mark.req("DEA-03")
def test_two_people_grant_with_a_push_to_the_approvers_phone(live: LiveApproval) -> None:
    people = live.people
    entered = enter_request(actor=people.manager, practice=people.practice, provider=people.prescriber, action="grant")
    approver = signed_in(people.registrant)
    response = approver.post(approve_url(entered.pk), {"step": "start", "device": live.approver.push_device.pk})
    challenge_id = response["Location"].split("challenge=")[1]
    page = approver.get(response["Location"]).content.decode()
    assert "Approve on your phone" in page
    push = live.approver.phone.latest_push()
    assert "Grant EPCS permission for Dr. Gregory House" in push.message
    assert epcs_block_reason(people.prescriber, people.practice) is not None
    live.approver.phone.answer(push, "approve")
    response = approver.post(approve_url(entered.pk), {"step": "check", "challenge": challenge_id}, follow=True)
    assert "has been granted" in response.content.decode()
    assert epcs_block_reason(people.prescriber, people.practice) is None


@pytest.mark.req("DEA-03")
@pytest.mark.req("DEA-02")
def test_rules_are_checked_again_when_the_2fa_completes(live: LiveApproval) -> None:
    """The approver starts 2FA, then the prescriber's identity proofing lapses: the code grants nothing."""
    people = live.people
    entered = enter_request(actor=people.manager, practice=people.practice, provider=people.prescriber, action="grant")
    approver = signed_in(people.registrant)
    response = approver.post(approve_url(entered.pk), {"step": "start", "device": live.approver.totp_device.pk})
    challenge_id = response["Location"].split("challenge=")[1]
    Provider.objects.filter(pk=people.prescriber.pk).update(identity_ial=IdentityAssurance.IAL1)
    response = approver.post(
        approve_url(entered.pk), {"step": "code", "challenge": challenge_id, "code": live.approver.code()}, follow=True
    )
    assert "identity is not confirmed at IAL2" in response.content.decode()
    entered.refresh_from_db()
    assert entered.status == "pending"
    assert epcs_block_reason(people.prescriber, people.practice) is not None
    failed = AuditEvent.objects.get(action="mfa.completion_failed")
    assert "identity is not confirmed at IAL2" in failed.details["reason"]
    assert not AuditEvent.objects.filter(action="epcs.permission_granted").exists()


# --- demo data and admin -------------------------------------------------------------------
@pytest.mark.req("DEA-13")
@pytest.mark.req("DEA-02")
def test_the_demo_seed_gives_dr_smith_epcs_as_seeded_data_twice_the_same(db: None) -> None:
    from providers.demo import seed_people
    from providers.roles import is_access_manager

    seed_people()
    seed_people()
    demo = Practice.objects.get(name="EHR Demo Practice")
    riverside = Practice.objects.get(name="Riverside Family Medicine")
    smith = Provider.objects.get(user__username="dr.smith")
    jones = Provider.objects.get(user__username="dr.jones")
    patel = Provider.objects.get(user__username="dr.patel")
    assert smith.idme_uuid == "5e0d1c2b3a4f4e5d8c7b6a5f4e3d2c1b" and smith.identity_confirmed
    assert jones.idme_uuid == "6f1e2d3c4b5a4f6e9d8c7b6a5f4e3d2c" and jones.identity_confirmed
    assert [r.number for r in smith.dea_registrations.all()] == ["AS1234563"]
    assert [r.number for r in jones.dea_registrations.all()] == ["BJ1234563"]
    assert smith.state_licenses.count() == 1 and smith.medicaid_id
    assert is_access_manager(User.objects.get(username="manager.lee"), demo)
    assert not is_access_manager(User.objects.get(username="manager.lee"), riverside)
    assert is_access_manager(User.objects.get(username="manager.ortiz"), riverside)
    assert epcs_block_reason(smith, demo) is None
    assert epcs_block_reason(smith, riverside) is not None  # not a member of Riverside
    # dr.jones, the locum, may sign in Riverside but has no EPCS permission in EHR Demo Practice.
    assert epcs_block_reason(jones, demo) is not None
    assert epcs_block_reason(jones, riverside) is None
    # dr.patel signs in Riverside with her own FP1357929 (Schedules III-V), verified by manager.ortiz.
    fp = patel.dea_registrations.get()
    assert fp.number == "FP1357929" and fp.verified_by == User.objects.get(username="manager.ortiz")
    assert patel.identity_confirmed and epcs_block_reason(patel, riverside) is None
    assert EpcsPermission.objects.get(provider=patel, practice=riverside).registration == fp
    assert epcs_block_reason(patel, riverside, fp) is None
    permission = EpcsPermission.objects.get(provider=smith)
    assert permission.practice == demo
    assert permission.entered_by == User.objects.get(username="manager.lee")
    assert permission.approved_by == User.objects.get(username="dr.jones")
    assert EpcsPermission.objects.get(provider=jones).approved_by == User.objects.get(username="dr.patel")
    granted = AuditEvent.objects.filter(action="epcs.permission_granted")
    assert granted.count() == 3 and all(event.details["seeded"] is True for event in granted)
    assert sorted(event.chain_id or 0 for event in granted) == sorted([demo.pk, riverside.pk, riverside.pk])


def test_the_admin_lists_credentials_and_permissions_read_only(people: People) -> None:
    grant_directly(people)
    admin_user = User.objects.create_superuser("root", "root@example.test", TEST_PASSWORD)
    client = Client()
    client.force_login(admin_user)
    for url in (
        "/admin/providers/dearegistration/",
        "/admin/providers/statelicense/",
        "/admin/providers/epcspermission/",
        "/admin/providers/epcspermissionrequest/",
        "/admin/providers/epcsaccessnotice/",
    ):
        assert client.get(url).status_code == 200
    permission = EpcsPermission.objects.get()
    assert (
        client.post(f"/admin/providers/epcspermission/{permission.pk}/change/", {"state": "revoked"}).status_code == 403
    )
    permission.refresh_from_db()
    assert permission.state == "granted"


# --- reject, cancel, dismiss -------------------------------------------------------------------
@pytest.mark.req("DEA-03")
@pytest.mark.req("DEA-13")
def test_rejecting_needs_the_registrants_2fa_too(people: People, pending_grant: EpcsPermissionRequest) -> None:
    # Issue 8 changed this: rejecting, like approving, needs a recent password and the 2FA.
    reject = f"/account/epcs-permissions/requests/{pending_grant.pk}/reject/"
    # The prescriber may not reject (or approve) a change to their own permission.
    assert signed_in(people.prescriber.user).post(reject).status_code == 403
    response = signed_in(people.registrant).post(reject, {"reason": "Not yet"})
    assert response.status_code == 403 and "two-factor authentication" in response.content.decode()
    pending_grant.refresh_from_db()
    assert pending_grant.status == "pending"


@pytest.mark.req("DEA-03")
@pytest.mark.req("DEA-13")
def test_a_registrant_rejects_with_their_own_code_and_nothing_changes(live: LiveApproval) -> None:
    people = live.people
    entered = enter_request(actor=people.manager, practice=people.practice, provider=people.prescriber, action="grant")
    reject = f"/account/epcs-permissions/requests/{entered.pk}/reject/"
    approver = signed_in(people.registrant)
    page = approver.get(reject).content.decode()
    assert "Reject with two-factor authentication" in page
    response = approver.post(reject, {"step": "start", "device": live.approver.totp_device.pk, "reason": "Not yet"})
    assert response.status_code == 302
    challenge_id = response["Location"].split("challenge=")[1]
    entered.refresh_from_db()
    assert entered.status == "pending"
    response = approver.post(
        reject, {"step": "code", "challenge": challenge_id, "code": live.approver.code()}, follow=True
    )
    assert "has been rejected" in response.content.decode()
    entered.refresh_from_db()
    assert (entered.status, entered.decided_by, entered.decision_reason) == ("rejected", people.registrant, "Not yet")
    assert epcs_block_reason(people.prescriber, people.practice) is not None
    event = AuditEvent.objects.get(action="epcs.permission_request_rejected", actor=people.registrant)
    assert event.details["challenge"] == challenge_id


@pytest.mark.req("ASVS-06")
def test_only_the_enterer_or_an_access_manager_cancels(people: People, pending_grant: EpcsPermissionRequest) -> None:
    url = f"/account/epcs-permissions/requests/{pending_grant.pk}/cancel/"
    assert signed_in(people.registrant).post(url).status_code == 403
    assert signed_in(people.bystander).post(url).status_code == 404
    pending_grant.refresh_from_db()
    assert pending_grant.status == "pending"
    signed_in(people.manager).post(url)
    pending_grant.refresh_from_db()
    assert pending_grant.status == "cancelled"
    assert AuditEvent.objects.filter(action="epcs.permission_request_cancelled").exists()


@pytest.mark.req("ASVS-06")
def test_only_access_managers_dismiss_notices(people: People) -> None:
    signed_in(people.prescriber.user).post(LOST, {})
    notice = EpcsAccessNotice.objects.get()
    url = f"/account/epcs-permissions/notices/{notice.pk}/dismiss/"
    assert signed_in(people.registrant).post(url).status_code == 403
    notice.refresh_from_db()
    assert notice.dismissed_at is None
    signed_in(people.manager).post(url)
    notice.refresh_from_db()
    assert notice.dismissed_by == people.manager
    assert notice.message not in signed_in(people.manager).get(PAGE).content.decode()


# --- lost device stops signing that is waiting for 2FA (NIST-05) ------------------------------
@pytest.mark.req("NIST-05")
@pytest.mark.req("DEA-04")
def test_a_lost_device_report_cancels_2fa_waiting_to_complete(live: LiveApproval) -> None:
    from mfa import challenges
    from mfa.models import ChallengeStatus

    people = live.people
    grant_directly(people)
    prescriber_world = make_signing_world(live.approver.sandbox, people.prescriber.user, email="house@example.test")
    waiting = challenges.start_code_challenge(
        provider=prescriber_world.provider,
        device=prescriber_world.totp_device,
        purpose="epcs_sign",
        subject="ceremony:lost-device-test",
    )
    signed_in(people.prescriber.user).post(LOST, {"description": "Office iPhone"})
    waiting.refresh_from_db()
    assert waiting.status == ChallengeStatus.CANCELLED
    outcome = challenges.submit_code(waiting, prescriber_world.code())
    assert not outcome.approved
    assert epcs_block_reason(people.prescriber, people.practice) is not None
    assert len(mail.outbox) == 1  # on commit, outside a test transaction


@pytest.mark.req("DEA-03")
def test_the_push_status_endpoint_answers_only_the_approver(live: LiveApproval) -> None:
    people = live.people
    entered = enter_request(actor=people.manager, practice=people.practice, provider=people.prescriber, action="grant")
    approver = signed_in(people.registrant)
    status, body = api(
        approver, "post", f"/api/v1/epcs/requests/{entered.pk}/approval/", {"device_id": live.approver.push_device.pk}
    )
    assert status == 201 and body["method"] == "push" and body["match_number"]
    status_url = f"/api/v1/epcs/requests/{entered.pk}/approval/{body['challenge_id']}/"
    status, polled = api(approver, "get", status_url)
    assert status == 200 and polled["status"] == "pending" and polled["seconds_left"] > 0
    # The manager sees the request but not the approver's challenge.
    assert api(signed_in(people.manager), "get", status_url)[0] == 404
    # Denied on the phone: nothing granted.
    live.approver.phone.answer(live.approver.phone.latest_push(), "deny")
    response = approver.post(approve_url(entered.pk), {"step": "check", "challenge": body["challenge_id"]}, follow=True)
    assert "denied" in response.content.decode()
    assert epcs_block_reason(people.prescriber, people.practice) is not None


def test_the_openapi_schema_describes_the_epcs_endpoints(people: People) -> None:
    response = signed_in(people.manager).get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = json.loads(response.content)["paths"]
    assert "/api/v1/epcs/requests/{id}/approval/{challenge_id}/code/" in paths
    assert "post" in paths["/api/v1/epcs/requests/"]


@pytest.mark.req("DEA-03")
def test_an_approval_that_ends_in_wrong_codes_says_the_permission_was_not_changed(live: LiveApproval) -> None:
    """mfa reports codes; epcs_access words them (and the API status comes from mfa.outcomes)."""
    people = live.people
    signed_in(people.manager).post(ENTER, {"provider": people.prescriber.pk, "action": "grant"})
    pk = EpcsPermissionRequest.objects.get().pk
    approver = signed_in(people.registrant)
    status, body = api(
        approver, "post", f"/api/v1/epcs/requests/{pk}/approval/", {"device_id": live.approver.totp_device.pk}
    )
    assert status == 201
    code_url = f"/api/v1/epcs/requests/{pk}/approval/{body['challenge_id']}/code/"
    for _ in range(10):
        status, body = api(approver, "post", code_url, {"code": wrong_code(live.approver.totp_secret)})
        if body["result"] != "invalid_code":
            break
        assert status == 400
    assert (status, body["result"]) == (409, "challenge_failed")
    assert "The EPCS permission was not changed." in body["detail"]
    assert "signed" not in body["detail"]
    assert epcs_block_reason(people.prescriber, people.practice) is not None
