"""Personal access tokens for scripts: created and shown once on the Security tab, stored as a
SHA-256, scoped, expiring, revocable, last use noted (ASVS-01, ASVS-12; docs/api.md)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from api_access import services
from api_access.models import PersonalAccessToken
from audit.models import AuditEvent
from mfa.models import VerificationChallenge
from providers.models import EpcsPermissionRequest, User
from tests.api_access.conftest import DEVICES, bearer
from tests.conftest import TEST_PASSWORD
from tests.epcs_access import test_epcs_permissions as epcs
from tests.epcs_access.test_epcs_approval_password import approver_device
from tests.epcs_access.test_epcs_permissions import People
from tests.mfa.conftest import make_stale

SECURITY = "/account/provider-settings/security/"
CREATE = "/account/api-tokens/"
people = epcs.people
pending_grant = epcs.pending_grant


def create_on_the_page(client: Client, **fields: Any) -> Any:
    body = {"name": "Nightly export", "scopes": ["mfa:read", "prescriptions:read"], "days": "90"} | fields
    return client.post(CREATE, body)


def shown_secret(html: str) -> str:
    found = re.search(r'id="new-token-value" type="text" readonly value="(ehr_pat_[A-Za-z0-9_-]+)"', html)
    assert found, "the new token is shown in a read-only field"
    return found.group(1)


@pytest.mark.req("ASVS-01")
@pytest.mark.req("ASVS-12")
def test_a_token_is_shown_once_and_stored_only_as_its_sha256(clinician_client: Client, clinician: User) -> None:
    response = create_on_the_page(clinician_client)
    assert response.status_code == 201
    secret = shown_secret(response.content.decode())
    assert len(secret) >= len("ehr_pat_") + 43  # 256 bits from the CSPRNG
    token = PersonalAccessToken.objects.get()
    assert token.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert token.user == clinician and token.scopes == ["mfa:read", "prescriptions:read"]
    stored = json.dumps(list(PersonalAccessToken.objects.values()), default=str)
    assert secret not in stored and secret[len("ehr_pat_") + 4 :] not in stored
    events = json.dumps(list(AuditEvent.objects.values("details")), default=str)
    assert secret not in events
    # The list shows its name and first characters, never the token again.
    listing = clinician_client.get(SECURITY).content.decode()
    assert '<th scope="row">Nightly export</th>' in listing and f"{token.hint}…" in listing and secret not in listing
    # Default lifetime: 90 days.
    assert abs((token.expires_at - token.created_at) - dt.timedelta(days=90)) < dt.timedelta(seconds=5)
    assert bearer(secret).get(DEVICES).status_code == 200


def test_bad_token_requests_are_form_errors_and_create_nothing(clinician_client: Client) -> None:
    bad: list[dict[str, Any]] = [
        {"name": " "},
        {"scopes": []},
        {"scopes": ["admin:all"]},
        {"days": "366"},
        {"days": "0"},
    ]
    for fields in bad:
        response = create_on_the_page(clinician_client, **fields)
        assert response.status_code == 400, fields
        assert 'class="error"' in response.content.decode()
    assert not PersonalAccessToken.objects.exists()


def test_creating_a_token_needs_a_recent_password(clinician_client: Client) -> None:
    make_stale(clinician_client)
    response = create_on_the_page(clinician_client)
    assert response.status_code == 302 and response["Location"].startswith("/account/reauthenticate/")
    assert not PersonalAccessToken.objects.exists()


@pytest.mark.req("ASVS-12")
@pytest.mark.req("ASVS-09")
def test_an_expired_token_is_refused(clinician: User) -> None:
    created = services.create_token(clinician, name="short", scopes=["mfa:read"], days=1)
    assert bearer(created.secret).get(DEVICES).status_code == 200
    PersonalAccessToken.objects.filter(pk=created.token.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = bearer(created.secret).get(DEVICES)
    assert response.status_code == 401 and response.json()["detail"] == "This token has expired."
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    refused = AuditEvent.objects.get(action="api.token_refused")
    assert refused.outcome == "denied" and refused.details == {"reason": "expired", "name": "short"}
    assert refused.actor_id == clinician.pk and created.secret not in json.dumps(refused.details)


@pytest.mark.req("ASVS-12")
def test_a_revoked_token_is_refused_and_leaves_the_list(clinician_client: Client, clinician: User) -> None:
    created = services.create_token(clinician, name="old script", scopes=["mfa:read"])
    api = bearer(created.secret)
    assert api.get(DEVICES).status_code == 200
    response = clinician_client.post(f"/account/api-tokens/{created.token.pk}/revoke/")
    assert response.status_code == 302
    refused = api.get(DEVICES)
    assert refused.status_code == 401 and refused.json()["detail"] == "This token has been revoked."
    page = clinician_client.get(SECURITY).content.decode()
    assert "The token “old script” has been revoked" in page and '<th scope="row">old script</th>' not in page
    assert AuditEvent.objects.filter(action="api.token_revoked", details__name="old script").exists()


@pytest.mark.req("ASVS-06")
def test_nobody_revokes_another_persons_token(clinician: User, make_user: Any) -> None:
    created = services.create_token(clinician, name="mine", scopes=["mfa:read"])
    intruder = make_user("dr.cuddy")
    browser = Client()
    assert browser.login(username=intruder.username, password=TEST_PASSWORD)
    assert browser.post(f"/account/api-tokens/{created.token.pk}/revoke/").status_code == 404
    assert bearer(created.secret).get(DEVICES).status_code == 200


def test_an_unknown_token_is_a_401(db: None) -> None:
    response = bearer("ehr_pat_" + "x" * 43).get(DEVICES)
    assert response.status_code == 401 and response.json()["detail"] == "Invalid token."
    assert bearer("not-a-token").get(DEVICES).status_code == 401


@pytest.mark.req("ASVS-12")
def test_last_use_is_noted(clinician: User) -> None:
    created = services.create_token(clinician, name="cron", scopes=["mfa:read"])
    assert created.token.last_used_at is None
    before = timezone.now()
    assert bearer(created.secret).get(DEVICES).status_code == 200
    created.token.refresh_from_db()
    assert created.token.last_used_at is not None and created.token.last_used_at >= before


@pytest.mark.req("ASVS-12")
@pytest.mark.req("ASVS-06")
def test_a_token_without_the_scope_is_refused(clinician: User) -> None:
    api = bearer(services.create_token(clinician, name="reader", scopes=["mfa:read"]).secret)
    assert api.get(DEVICES).status_code == 200
    response = api.post(f"{DEVICES}refresh/", content_type="application/json")
    assert response.status_code == 403 and "mfa:write" in response.json()["detail"]
    assert api.get("/api/v1/prescriptions/").status_code == 403


def test_a_browser_session_needs_no_scope(clinician_client: Client) -> None:
    assert clinician_client.get(DEVICES).status_code == 200
    assert clinician_client.get("/api/v1/prescriptions/").status_code == 200


@pytest.mark.req("DEA-03")
@pytest.mark.req("ASVS-12")
def test_epcs_sign_is_needed_to_approve_and_the_2fa_is_still_asked(
    people: People, pending_grant: EpcsPermissionRequest
) -> None:
    device = approver_device(people.registrant)
    url = f"/api/v1/epcs/requests/{pending_grant.pk}/approval/"
    body = json.dumps({"device_id": device.pk, "password": TEST_PASSWORD})
    without = services.create_token(people.registrant, name="no sign", scopes=["epcs:read", "epcs:write"])
    refused = bearer(without.secret).post(url, body, content_type="application/json")
    assert refused.status_code == 403 and "epcs:sign" in refused.json()["detail"]
    assert not VerificationChallenge.objects.exists()
    signer = services.create_token(people.registrant, name="signer", scopes=["epcs:write", "epcs:sign"])
    started = bearer(signer.secret).post(url, body, content_type="application/json")
    # The scope lets the call in; the approval still waits for the approver's second factor.
    assert started.status_code == 201 and started.json()["status"] == "pending"
    challenge = VerificationChallenge.objects.get()
    code_url = f"{url}{challenge.pk}/code/"
    code_body = json.dumps({"code": "000000"})
    no_sign = bearer(without.secret).post(code_url, code_body, content_type="application/json")
    assert no_sign.status_code == 403 and "epcs:sign" in no_sign.json()["detail"]
    pending_grant.refresh_from_db()
    assert pending_grant.status == "pending"


@pytest.mark.req("NIST-07")
def test_a_personal_token_that_can_sign_lasts_twelve_hours_at_most(clinician: User) -> None:
    signer = services.create_token(clinician, name="signer", scopes=["epcs:write", "epcs:sign"], days=90)
    reader = services.create_token(clinician, name="reader", scopes=["epcs:read"], days=90)
    lifetime = signer.token.expires_at - signer.token.created_at
    assert dt.timedelta(hours=12) - dt.timedelta(seconds=5) < lifetime <= dt.timedelta(hours=12)
    assert reader.token.expires_at - reader.token.created_at > dt.timedelta(days=89)
