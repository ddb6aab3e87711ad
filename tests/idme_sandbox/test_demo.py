"""Demo ID.me accounts: idempotent seeding, documented logins that work."""

from __future__ import annotations

import pyotp
from django.conf import settings
from django.test import Client

from idme_sandbox import demo
from idme_sandbox.models import Account, Consent, Device, DeviceKind
from idme_sandbox.models import Client as OidcClient


def test_seed_is_idempotent_and_links_the_ehr_client(db: None) -> None:
    ehr = OidcClient.objects.create(client_id=settings.IDME_CLIENT_ID, name="EHR", redirect_uris="http://x/cb/")
    demo.seed_demo_accounts()
    demo.seed_demo_accounts()
    assert Account.objects.count() == 5
    alice = Account.objects.get(uuid=demo.DEMO_ALICE_UUID)
    brian = Account.objects.get(uuid=demo.DEMO_BRIAN_UUID)
    ial1 = Account.objects.get(email="ial1.only@example.test")
    assert (alice.email, alice.fname, alice.lname, alice.ial) == ("alice.smith@example.test", "Alice", "Smith", 2)
    assert (brian.email, brian.ial) == ("brian.jones@example.test", 2)
    assert ial1.ial == 1 and ial1.identity_verified_at is None
    # dr.carter (Alicia Carter) under her maiden name: the EHR's identity-mismatch demo.
    alicia = Account.objects.get(uuid=demo.DEMO_ALICIA_UUID)
    assert (alicia.email, alicia.fname, alicia.lname, alicia.ial) == ("alicia.smyth@example.test", "Alicia", "Smyth", 2)
    # dr.patel of Riverside Family Medicine, the EHR's second demo practice (README).
    priya = Account.objects.get(uuid=demo.DEMO_PRIYA_UUID)
    assert (priya.email, priya.fname, priya.lname, priya.ial) == ("priya.patel@example.test", "Priya", "Patel", 2)
    for account in (alice, brian, priya):
        assert account.check_password(demo.DEMO_IDME_PASSWORD)
        assert Consent.objects.filter(account=account, client=ehr).count() == 1
        totp = Device.objects.get(account=account, kind=DeviceKind.TOTP)
        assert totp.name == "Office iPhone"
        assert Device.objects.filter(account=account, kind=DeviceKind.SMS).count() == 1
    assert Device.objects.get(account=alice, kind=DeviceKind.TOTP).totp_secret == demo.DEMO_ALICE_TOTP_SECRET
    assert Device.objects.get(account=priya, kind=DeviceKind.TOTP).totp_secret == "DEMOPRIYA2SANDBOX3ONLY4ID5ME6XYZ"


def test_alice_signs_in_with_the_documented_key(db: None) -> None:
    demo.seed_demo_accounts()
    client = Client()
    client.post("/idme-sandbox/sign-in/", {"email": "alice.smith@example.test", "password": demo.DEMO_IDME_PASSWORD})
    device = Device.objects.get(account__uuid=demo.DEMO_ALICE_UUID, kind=DeviceKind.TOTP)
    url = f"/idme-sandbox/sign-in/mfa/{device.device_id}/code/"
    done = client.post(url, {"code": pyotp.TOTP(demo.DEMO_ALICE_TOTP_SECRET).now()})
    assert done.status_code == 302
    assert b"VERIFIED" in client.get("/idme-sandbox/account/overview/").content


def test_priya_signs_in_with_the_key_documented_in_the_readme(db: None) -> None:
    demo.seed_demo_accounts()
    client = Client()
    client.post("/idme-sandbox/sign-in/", {"email": "priya.patel@example.test", "password": demo.DEMO_IDME_PASSWORD})
    device = Device.objects.get(account__uuid=demo.DEMO_PRIYA_UUID, kind=DeviceKind.TOTP)
    url = f"/idme-sandbox/sign-in/mfa/{device.device_id}/code/"
    done = client.post(url, {"code": pyotp.TOTP("DEMOPRIYA2SANDBOX3ONLY4ID5ME6XYZ").now()})
    assert done.status_code == 302
    assert b"VERIFIED" in client.get("/idme-sandbox/account/overview/").content
