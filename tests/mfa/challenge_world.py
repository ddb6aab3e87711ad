"""A provider linked to a live ID.me sandbox account with a code generator and a phone.

Used by tests/mfa/test_challenges.py and tests/eprescribe/test_ceremony*.py. Everything is
arranged the way the product does it: the sandbox holds the devices, the EHR's mirror comes
from `mfa.services.sync_devices` over HTTP, and the phone answers with a signed approval.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyotp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.utils import timezone

from idme_sandbox import authenticators
from idme_sandbox.models import Account, Device, DeviceKind, PushTransaction
from mfa.models import ProviderDevice
from providers.models import IdentityAssurance, Provider, User
from tests.conftest import start_celery_worker, stop_celery_worker
from tests.idme_fixtures import IdmeSandboxHandle


@dataclass
class Phone:
    """The ID.me Authenticator of one sandbox push device."""

    device: Device
    key: Ed25519PrivateKey

    def pushes(self) -> list[PushTransaction]:
        return list(PushTransaction.objects.filter(device=self.device).order_by("created_at"))

    def latest_push(self) -> PushTransaction:
        push = PushTransaction.objects.filter(device=self.device).order_by("-created_at").first()
        assert push is not None, "no push reached the phone"
        return push

    def answer(self, push: PushTransaction, decision: str = "approve", number: str | None = None) -> PushTransaction:
        number = push.match_number if number is None else number
        message = authenticators.answer_message(push.txid, decision, number)
        signature = authenticators.encode_b64url(self.key.sign(message))
        return authenticators.answer_push(push.txid, decision, number, signature)


@dataclass
class SigningWorld:
    sandbox: IdmeSandboxHandle
    user: User
    provider: Provider
    account: Account
    totp_secret: str
    sandbox_totp: Device
    phone: Phone
    totp_device: ProviderDevice
    push_device: ProviderDevice
    extra: dict[str, Any] = field(default_factory=dict)

    def code(self, secret: str | None = None) -> str:
        return pyotp.TOTP(secret or self.totp_secret).now()


def wrong_code(secret: str) -> str:
    """A 6-digit code that is not valid for this secret in the accepted drift window."""
    totp = pyotp.TOTP(secret)
    now = time.time()
    valid = {totp.at(now + offset) for offset in (-60, -30, 0, 30, 60)}
    candidate = 0
    while f"{candidate:06d}" in valid:
        candidate += 1
    return f"{candidate:06d}"


def add_phone(sandbox: IdmeSandboxHandle, account: Account, name: str = "My iPhone") -> Phone:
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    device = Device.objects.create(
        account=account, kind=DeviceKind.PUSH, name=name, public_key=authenticators.encode_b64url(raw)
    )
    return Phone(device=device, key=key)


def make_signing_world(
    sandbox: IdmeSandboxHandle, user: User, *, email: str = "house@example.test", primary: str = "totp"
) -> SigningWorld:
    """Link `user`'s provider to a new IAL2 sandbox account with one code generator and one
    phone, mirror the devices through the EHR's sync, and choose the primary device."""
    from mfa.services import select_primary_device, sync_devices

    account = sandbox.create_account(email, fname=user.first_name or "Pat", lname=user.last_name or "Doe")
    sandbox_totp, secret = sandbox.add_totp_device(account, "Office iPhone")
    phone = add_phone(sandbox, account)
    provider = Provider.objects.get(user=user)
    provider.idme_uuid = account.uuid
    provider.identity_ial = IdentityAssurance.IAL2
    provider.identity_aal = "2"
    provider.identity_verified_at = timezone.now()
    provider.address_line1 = provider.address_line1 or "1 Princeton Plaza"
    provider.city = provider.city or "Princeton"
    provider.state = provider.state or "NJ"
    provider.postal_code = provider.postal_code or "08540"
    provider.save()
    sync_devices(provider)
    totp_device = ProviderDevice.objects.get(provider=provider, idme_device_id=sandbox_totp.device_id)
    push_device = ProviderDevice.objects.get(provider=provider, idme_device_id=phone.device.device_id)
    select_primary_device(provider, (totp_device if primary == "totp" else push_device).pk)
    return SigningWorld(
        sandbox=sandbox,
        user=user,
        provider=provider,
        account=account,
        totp_secret=secret,
        sandbox_totp=sandbox_totp,
        phone=phone,
        totp_device=totp_device,
        push_device=push_device,
    )


def wait_for(predicate: Any, timeout: float = 30.0, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def start_worker(log: Path, idme_base_url: str, concurrency: int = 2, *, purge: bool = True) -> subprocess.Popen[bytes]:
    """A real worker pointed at the live sandbox, so a test can kill it and start another."""
    return start_celery_worker(log, extra_env={"IDME_BASE_URL": idme_base_url}, concurrency=concurrency, purge=purge)


stop_worker = stop_celery_worker


def expire_push_at_sandbox(push: PushTransaction) -> None:
    """Time passes on the phone's side: the push's expiry is now behind us."""
    PushTransaction.objects.filter(pk=push.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
