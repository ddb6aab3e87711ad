"""Fixtures for the device mirror tests: linked clinicians, sandbox accounts, mirror rows."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from idme_sandbox.models import Account, Device, DeviceKind
from mfa.models import ProviderDevice
from providers import erx_cache
from providers.models import IdentityAssurance, Provider, User
from providers.reauth import AUTHENTICATED_AT_KEY
from tests.conftest import TEST_PASSWORD
from tests.idme_fixtures import IdmeSandboxHandle

ERX_INFO = "/account/provider-settings/erx-info/"
# Nothing listens on the discard port: ID.me "cannot be reached".
UNREACHABLE_IDME = "http://127.0.0.1:9/idme-sandbox"


def link(provider: Provider, uuid: str, *, confirmed: bool = True) -> Provider:
    provider.idme_uuid = uuid
    if confirmed:
        provider.identity_ial = IdentityAssurance.IAL2
        provider.identity_verified_at = timezone.now()
    provider.save()
    return provider


@pytest.fixture
def provider(clinician: User) -> Provider:
    return link(Provider.objects.get(user=clinician), "a1b2c3d4e5f60718293a4b5c6d7e8f90")


@pytest.fixture
def make_mirror_device() -> Callable[..., ProviderDevice]:
    """A row of the mirror as a past sync left it (for tests that do not need ID.me); like a
    sync, it retires eRx Info's cached device table."""
    counter = iter(range(1, 10_000))

    def make(provider: Provider, name: str, kind: str = "totp", *, primary: bool = False) -> ProviderDevice:
        n = next(counter)
        erx_cache.bump_section(erx_cache.DEVICES, provider.pk)
        return ProviderDevice.objects.create(
            provider=provider,
            idme_device_id=f"dev{n:04d}{provider.pk}",
            name=name,
            kind=kind,
            added_at=timezone.now() - dt.timedelta(days=30) + dt.timedelta(minutes=n),
            is_primary=primary,
        )

    return make


@pytest.fixture
def other_provider(make_user: Callable[..., User]) -> Provider:
    user = make_user("dr.cuddy", first_name="Lisa", last_name="Cuddy")
    provider = Provider.objects.create(user=user, display_name="Dr. Lisa Cuddy")
    return link(provider, "0f9e8d7c6b5a49382716f5e4d3c2b1a0")


def make_stale(client: Client, seconds: float = 16 * 60) -> None:
    """Age the session's last password entry past the 15-minute reauthentication window."""
    session = client.session
    session[AUTHENTICATED_AT_KEY] = time.time() - seconds
    session.save()


@dataclass
class LiveClinician:
    """A clinician of the EHR whose provider is linked to an ID.me account in the live sandbox."""

    handle: IdmeSandboxHandle
    user: User
    provider: Provider
    account: Account
    client: Client

    def add_code_generator(self, name: str) -> Device:
        device, _secret = self.handle.add_totp_device(self.account, name)
        return device

    def add_push_device(self, name: str) -> Device:
        return Device.objects.create(
            account=self.account, kind=DeviceKind.PUSH, name=name, public_key="A" * 43, added_at=timezone.now()
        )


@pytest.fixture
def live_clinician(idme_sandbox_live: IdmeSandboxHandle, make_user: Callable[..., User]) -> LiveClinician:
    account = idme_sandbox_live.create_account("greg.house@example.test", fname="Gregory", lname="House")
    user = make_user("dr.house", first_name="Gregory", last_name="House", email="house@example.test")
    provider = Provider.objects.create(user=user, display_name="Dr. Gregory House", npi="1234567893")
    link(provider, account.uuid)
    client = Client()
    assert client.login(username=user.username, password=TEST_PASSWORD)
    return LiveClinician(idme_sandbox_live, user, provider, account, client)


def page(client: Client, url: str = ERX_INFO, **kwargs: Any) -> str:
    response = client.get(url, **kwargs)
    assert response.status_code == 200
    return response.content.decode()
