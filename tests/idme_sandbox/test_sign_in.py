"""ID.me sandbox sign-up and sign-in with each multi-factor method (the seed's step 3)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pyotp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from idme_sandbox import authenticators
from idme_sandbox.models import Account, Device, DeviceKind, OutboxMessage, PushStatus, PushTransaction
from idme_sandbox.session import COOKIE_NAME, read_session
from tests.idme_sandbox.conftest import SANDBOX_PASSWORD, sign_answer, sign_in_operator

SIGN_IN = "/idme-sandbox/sign-in/"
SECURITY = "/idme-sandbox/account/security/"


def password_step(client: Client, email: str, password: str = SANDBOX_PASSWORD, next_url: str = SECURITY) -> str:
    response = client.post(SIGN_IN, {"email": email, "password": password, "next": next_url})
    assert response.status_code == 302, response.content
    return str(response["Location"])


def test_sign_in_url_name_and_path() -> None:
    assert reverse("idme_sandbox:sign_in") == SIGN_IN


def test_sign_up_creates_an_ial1_account_told_to_add_a_method(db: None) -> None:
    client = Client()
    page = client.get("/idme-sandbox/sign-up/")
    assert page.status_code == 200
    response = client.post(
        "/idme-sandbox/sign-up/",
        {"fname": "Nia", "lname": "Park", "email": "Nia.Park@Example.test", "password": "Long-enough-pass-42"},
    )
    assert response.status_code == 302
    account = Account.objects.get(email="nia.park@example.test")
    assert account.ial == 1 and account.check_password("Long-enough-pass-42")
    overview = client.get(response["Location"])
    assert b"Set one up" in overview.content or b"multi-factor method" in overview.content
    assert b"NOT VERIFIED" in overview.content


def test_sign_up_refuses_a_weak_password_and_a_taken_email(sandbox_account: Account) -> None:
    client = Client()
    weak = client.post(
        "/idme-sandbox/sign-up/", {"fname": "A", "lname": "B", "email": "new@example.test", "password": "123"}
    )
    assert weak.status_code == 200 and b"too short" in weak.content
    taken = client.post(
        "/idme-sandbox/sign-up/",
        {"fname": "A", "lname": "B", "email": sandbox_account.email, "password": "Long-enough-pass-42"},
    )
    assert b"already exists" in taken.content
    assert Account.objects.count() == 1


def test_code_generator_sign_in(sandbox_totp_device: Device) -> None:
    client = Client()
    choose = password_step(client, sandbox_totp_device.account.email)
    page = client.get(choose)
    text = page.content.decode()
    assert "COMPLETE YOUR SIGN IN" in text.upper()
    assert (
        "You have the following multi-factor authentication methods enabled. Choose one to finish signing in." in text
    )
    assert "Code Generator Application" in text and "Select" in text
    # Not signed in yet: the account pages send the browser back to sign-in.
    assert client.get(SECURITY).status_code == 302
    method = client.get(f"/idme-sandbox/sign-in/mfa/{sandbox_totp_device.device_id}/", {"next": SECURITY})
    code_page = client.get(method["Location"])
    assert b"Enter the 6-digit code" in code_page.content and b"Go back" in code_page.content
    wrong = client.post(method["Location"], {"code": "000000", "next": SECURITY})
    assert wrong.status_code == 400 and b"not correct" in wrong.content
    done = client.post(
        method["Location"], {"code": pyotp.TOTP(sandbox_totp_device.totp_secret).now(), "next": SECURITY}
    )
    assert done.status_code == 302 and done["Location"] == SECURITY
    assert client.get(SECURITY).status_code == 200


def test_text_message_sign_in_reads_the_code_from_the_outbox(sandbox_account: Account) -> None:
    phone = Device.objects.create(account=sandbox_account, kind=DeviceKind.SMS, phone="(555) 201-0999", name="Mobile")
    client = Client()
    client.get(password_step(client, sandbox_account.email))
    method_url = f"/idme-sandbox/sign-in/mfa/{phone.device_id}/"
    choice = client.get(method_url, {"next": SECURITY})
    assert b"Text me" in choice.content and b"Call me" in choice.content and b"(***) ***-*999" in choice.content
    sent = client.post(method_url, {"channel": "sms", "next": SECURITY})
    assert sent.status_code == 302
    page = client.get(sent["Location"])
    assert b"Please check your phone for the 6-digit code that we just sent to you at (***) ***-*999." in page.content
    sign_in_operator(client)
    outbox = client.get("/idme-sandbox/outbox/", {"to": "555-201-0999"})
    code = re.search(r"ID\.me: (\d{6}) is your verification code", outbox.content.decode())
    assert code is not None
    done = client.post(sent["Location"], {"code": code.group(1), "next": SECURITY})
    assert done.status_code == 302 and done["Location"] == SECURITY
    # The code works once.
    other = Client()
    client_b_url = password_step(other, sandbox_account.email)
    other.get(client_b_url)
    again = other.post(sent["Location"], {"code": code.group(1), "next": SECURITY})
    assert again.status_code == 400


def test_voice_code_goes_to_the_outbox_as_a_call(sandbox_account: Account) -> None:
    phone = Device.objects.create(account=sandbox_account, kind=DeviceKind.SMS, phone="(555) 201-0998", name="Desk")
    client = Client()
    client.get(password_step(client, sandbox_account.email))
    client.post(f"/idme-sandbox/sign-in/mfa/{phone.device_id}/", {"channel": "voice"})
    assert OutboxMessage.objects.get(phone="(555) 201-0998").channel == "voice"


def test_push_sign_in_waits_for_a_signed_approval(
    sandbox_push_device: Device, sandbox_phone_key: Ed25519PrivateKey
) -> None:
    client = Client()
    client.get(password_step(client, sandbox_push_device.account.email))
    started = client.post(f"/idme-sandbox/sign-in/mfa/{sandbox_push_device.device_id}/", {"next": SECURITY})
    assert started.status_code == 302
    push = PushTransaction.objects.get(device=sandbox_push_device)
    wait = client.get(started["Location"])
    assert push.match_number.encode() in wait.content and b"push_wait.js" in wait.content
    status_url = f"/idme-sandbox/sign-in/push/{push.txid}/status/"
    assert client.get(status_url).json() == {"status": "pending"}
    # Continue before the approval keeps waiting.
    early = client.post(started["Location"], {"action": "continue", "next": SECURITY})
    assert early.status_code == 200
    authenticators.answer_push(
        push.txid, "approve", push.match_number, sign_answer(sandbox_phone_key, push.txid, "approve", push.match_number)
    )
    assert client.get(status_url).json() == {"status": "approved"}
    done = client.post(started["Location"], {"action": "continue", "next": SECURITY})
    assert done.status_code == 302 and done["Location"] == SECURITY
    assert client.get(SECURITY).status_code == 200


def test_an_approved_push_of_another_kind_does_not_finish_sign_in(
    sandbox_push_device: Device, sandbox_phone_key: Ed25519PrivateKey
) -> None:
    """A partner's approved push (or another browser's) cannot be presented as this sign-in."""
    other_push = authenticators.create_push(sandbox_push_device.account, sandbox_push_device, "Sign 1 prescription", "")
    authenticators.answer_push(
        other_push.txid,
        "approve",
        other_push.match_number,
        sign_answer(sandbox_phone_key, other_push.txid, "approve", other_push.match_number),
    )
    client = Client()
    client.get(password_step(client, sandbox_push_device.account.email))
    response = client.post(f"/idme-sandbox/sign-in/push/{other_push.txid}/", {"action": "continue"})
    assert response.status_code == 404
    assert client.get(SECURITY).status_code == 302


def test_a_denied_push_does_not_sign_in(sandbox_push_device: Device, sandbox_phone_key: Ed25519PrivateKey) -> None:
    client = Client()
    client.get(password_step(client, sandbox_push_device.account.email))
    started = client.post(f"/idme-sandbox/sign-in/mfa/{sandbox_push_device.device_id}/", {"next": SECURITY})
    push = PushTransaction.objects.get(device=sandbox_push_device)
    authenticators.answer_push(
        push.txid, "deny", push.match_number, sign_answer(sandbox_phone_key, push.txid, "deny", push.match_number)
    )
    page = client.post(started["Location"], {"action": "continue"})
    assert page.status_code == 200 and b"denied" in page.content
    assert PushTransaction.objects.get(pk=push.pk).status == PushStatus.DENIED
    assert client.get(SECURITY).status_code == 302


def test_account_without_methods_skips_mfa_and_is_told_to_add_one(sandbox_account: Account) -> None:
    client = Client()
    location = password_step(client, sandbox_account.email)
    assert location == SECURITY
    page = client.get(location)
    assert page.status_code == 200
    assert b"no multi-factor method" in page.content


@pytest.mark.req("ASVS-02")
def test_sign_in_is_throttled_after_ten_failures(sandbox_account: Account) -> None:
    client = Client()
    for _ in range(10):
        failed = client.post(SIGN_IN, {"email": sandbox_account.email, "password": "wrong-password"})
        assert failed.status_code == 200 and b"incorrect" in failed.content
    locked = client.post(SIGN_IN, {"email": sandbox_account.email, "password": SANDBOX_PASSWORD})
    assert locked.status_code == 429 and b"Too many failed sign-in attempts" in locked.content
    assert COOKIE_NAME not in locked.cookies


@pytest.mark.req("ASVS-02")
def test_code_entry_is_throttled_per_account(
    sandbox_totp_device: Device, make_sandbox_account: Callable[..., Account]
) -> None:
    # Spread over two code generators so the device lockout alone would not stop the guessing.
    second = Device.objects.create(
        account=sandbox_totp_device.account, kind=DeviceKind.TOTP, name="iPad", totp_secret=pyotp.random_base32(32)
    )
    client = Client()
    client.get(password_step(client, sandbox_totp_device.account.email))
    for device in [sandbox_totp_device, second] * 5:
        client.post(f"/idme-sandbox/sign-in/mfa/{device.device_id}/code/", {"code": "123456"})
    refused = client.post(
        f"/idme-sandbox/sign-in/mfa/{second.device_id}/code/", {"code": pyotp.TOTP(second.totp_secret).now()}
    )
    assert refused.status_code == 429
    assert client.get(SECURITY).status_code == 302


def test_next_outside_the_sandbox_is_ignored(sandbox_account: Account) -> None:
    for evil in ["https://evil.example/", "//evil.example/x", "/admin/", "/\\evil.example"]:
        client = Client()
        location = password_step(client, sandbox_account.email, next_url=evil)
        assert location == "/idme-sandbox/account/overview/"


def test_sign_out_ends_the_session(sandbox_account: Account) -> None:
    client = Client()
    password_step(client, sandbox_account.email)
    assert client.get(SECURITY).status_code == 200
    out = client.post("/idme-sandbox/sign-out/")
    assert out.status_code == 302
    assert client.get(SECURITY).status_code == 302


def test_the_sandbox_cookie_is_its_own(sandbox_account: Account) -> None:
    client = Client()
    response = client.post(SIGN_IN, {"email": sandbox_account.email, "password": SANDBOX_PASSWORD})
    cookie = response.cookies[COOKIE_NAME]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert "ehr_sessionid" not in response.cookies


def test_identity_verification_raises_the_account_to_ial2(sandbox_account: Account) -> None:
    client = Client()
    password_step(client, sandbox_account.email)
    details = {
        "fname": "Pat",
        "lname": "Doe",
        "birth_date": "1980-04-02",
        "ssn_last4": "1234",
        "street": "1 Main St",
        "city": "Springfield",
        "state": "IL",
        "zip_code": "62701",
    }
    minor = client.post("/idme-sandbox/verify-identity/", details | {"birth_date": "2015-01-01"})
    assert minor.status_code == 400 and b"at least 18" in minor.content
    bad_zip = client.post("/idme-sandbox/verify-identity/", details | {"zip_code": "ABCDE", "state": "ZZ"})
    assert bad_zip.status_code == 400
    sandbox_account.refresh_from_db()
    assert sandbox_account.ial == 1
    ok = client.post("/idme-sandbox/verify-identity/", details)
    assert ok.status_code == 302
    sandbox_account.refresh_from_db()
    assert sandbox_account.ial == 2 and sandbox_account.identity_verified_at is not None
    assert str(sandbox_account.birth_date) == "1980-04-02"  # sent as the birth_date claim
    overview = client.get("/idme-sandbox/account/overview/").content.decode()
    assert "VERIFIED" in overview and f"{timezone.localtime(sandbox_account.identity_verified_at):%m/%d/%Y}" in overview
    assert "My Profile" in overview and "Member Since" in overview


def test_session_reader_sees_the_password_only_step(sandbox_totp_device: Device) -> None:
    client = Client()
    password_step(client, sandbox_totp_device.account.email)

    class _Request:
        COOKIES = {COOKIE_NAME: client.cookies[COOKIE_NAME].value}

    session = read_session(_Request())  # type: ignore[arg-type]
    assert session is not None and not session.fully_signed_in


@pytest.mark.req("ASVS-10")
def test_bad_ids_and_input_are_4xx_never_500(sandbox_totp_device: Device) -> None:
    client = Client()
    client.get(password_step(client, sandbox_totp_device.account.email))
    for url in [
        "/idme-sandbox/sign-in/mfa/nope/",
        "/idme-sandbox/sign-in/mfa/nope/code/",
        "/idme-sandbox/sign-in/push/nope/",
        "/idme-sandbox/sign-in/push/nope/status/",
    ]:
        assert client.get(url).status_code == 404
    assert (
        client.post(
            f"/idme-sandbox/sign-in/mfa/{sandbox_totp_device.device_id}/code/", {"code": "x" * 5000}
        ).status_code
        == 400
    )
    sign_in_operator(client)
    assert client.get("/idme-sandbox/outbox/", {"to": "x" * 5000}).status_code == 200
    assert client.post(SIGN_IN, {"email": "not-an-email", "password": ""}).status_code == 400


@pytest.mark.req("ASVS-09")
def test_sign_in_decisions_are_logged_without_secrets(
    sandbox_totp_device: Device, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="idme_sandbox")
    client = Client()
    client.post(SIGN_IN, {"email": sandbox_totp_device.account.email, "password": "Wrong-Password-1"})
    client.get(password_step(client, sandbox_totp_device.account.email))
    code = pyotp.TOTP(sandbox_totp_device.totp_secret).now()
    client.post(f"/idme-sandbox/sign-in/mfa/{sandbox_totp_device.device_id}/code/", {"code": "000000"})
    client.post(f"/idme-sandbox/sign-in/mfa/{sandbox_totp_device.device_id}/code/", {"code": code})
    text = caplog.text
    assert "sign-in refused" in text and "sign-in password ok" in text
    assert "decision=invalid_code" in text and "decision=allow" in text
    for secret in ["Wrong-Password-1", SANDBOX_PASSWORD, code, sandbox_totp_device.totp_secret]:
        assert secret not in text
