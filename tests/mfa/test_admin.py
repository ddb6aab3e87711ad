"""Django admin for the device mirror: staff can look and resync, nobody edits the mirror by hand."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from mfa.models import DeviceSyncState, ProviderDevice
from providers.models import Provider, User
from tests.conftest import TEST_PASSWORD
from tests.mfa.conftest import UNREACHABLE_IDME


@pytest.fixture
def admin_client(make_user: Callable[..., User]) -> Client:
    make_user("practice.admin", is_staff=True, is_superuser=True)
    client = Client()
    assert client.login(username="practice.admin", password=TEST_PASSWORD)
    return client


def test_admin_lists_devices_read_only(
    admin_client: Client, provider: Provider, make_mirror_device: Callable[..., ProviderDevice]
) -> None:
    device = make_mirror_device(provider, "MyiPhone", primary=True)
    changelist = admin_client.get("/admin/mfa/providerdevice/")
    assert changelist.status_code == 200
    assert "MyiPhone" in changelist.content.decode()
    assert admin_client.get("/admin/mfa/providerdevice/add/").status_code == 403
    detail = admin_client.post(f"/admin/mfa/providerdevice/{device.pk}/change/", {"is_primary": ""})
    assert detail.status_code == 403
    assert admin_client.post(f"/admin/mfa/providerdevice/{device.pk}/delete/", {"post": "yes"}).status_code == 403
    device.refresh_from_db()
    assert device.is_primary
    assert admin_client.get("/admin/mfa/devicesyncstate/").status_code == 200


def test_admin_resync_action_reports_an_unreachable_idme(
    admin_client: Client, provider: Provider, make_mirror_device: Callable[..., ProviderDevice], settings: Any
) -> None:
    device = make_mirror_device(provider, "MyiPhone")
    settings.IDME_BASE_URL = UNREACHABLE_IDME
    response = admin_client.post(
        "/admin/mfa/providerdevice/",
        {"action": "resync_from_idme", "_selected_action": [device.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "ID.me could not be reached." in response.content.decode()
    assert DeviceSyncState.objects.get(provider=provider).last_error == "ID.me could not be reached."
    assert ProviderDevice.objects.filter(pk=device.pk).exists()


def test_clinicians_cannot_open_the_admin(clinician_client: Client) -> None:
    response = clinician_client.get("/admin/mfa/providerdevice/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
