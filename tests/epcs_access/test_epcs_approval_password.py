"""Approving or rejecting an EPCS permission change needs the approver's password entered in
the last 15 minutes and their 2FA, on the page and through the API alike (DEA-03, ASVS-05,
ASVS-12)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from mfa.models import ProviderDevice, VerificationChallenge
from providers.models import EpcsPermissionRequest, Provider, User
from tests.conftest import TEST_PASSWORD, token_client
from tests.epcs_access import test_epcs_permissions as epcs
from tests.epcs_access.test_epcs_permissions import People, signed_in
from tests.mfa.conftest import make_stale

REAUTH = "/account/reauthenticate/"
# The EPCS permission tests' people and pending request.
people = epcs.people
pending_grant = epcs.pending_grant


def approver_device(user: User) -> ProviderDevice:
    provider = Provider.objects.get(user=user)
    provider.idme_uuid = "6f1e2d3c4b5a4f6e9d8c7b6a5f4e3d2c"
    provider.save()
    return ProviderDevice.objects.create(
        provider=provider, idme_device_id="jones-totp", name="Office iPhone", kind="totp", added_at=timezone.now()
    )


def post_json(client: Client, url: str, body: dict[str, Any], **extra: Any) -> tuple[int, dict[str, Any]]:
    response = client.post(url, json.dumps(body), content_type="application/json", **extra)
    return response.status_code, response.json()


def stale_client(user: User) -> Client:
    client = signed_in(user)
    make_stale(client)  # the password was entered 16 minutes ago
    return client


@pytest.mark.req("DEA-03")
@pytest.mark.req("ASVS-05")
@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_the_page_asks_for_the_password_before_the_2fa(
    people: People, pending_grant: EpcsPermissionRequest, decision: str
) -> None:
    device = approver_device(people.registrant)
    url = f"/account/epcs-permissions/requests/{pending_grant.pk}/{decision}/"
    client = stale_client(people.registrant)
    response = client.post(url, {"step": "start", "device": device.pk, "reason": "Not yet"})
    assert response.status_code == 302 and response["Location"].startswith(REAUTH)
    assert not VerificationChallenge.objects.exists()
    refused = AuditEvent.objects.get(action="epcs.permission_approval_refused")
    assert "password entered in the last 15 minutes" in refused.details["reason"]
    # After the password, one "Continue" sends the same choice again and the 2FA starts.
    page = client.post(REAUTH, {"password": TEST_PASSWORD, "next": url})
    assert page.status_code == 200 and "Continue" in page.content.decode()
    response = client.post(url, {"step": "start", "device": device.pk, "reason": "Not yet"})
    assert response.status_code == 302 and "challenge=" in response["Location"]
    challenge = VerificationChallenge.objects.get()
    assert challenge.context["decision"] == decision
    pending_grant.refresh_from_db()
    assert pending_grant.status == "pending"  # nothing decided before the 2FA


@pytest.mark.req("DEA-03")
@pytest.mark.req("ASVS-12")
@pytest.mark.parametrize("endpoint", ["approval", "reject"])
def test_the_api_needs_a_recent_password_or_the_password_in_the_body(
    people: People, pending_grant: EpcsPermissionRequest, endpoint: str
) -> None:
    device = approver_device(people.registrant)
    url = f"/api/v1/epcs/requests/{pending_grant.pk}/{endpoint}/"
    client = stale_client(people.registrant)
    status, body = post_json(client, url, {"device_id": device.pk})
    assert status == 403 and body["code"] == "reauthentication_required"
    status, body = post_json(client, url, {"device_id": device.pk, "password": "not my password"})
    assert status == 403 and body["detail"] == "That password is not correct."
    assert AuditEvent.objects.filter(action="auth.reauthentication_failed", details__path=url).count() == 1
    assert not VerificationChallenge.objects.exists()
    status, body = post_json(client, url, {"device_id": device.pk, "password": TEST_PASSWORD})
    assert status == 201 and body["method"] == "code"
    pending_grant.refresh_from_db()
    assert pending_grant.status == "pending"


@pytest.mark.req("DEA-03")
@pytest.mark.req("ASVS-12")
def test_a_token_caller_sends_the_password_with_each_decision(
    people: People, pending_grant: EpcsPermissionRequest
) -> None:
    device = approver_device(people.registrant)
    api = token_client(people.registrant, "epcs:read", "epcs:write", "epcs:sign")
    url = f"/api/v1/epcs/requests/{pending_grant.pk}/approval/"
    status, body = post_json(api, url, {"device_id": device.pk})
    assert status == 403 and body["code"] == "reauthentication_required"
    status, _ = post_json(api, url, {"device_id": device.pk, "password": TEST_PASSWORD})
    assert status == 201
    # The password counted for that request only, not for the token or a session.
    status, body = post_json(api, url, {"device_id": device.pk})
    assert status == 403 and body["code"] == "reauthentication_required"


@pytest.mark.req("ASVS-12")
def test_password_guesses_at_the_approval_api_lock_the_approvers_account(
    people: People, pending_grant: EpcsPermissionRequest
) -> None:
    device = approver_device(people.registrant)
    client = stale_client(people.registrant)
    url = f"/api/v1/epcs/requests/{pending_grant.pk}/approval/"
    for attempt in range(10):
        assert post_json(client, url, {"device_id": device.pk, "password": f"guess-{attempt}"})[0] == 403
    status, body = post_json(client, url, {"device_id": device.pk, "password": TEST_PASSWORD})
    assert status == 429 and body["code"] == "too_many_attempts"
    assert not VerificationChallenge.objects.exists()
