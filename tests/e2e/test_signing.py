"""A clinician signs two batches in a real browser: one with a code from the code generator,
one with a push approved on the sandbox's phone page (the ID.me Authenticator in a second
browser context). A real Celery worker polls ID.me for the push."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pyotp
import pytest

from eprescribe.models import Prescription
from idme_sandbox.accounts.services import new_pairing_code
from mfa.services import sync_devices
from providers.models import User
from tests.browser import sign_in_to_ehr
from tests.conftest import TEST_PASSWORD
from tests.eprescribe.ceremony_world import make_prescribing_world
from tests.eprescribe.test_ceremony import DEA_STATEMENT_TEXT
from tests.idme_fixtures import IdmeSandboxHandle

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker_env(idme_sandbox_live: IdmeSandboxHandle, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("IDME_BASE_URL", idme_sandbox_live.base_url)
    return idme_sandbox_live.base_url


def select_and_open_review(page: Any, live_url: str, rx: Prescription) -> None:
    page.goto(f"{live_url}/eprescribe/")
    page.get_by_label(f"Select {rx.medication} for {rx.patient.full_name}").check()
    page.get_by_role("button", name="Sign selected").click()
    page.get_by_role("heading", name="Sign controlled-substance prescriptions").wait_for()


@pytest.mark.worker
@pytest.mark.req("DEA-10")
@pytest.mark.req("DEA-11")
def test_sign_one_batch_with_a_code_and_another_with_a_push_from_the_phone_page(
    idme_sandbox_live: IdmeSandboxHandle,
    clinician: User,
    worker_env: str,
    celery_worker_process: subprocess.Popen[bytes],
    browser_page: Any,
    playwright_browser: Any,
) -> None:
    from playwright.sync_api import expect

    world = make_prescribing_world(idme_sandbox_live, clinician)
    live_url = idme_sandbox_live.live_url
    page = browser_page

    # --- batch 1: two prescriptions, signed with a code from the code generator -----------
    first = world.ready()
    second = world.ready(medication=world.alprazolam, quantity=30)
    sign_in_to_ehr(page, live_url, clinician.username, TEST_PASSWORD)
    page.goto(f"{live_url}/eprescribe/")
    for rx in (first, second):
        page.get_by_label(f"Select {rx.medication} for {rx.patient.full_name}").check()
    page.get_by_role("button", name="Sign selected").click()
    expect(page.get_by_role("heading", name="Review")).to_be_visible()
    expect(page.get_by_text(DEA_STATEMENT_TEXT)).to_be_visible()
    expect(
        page.get_by_role("cell", name="Take 1 tablet by mouth every 6 hours as needed for pain").first
    ).to_be_visible()
    page.get_by_label("Enter the 6-digit code").fill(pyotp.TOTP(world.signing.totp_secret).now())
    page.get_by_role("button", name="Sign", exact=True).click()
    expect(page.get_by_text("Signed.")).to_be_visible()
    expect(page.get_by_text("2 prescriptions signed")).to_be_visible()
    for rx in (first, second):
        rx.refresh_from_db()
        assert rx.is_signed

    # --- pair the sandbox's phone page (a second browser: its key stays there) -------------
    phone_context = playwright_browser.new_context(viewport={"width": 420, "height": 900}, locale="en-US")
    phone_context.set_default_timeout(15_000)
    phone = phone_context.new_page()
    try:
        phone.goto(f"{idme_sandbox_live.base_url}/phone/")
        phone.get_by_label("Pairing code").fill(new_pairing_code(world.signing.account))
        phone.get_by_label("Device name").fill("Browser phone")
        phone.get_by_role("button", name="Pair").click()
        expect(phone.get_by_text("Paired as")).to_be_visible()
        sync_devices(world.provider)  # what eRx Info does on return from ID.me

        # --- batch 2: one prescription, signed with a push approved on the phone page -----
        third = world.ready()
        select_and_open_review(page, live_url, third)
        page.get_by_role("radio", name=re.compile("Browser phone")).check()
        page.get_by_role("button", name="Send push notification").click()
        number = page.locator("#match-number").inner_text().strip()
        assert re.fullmatch(r"\d{2}", number)
        expect(page.get_by_role("timer")).to_contain_text("Expires in")
        expect(page.get_by_text(DEA_STATEMENT_TEXT)).to_be_visible()  # still the same page

        phone.get_by_role("button", name="Refresh").click()
        request = phone.get_by_role("listitem").filter(has_text="Sign 1 controlled-substance prescription")
        expect(request).to_be_visible()
        request.get_by_label("Enter the number shown on the requesting screen").fill(number)
        request.get_by_role("button", name="Approve").click()

        # ceremony.js asks the EHR, the worker polls ID.me; the outcome stays on screen with
        # focus on it until the prescriber continues (no reload by itself).
        outcome = page.locator("#push-outcome")
        expect(outcome).to_contain_text("Approved on your phone", timeout=60_000)
        expect(outcome).to_be_focused()
        outcome.get_by_role("link", name="Continue").click()
        expect(page.get_by_text("Signed.")).to_be_visible()
        third.refresh_from_db()
        assert third.is_signed and third.device_label.startswith("Browser phone")
    finally:
        phone_context.close()
