"""Demo ID.me accounts for `seed_idme_sandbox` (documented in docs/idme-sandbox.md).

DEMO ONLY: the code generator secrets below are published on purpose so a person can type them
into an authenticator app (or `oathtool --totp -b KEY`). Never use them, or these accounts,
anywhere but a local sandbox.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from idme_sandbox.models import Account, Client, Consent, Device, DeviceKind

# Fixed so the EHR's demo providers can be linked to them without talking to the sandbox.
DEMO_ALICE_UUID = "5e0d1c2b3a4f4e5d8c7b6a5f4e3d2c1b"
DEMO_BRIAN_UUID = "6f1e2d3c4b5a4f6e9d8c7b6a5f4e3d2c"
DEMO_IAL1_UUID = "7a2f3e4d5c6b4a7f8e9d0c1b2a3f4e5d"
DEMO_ALICIA_UUID = "8b3a4f5e6d7c4b8a9f0e1d2c3b4a5f6e"
DEMO_PRIYA_UUID = "9c4b5a6f7e8d4c9b8a1f2e3d4c5b6a7f"
DEMO_IDME_PASSWORD = "Demo-IDme-2026"

# Base32, 160 bits each. Published demo values: anyone can compute these codes.
DEMO_ALICE_TOTP_SECRET = "DEMOALICE2SANDBOX3ONLY4ID5ME6XYZ"
DEMO_BRIAN_TOTP_SECRET = "DEMOBRIAN2SANDBOX3ONLY4ID5ME6XYZ"
DEMO_ALICIA_TOTP_SECRET = "DEMOALICIA2SANDBOX3ONLY4ID5ME6XY"
DEMO_PRIYA_TOTP_SECRET = "DEMOPRIYA2SANDBOX3ONLY4ID5ME6XYZ"
DEMO_DEVICE_NAME = "Office iPhone"


@dataclass(frozen=True)
class DemoAccount:
    uuid: str
    email: str
    fname: str
    lname: str
    ial: int
    totp_secret: str | None
    phone: str | None
    birth_date: dt.date | None = None


# The names and dates of birth match the EHR's demo providers (providers/demo.py), so
# Verify with ID.me confirms dr.smith and dr.jones; alicia.smyth@example.test is dr.carter
# (Alicia Carter) under her maiden name: the EHR refuses it as a mismatch for an access
# manager to review.
DEMO_ACCOUNTS = [
    DemoAccount(
        DEMO_ALICE_UUID,
        "alice.smith@example.test",
        "Alice",
        "Smith",
        2,
        DEMO_ALICE_TOTP_SECRET,
        "(555) 201-0801",
        dt.date(1979, 3, 14),
    ),
    DemoAccount(
        DEMO_BRIAN_UUID,
        "brian.jones@example.test",
        "Brian",
        "Jones",
        2,
        DEMO_BRIAN_TOTP_SECRET,
        "(555) 201-0802",
        dt.date(1975, 11, 2),
    ),
    DemoAccount(DEMO_IAL1_UUID, "ial1.only@example.test", "Ian", "Lowe", 1, None, None),
    DemoAccount(
        DEMO_ALICIA_UUID,
        "alicia.smyth@example.test",
        "Alicia",
        "Smyth",
        2,
        DEMO_ALICIA_TOTP_SECRET,
        "(555) 201-0803",
        dt.date(1984, 7, 22),
    ),
    # dr.patel of Riverside Family Medicine, the EHR's second demo practice (the EHR seed links her).
    DemoAccount(
        DEMO_PRIYA_UUID,
        "priya.patel@example.test",
        "Priya",
        "Patel",
        2,
        DEMO_PRIYA_TOTP_SECRET,
        "(555) 201-0804",
        dt.date(1982, 5, 9),
    ),
]


def _seed_one(demo: DemoAccount, client: Client | None) -> Account:
    account = Account.objects.filter(uuid=demo.uuid).first() or Account.objects.filter(email=demo.email).first()
    if account is None:
        account = Account(uuid=demo.uuid, email=demo.email)
    account.email = demo.email
    account.fname, account.lname = demo.fname, demo.lname
    account.birth_date = demo.birth_date
    account.ial = demo.ial
    if demo.ial >= 2 and account.identity_verified_at is None:
        account.identity_verified_at = timezone.now()
    if demo.ial < 2:
        account.identity_verified_at = None
    account.phone = demo.phone or ""
    account.set_password(DEMO_IDME_PASSWORD)
    account.save()
    if demo.totp_secret and not account.devices.filter(kind=DeviceKind.TOTP, name=DEMO_DEVICE_NAME).exists():
        Device.objects.create(
            account=account, kind=DeviceKind.TOTP, name=DEMO_DEVICE_NAME, totp_secret=demo.totp_secret
        )
    if demo.phone and not account.devices.filter(kind=DeviceKind.SMS, phone=demo.phone).exists():
        Device.objects.create(account=account, kind=DeviceKind.SMS, name="Mobile phone", phone=demo.phone)
    if client is not None and demo.ial >= 2:
        Consent.objects.get_or_create(account=account, client=client, defaults={"scope": client.scope})
    return account


def seed_demo_accounts() -> list[Account]:
    """Create or refresh the demo accounts (idempotent)."""
    client = Client.objects.filter(client_id=settings.IDME_SANDBOX_EHR_CLIENT_ID).first()
    with transaction.atomic():
        return [_seed_one(demo, client) for demo in DEMO_ACCOUNTS]
