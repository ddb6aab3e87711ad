"""The seed article, walked in a real browser: a clinician changes the MFA device they sign with.

EHR (eRx Info) -> Update MFA Device -> ID.me sign-in with MFA -> Sign In & Security -> add a
Code Generator (QR read from the page, code computed like an authenticator app would) and
name it -> back at eRx Info the new device is listed -> Select as the primary device ->
"Is Primary" -> at ID.me delete the old device with the trash can -> back at eRx Info the
old device is gone. Selectors are the article's words, roles and labels, never CSS ids.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import os
from pathlib import Path
from typing import Any

import pyotp
import pytest
import zxingcpp
from django.utils import timezone
from PIL import Image

from audit.models import AuditEvent
from mfa import services
from mfa.models import DeviceSyncState, ProviderDevice
from providers.models import Provider, User
from tests.browser import sign_in_to_ehr
from tests.conftest import TEST_PASSWORD
from tests.idme_fixtures import IDME_TEST_PASSWORD, IdmeSandboxHandle
from tests.mfa.conftest import link

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The README's picture is refreshed by `make screenshots`; ordinary runs write under var/.
_ROOT = Path(__file__).resolve().parents[2]
_SCREENSHOT_DIR = (
    _ROOT / "docs" / "images" if os.environ.get("EHR_UPDATE_SCREENSHOTS") == "1" else _ROOT / "var" / "screenshots"
)
SCREENSHOT = _SCREENSHOT_DIR / "erx-info.png"
CLIENT_NAME = "EHR Demo Practice"


def code_from_qr(page: Any) -> str:
    """Read the QR image on the page and compute its current code, as an authenticator app does."""
    src = page.get_by_role("img", name="QR code to scan with your code generator app").get_attribute("src")
    assert src and src.startswith("data:image/png;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
    barcodes = zxingcpp.read_barcodes(image)
    assert len(barcodes) == 1, "exactly one QR code on the page"
    otp = pyotp.parse_uri(barcodes[0].text)
    assert isinstance(otp, pyotp.TOTP)
    return otp.now()


def device_row(page: Any, name: str) -> Any:
    table = page.get_by_role("table", name="ID.Me Device Information")
    return table.get_by_role("row").filter(has=page.get_by_role("cell", name=name))


@pytest.mark.req("NIST-05")
@pytest.mark.req("NIST-06")
@pytest.mark.req("ASVS-05")
def test_change_the_mfa_device_as_the_seed_article_describes(
    idme_sandbox_live: IdmeSandboxHandle, clinician: User, browser_page: Any
) -> None:
    from playwright.sync_api import expect

    # Before: the clinician signs EPCS with the code generator "android" (seed step 1's screen).
    account = idme_sandbox_live.create_account("greg.house@example.test", fname="Gregory", lname="House")
    _old_device, old_secret = idme_sandbox_live.add_totp_device(account, "android")
    provider = link(Provider.objects.get(user=clinician), account.uuid)
    services.sync_devices(provider)
    services.select_primary_device(provider, ProviderDevice.objects.get(provider=provider, name="android").pk)
    live_url = idme_sandbox_live.live_url
    page = browser_page

    # Log in to the EHR; Account > Provider Settings > eRx Info.
    sign_in_to_ehr(page, live_url, clinician.username, TEST_PASSWORD)
    page.get_by_text("Account", exact=True).click()
    page.get_by_role("link", name="Provider Settings").click()
    page.get_by_role("link", name="eRx Info").click()
    expect(page.get_by_role("heading", name="ID.Me Device Information")).to_be_visible()
    expect(device_row(page, "android")).to_contain_text("Generate 2FA Key")
    expect(device_row(page, "android")).to_contain_text("Is Primary")

    # 1. Update MFA Device.
    page.get_by_role("link", name="Update MFA Device").click()

    # 2-3. Sign in at ID.me, then complete the sign-in with the code generator (MFA).
    page.get_by_label("Email").fill(account.email)
    page.get_by_label("Password").fill(IDME_TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Complete your sign in")).to_be_visible()
    page.get_by_role("button", name="Select Code Generator").click()
    page.get_by_label("Enter the 6-digit code").fill(pyotp.TOTP(old_secret).now())
    page.get_by_role("button", name="Continue").click()

    # Sign In & Security.
    expect(page.get_by_role("link", name="Sign In & Security")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("heading", name="Securing Your Account")).to_be_visible()

    # 4-5. Set up a new Code Generator: scan the QR code, confirm a code, name the device.
    page.get_by_role("link", name="Set Up Code Generator").click()
    expect(page.get_by_role("heading", name="Secure your account")).to_be_visible()
    page.get_by_label("Enter the 6-digit code").fill(code_from_qr(page))
    page.get_by_label("Name your device").fill("MyiPhone")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_text("Your code generator “MyiPhone” was added.")).to_be_visible()

    # 6. Return to the EHR: eRx Info lists the new device and names the change.
    page.get_by_role("link", name=f"Return to {CLIENT_NAME}").click()
    expect(page.get_by_role("heading", name="ID.Me Device Information")).to_be_visible()
    expect(page.get_by_text("Added: MyiPhone.")).to_be_visible()
    expect(device_row(page, "MyiPhone")).to_contain_text("Generate 2FA Key")
    expect(device_row(page, "android")).to_contain_text("Is Primary")

    # Select as the primary device, next to the new one.
    device_row(page, "MyiPhone").get_by_role("button", name="Select as the primary device").click()
    expect(page.get_by_text("MyiPhone is now your primary device.")).to_be_visible()
    expect(device_row(page, "MyiPhone")).to_contain_text("Is Primary")
    expect(device_row(page, "android").get_by_role("button", name="Select as the primary device")).to_be_visible()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.get_by_role("link", name="eRx Info").click()  # a clean page, without the one-time message
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # At ID.me, delete the old device with the trash can.
    page.get_by_role("link", name="Update MFA Device").click()
    page.get_by_role("link", name="Delete android").click()
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("“android” was deleted.")).to_be_visible()

    # Back at eRx Info the old device is gone; the new one is still the primary.
    page.get_by_role("link", name=f"Return to {CLIENT_NAME}").click()
    expect(page.get_by_text("Removed: android.")).to_be_visible()
    expect(device_row(page, "android")).to_have_count(0)
    expect(device_row(page, "MyiPhone")).to_contain_text("Is Primary")

    # The mirror and the audit trail say the same (NIST-05, NIST-06).
    assert [d.name for d in services.devices_for(provider)] == ["MyiPhone"]
    assert services.primary_device(provider) is not None
    assert AuditEvent.objects.filter(action="mfa.device_added", details__name="MyiPhone").count() == 1
    assert AuditEvent.objects.filter(action="mfa.device_removed", details__name="android").count() == 1
    assert SCREENSHOT.stat().st_size > 10_000


@pytest.fixture
def worker_for_sandbox(idme_sandbox_live: IdmeSandboxHandle, monkeypatch: pytest.MonkeyPatch, request: Any) -> Any:
    """A real Celery worker process whose ID.me is the sandbox on the live server."""
    monkeypatch.setenv("IDME_BASE_URL", idme_sandbox_live.base_url)
    return request.getfixturevalue("celery_worker_process")


@pytest.mark.worker
@pytest.mark.req("NIST-05")
def test_erx_info_updates_itself_when_the_background_sync_finds_a_removed_device(
    idme_sandbox_live: IdmeSandboxHandle, clinician: User, browser_page: Any, worker_for_sandbox: Any
) -> None:
    """A device deleted at ID.me outside the return flow: eRx Info opens at once from the
    mirror, a worker syncs in the background, and the page reloads with the change."""
    from playwright.sync_api import expect

    account = idme_sandbox_live.create_account("greg.house@example.test", fname="Gregory", lname="House")
    old_device, _ = idme_sandbox_live.add_totp_device(account, "android")
    idme_sandbox_live.add_totp_device(account, "MyiPhone")
    provider = link(Provider.objects.get(user=clinician), account.uuid)
    services.sync_devices(provider)
    services.select_primary_device(provider, ProviderDevice.objects.get(provider=provider, name="android").pk)
    old_device.delete()  # deleted at ID.me (say, from another browser); the mirror is now stale
    DeviceSyncState.objects.filter(provider=provider).update(
        last_synced_at=timezone.now() - services.STALE_AFTER - dt.timedelta(seconds=1)
    )
    page = browser_page

    sign_in_to_ehr(page, idme_sandbox_live.live_url, clinician.username, TEST_PASSWORD)
    page.get_by_text("Account", exact=True).click()
    page.get_by_role("link", name="Provider Settings").click()
    page.get_by_role("link", name="eRx Info").click()
    expect(page.get_by_text("Checking ID.me for changes")).to_be_visible()
    expect(device_row(page, "android")).to_contain_text("Is Primary")  # the mirror, at once

    expect(page.get_by_text("Your primary device was removed at ID.me; select a new one.")).to_be_visible(
        timeout=30_000
    )
    expect(device_row(page, "android")).to_have_count(0)
    expect(device_row(page, "MyiPhone").get_by_role("button", name="Select as the primary device")).to_be_visible()
    assert services.primary_device(provider) is None
