"""The device REST API (/api/v1/mfa/devices/) from the owner's and an attacker's side."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from mfa.models import DeviceSyncState, ProviderDevice
from providers.models import Provider, User
from tests.conftest import TEST_PASSWORD, token_client
from tests.mfa.conftest import UNREACHABLE_IDME, make_stale

API = "/api/v1/mfa/devices/"
MakeDevice = Callable[..., ProviderDevice]


def post_json(client: Client, url: str, body: Any = None, **extra: Any) -> Any:
    return client.post(url, body if isinstance(body, str) else (body or {}), content_type="application/json", **extra)


def test_list_shows_only_my_devices(
    clinician_client: Client, provider: Provider, other_provider: Provider, make_mirror_device: MakeDevice
) -> None:
    make_mirror_device(provider, "MyiPhone", primary=True)
    make_mirror_device(provider, "Office push", "push")
    make_mirror_device(other_provider, "Cuddy's phone", primary=True)

    response = clinician_client.get(API)

    assert response.status_code == 200
    body = response.json()
    assert [(d["name"], d["option"], d["is_primary"]) for d in body] == [
        ("MyiPhone", "Generate 2FA Key", True),
        ("Office push", "Push Notification 2FA", False),
    ]


@pytest.mark.req("ASVS-06")
def test_another_providers_device_is_not_found_on_every_endpoint(
    clinician_client: Client, provider: Provider, other_provider: Provider, make_mirror_device: MakeDevice
) -> None:
    theirs = make_mirror_device(other_provider, "Cuddy's phone")

    read = clinician_client.get(f"{API}{theirs.pk}/")
    choose = post_json(clinician_client, f"{API}{theirs.pk}/primary/", {"password": TEST_PASSWORD})

    for response in (read, choose):
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    theirs.refresh_from_db()
    assert not theirs.is_primary
    assert not AuditEvent.objects.filter(action="mfa.primary_device_selected").exists()


@pytest.mark.req("ASVS-05")
def test_select_primary_with_a_recent_session(
    clinician_client: Client, provider: Provider, make_mirror_device: MakeDevice
) -> None:
    make_mirror_device(provider, "android", primary=True)
    new = make_mirror_device(provider, "MyiPhone")

    response = post_json(clinician_client, f"{API}{new.pk}/primary/")

    assert response.status_code == 200
    assert response.json()["is_primary"] is True
    assert list(ProviderDevice.objects.filter(is_primary=True)) == [new]
    # Idempotent: the same choice again changes nothing and records nothing new.
    assert post_json(clinician_client, f"{API}{new.pk}/primary/").status_code == 200
    assert AuditEvent.objects.filter(action="mfa.primary_device_selected").count() == 1


@pytest.mark.req("ASVS-05")
def test_select_primary_without_recent_sign_in_needs_the_password(
    clinician_client: Client, provider: Provider, make_mirror_device: MakeDevice
) -> None:
    device = make_mirror_device(provider, "MyiPhone")
    make_stale(clinician_client)
    url = f"{API}{device.pk}/primary/"

    missing = post_json(clinician_client, url)
    wrong = post_json(clinician_client, url, {"password": "Wrong-Password-1"})

    assert missing.status_code == 403 and missing.json()["code"] == "reauthentication_required"
    assert wrong.status_code == 403 and wrong.json()["detail"] == "That password is not correct."
    device.refresh_from_db()
    assert not device.is_primary
    assert AuditEvent.objects.filter(action="auth.reauthentication_failed").count() == 1
    right = post_json(clinician_client, url, {"password": TEST_PASSWORD})
    assert right.status_code == 200
    device.refresh_from_db()
    assert device.is_primary


@pytest.mark.req("ASVS-02")
def test_password_guessing_through_the_api_is_locked_out(
    clinician_client: Client, provider: Provider, make_mirror_device: MakeDevice
) -> None:
    device = make_mirror_device(provider, "MyiPhone")
    make_stale(clinician_client)
    url = f"{API}{device.pk}/primary/"
    for attempt in range(10):
        assert post_json(clinician_client, url, {"password": f"guess-{attempt}"}).status_code == 403
    locked = post_json(clinician_client, url, {"password": TEST_PASSWORD})
    assert locked.status_code == 429 and locked.json()["code"] == "too_many_attempts"
    assert locked["Content-Type"] == "application/problem+json" and locked["Retry-After"] == "900"
    device.refresh_from_db()
    assert not device.is_primary


@pytest.mark.req("ASVS-05")
def test_token_clients_confirm_with_the_password(
    clinician: User, provider: Provider, make_mirror_device: MakeDevice
) -> None:
    device = make_mirror_device(provider, "MyiPhone")
    api = token_client(clinician, "mfa:read", "mfa:write")
    url = f"{API}{device.pk}/primary/"
    assert api.get(API).status_code == 200
    assert post_json(api, url).status_code == 403
    assert post_json(api, url, {"password": TEST_PASSWORD}).status_code == 200
    device.refresh_from_db()
    assert device.is_primary


@pytest.mark.req("ASVS-10")
@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("{pk}/primary/", "{not json", 400),
        ("{pk}/primary/", '{"password": 12}', 200),  # coerced to "12": recent session, password unused
        ("{pk}/primary/", '["a list"]', 400),
        ("{pk}/primary/", '{"password": "' + "x" * 300 + '"}', 400),
        ("not-a-number/primary/", "{}", 404),
        ("999999999999999999999/primary/", "{}", 404),
        ("{pk}/", "{}", 405),
    ],
)
def test_bad_input_gets_a_json_4xx_and_changes_nothing(
    clinician_client: Client, provider: Provider, make_mirror_device: MakeDevice, path: str, body: str, status: int
) -> None:
    device = make_mirror_device(provider, "MyiPhone")
    response = post_json(clinician_client, API + path.format(pk=device.pk), body)
    assert response.status_code == status
    if status >= 400:
        assert response["Content-Type"] == "application/problem+json" and response.json()["code"]
        device.refresh_from_db()
        assert not device.is_primary
        assert not AuditEvent.objects.filter(action="mfa.primary_device_selected").exists()


def test_anonymous_callers_get_json_401_or_403(provider: Provider, make_mirror_device: MakeDevice) -> None:
    device = make_mirror_device(provider, "MyiPhone")
    anonymous = Client()
    for response in (anonymous.get(API), post_json(anonymous, f"{API}{device.pk}/primary/")):
        assert response.status_code in (401, 403)
        assert response.json()["code"] == "not_authenticated"


def test_refresh_of_an_unlinked_provider_is_a_conflict(clinician_client: Client, clinician: User) -> None:
    response = post_json(clinician_client, f"{API}refresh/")
    assert response.status_code == 409
    assert response.json()["code"] == "not_linked"


def test_refresh_when_idme_is_unreachable_is_503_json(
    clinician_client: Client, provider: Provider, make_mirror_device: MakeDevice, settings: Any
) -> None:
    make_mirror_device(provider, "MyiPhone")
    settings.IDME_BASE_URL = UNREACHABLE_IDME
    response = post_json(clinician_client, f"{API}refresh/")
    assert response.status_code == 503
    assert response.json()["code"] == "idme_unavailable"
    assert [d["name"] for d in clinician_client.get(API).json()] == ["MyiPhone"]


def test_schema_describes_the_device_endpoints(clinician_client: Client) -> None:
    schema = clinician_client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").content.decode()
    for path in ("/api/v1/mfa/devices/", "/api/v1/mfa/devices/{id}/primary/", "/api/v1/mfa/devices/refresh/"):
        assert path in schema
    assert "Select as the primary device" in schema


def test_sync_status_tells_when_the_mirror_was_last_synced(clinician_client: Client, provider: Provider) -> None:
    before = clinician_client.get(f"{API}sync-status/").json()
    assert before == {"linked": True, "last_synced_at": None, "last_attempt_at": None, "last_error": "", "stale": True}
    DeviceSyncState.objects.create(provider=provider, last_synced_at=timezone.now(), last_attempt_at=timezone.now())
    after = clinician_client.get(f"{API}sync-status/").json()
    assert after["stale"] is False and after["last_synced_at"] is not None
