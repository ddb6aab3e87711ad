"""The phone page in a real Chromium: WebCrypto Ed25519 pairing and a number-matched push sign-in."""

from __future__ import annotations

import os
from typing import Any

import pytest

from idme_sandbox.models import Account, Device, DeviceKind, PushStatus, PushTransaction
from tests.idme_fixtures import OPERATOR_TEST_PASSWORD, make_operator
from tests.idme_sandbox.conftest import SANDBOX_PASSWORD

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_pair_the_phone_page_and_approve_a_sign_in(
    live_server: Any, browser_context: Any, sandbox_account: Account
) -> None:
    base = f"{live_server.url}/idme-sandbox"
    # The account needs a method to sign in with; it then adds a push device.
    Device.objects.create(account=sandbox_account, kind=DeviceKind.SMS, phone="(555) 201-0444", name="Desk phone")
    site = browser_context.new_page()
    site.goto(f"{base}/account/security/push/")
    site.get_by_label("Email").fill(sandbox_account.email)
    site.get_by_label("Password").fill(SANDBOX_PASSWORD)
    site.get_by_role("button", name="Sign in").click()
    site.get_by_role("button", name="Select Text Message or Phone Call").click()
    site.get_by_role("button", name="Continue").click()
    phone_page = browser_context.new_page()
    # The outbox shows anyone's messages: the sandbox operator signs in first.
    make_operator()
    phone_page.goto(f"{base}/outbox/?to=5552010444")
    phone_page.get_by_label("Operator username").fill("operator")
    phone_page.get_by_label("Password").fill(OPERATOR_TEST_PASSWORD)
    phone_page.get_by_role("button", name="Sign in as operator").click()
    code = phone_page.locator("td.idme-outbox-body").first.inner_text().split()[1]
    site.get_by_label("Enter the 6-digit code").fill(code)
    site.get_by_role("button", name="Continue").click()
    pairing_code = site.get_by_label("Pairing code").inner_text().strip()

    phone_page.goto(f"{base}/phone/")
    phone_page.get_by_label("Pairing code").fill(pairing_code)
    phone_page.get_by_label("Device name").fill("Browser phone")
    phone_page.get_by_role("button", name="Pair").click()
    phone_page.get_by_text("Paired as").wait_for()
    device = Device.objects.get(account=sandbox_account, kind=DeviceKind.PUSH)
    assert device.name == "Browser phone" and len(device.public_key) == 43

    # Sign in again with the push: the wait page shows the number; the phone types it.
    site.get_by_role("button", name="Sign out").click()
    site.goto(f"{base}/account/security/")
    site.get_by_label("Email").fill(sandbox_account.email)
    site.get_by_label("Password").fill(SANDBOX_PASSWORD)
    site.get_by_role("button", name="Sign in").click()
    site.get_by_role("button", name="Select Push Notification").click()
    number = site.get_by_label("Number to match").inner_text().strip()
    push = PushTransaction.objects.get(device=device)
    assert number == push.match_number

    request = phone_page.get_by_role("listitem", name="Sign in to ID.me")
    request.get_by_label("Enter the number shown on the requesting screen").fill(number)
    request.get_by_role("button", name="Approve").click()
    site.get_by_role("heading", name="Securing Your Account").wait_for()
    push.refresh_from_db()
    assert push.status == PushStatus.APPROVED
