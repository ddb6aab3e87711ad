"""Sign In & Security: methods, Code Generator set-up (QR), rename, delete, recent sign-in, return_to."""

from __future__ import annotations

import base64
import io
import re
import time
from urllib.parse import parse_qs, unquote, urlparse

import pyotp
import pytest
import zxingcpp
from django.http import HttpResponse
from django.test import Client
from django.utils import timezone
from PIL import Image

from idme_sandbox.models import Account, Consent, Device, DeviceKind, OutboxMessage
from idme_sandbox.models import Client as OidcClient
from idme_sandbox.session import COOKIE_NAME, write_session

SECURITY = "/idme-sandbox/account/security/"
SETUP_TOTP = "/idme-sandbox/account/security/code-generator/"
EHR_RETURN = "http://127.0.0.1:8000/mfa/devices/returned/"


def signed_in_client(account: Account, minutes_ago: float = 0) -> Client:
    """A browser whose sandbox sign-in (password + MFA) finished `minutes_ago`."""
    response = HttpResponse()
    at = time.time() - minutes_ago * 60
    write_session(response, account, at, at)
    client = Client()
    client.cookies[COOKIE_NAME] = response.cookies[COOKIE_NAME].value
    return client


@pytest.fixture
def ehr_client(db: None) -> OidcClient:
    return OidcClient.objects.create(
        client_id="ehr-test",
        name="DrChrono Inc.",
        redirect_uris="http://127.0.0.1:8000/account/idme/callback/",
        return_uris=EHR_RETURN,
    )


def qr_text(page: str) -> str:
    match = re.search(r'src="data:image/png;base64,([^"]+)"', page)
    assert match is not None
    image = Image.open(io.BytesIO(base64.b64decode(match.group(1))))
    results = zxingcpp.read_barcodes(image)
    assert len(results) == 1
    return str(results[0].text)


def test_security_page_follows_the_seed(sandbox_totp_device: Device, ehr_client: OidcClient) -> None:
    Consent.objects.create(account=sandbox_totp_device.account, client=ehr_client, scope="openid")
    page = signed_in_client(sandbox_totp_device.account).get(SECURITY).content.decode()
    added = timezone.localtime(sandbox_totp_device.added_at)  # the page shows local dates
    for text in [
        "Securing Your Account",
        "Set up at least one backup option to add an extra layer of security to your account.",
        "Your Multi-Factor Sign in Method",
        "Push Notification",
        "Approve sign-ins via Push Notifications sent to the ID.me Authenticator mobile app.",
        "Code Generator",
        "Generate verification codes via code generator apps like ID.me Authenticator to sign in.",
        "Text Message or Phone Call",
        "Office iPhone",
        f"Added {added:%b} {added.day}, {added.year}",
        "DrChrono Inc.",
        "Rename",
        'aria-label="Delete Office iPhone"',
        "Set Up",
    ]:
        assert text in page, text
    for tab in ["Overview", "Profile", "Sign In &amp; Security", "My Wallet"]:
        assert f">{tab}</a>" in page


@pytest.mark.req("ASVS-05")
def test_changes_need_a_sign_in_within_15_minutes(sandbox_totp_device: Device) -> None:
    account = sandbox_totp_device.account
    stale = signed_in_client(account, minutes_ago=16)
    # Viewing is fine; changing is not.
    assert stale.get(SECURITY).status_code == 200
    rename_url = f"/idme-sandbox/account/security/devices/{sandbox_totp_device.device_id}/rename/"
    delete_url = f"/idme-sandbox/account/security/devices/{sandbox_totp_device.device_id}/delete/"
    for url in [
        SETUP_TOTP,
        "/idme-sandbox/account/security/push/",
        "/idme-sandbox/account/security/phone/",
        rename_url,
    ]:
        response = stale.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/idme-sandbox/sign-in/?next=") and "reauth=1" in response["Location"]
    renamed = stale.post(rename_url, {"name": "Stolen"})
    assert renamed.status_code == 302 and "reauth=1" in renamed["Location"]
    deleted = stale.post(delete_url)
    assert deleted.status_code == 302
    sandbox_totp_device.refresh_from_db()
    assert sandbox_totp_device.name == "Office iPhone"
    # Signing in again (password + code) comes back to the page, which now works.
    location = renamed["Location"]
    next_url = parse_qs(urlparse(location).query)["next"][0]
    to_mfa = stale.post(
        "/idme-sandbox/sign-in/", {"email": account.email, "password": "Sandbox-Pass-2026", "next": next_url}
    )
    code_url = stale.get(f"/idme-sandbox/sign-in/mfa/{sandbox_totp_device.device_id}/", {"next": next_url})["Location"]
    assert to_mfa.status_code == 302
    back = stale.post(code_url, {"code": pyotp.TOTP(sandbox_totp_device.totp_secret).now(), "next": next_url})
    assert back["Location"] == rename_url
    assert stale.post(rename_url, {"name": "Office iPad"}).status_code == 302
    sandbox_totp_device.refresh_from_db()
    assert sandbox_totp_device.name == "Office iPad"


@pytest.mark.req("NIST-06")
def test_code_generator_set_up_with_the_qr_code(sandbox_account: Account) -> None:
    client = signed_in_client(sandbox_account)
    page = client.get(SETUP_TOTP)
    text = page.content.decode()
    assert "Confirm your device" in text
    assert "Please check your code generator app and enter the 6-digit code to complete securing your account." in text
    assert "Enter the 6-digit code" in text and "Name your device" in text and 'placeholder="ex. My iPhone"' in text
    assert 'alt="QR code to scan with your code generator app"' in text
    uri = qr_text(text)
    parsed = urlparse(uri)
    assert parsed.scheme == "otpauth" and parsed.netloc == "totp"
    assert unquote(parsed.path) == f"/ID.me:{sandbox_account.email}"
    query = parse_qs(parsed.query)
    assert query["issuer"] == ["ID.me"]
    secret = query["secret"][0]
    assert len(base64.b32decode(secret)) == 20
    # The key for manual entry is the same secret, grouped for reading.
    assert " ".join(secret[i : i + 4] for i in range(0, 32, 4)) in text
    # The secret lives only in the sealed cookie: not in the form, not in the database yet.
    assert f'value="{secret}"' not in text and not Device.objects.exists()
    # Reloading keeps the same secret (the QR code already scanned stays valid).
    assert qr_text(client.get(SETUP_TOTP).content.decode()) == uri

    wrong = client.post(SETUP_TOTP, {"code": "000000", "name": "Work phone"})
    assert wrong.status_code == 400 and b"not correct" in wrong.content
    assert qr_text(wrong.content.decode()) == uri
    done = client.post(SETUP_TOTP, {"code": pyotp.TOTP(secret).now(), "name": "Work phone"})
    assert done.status_code == 302 and done["Location"] == SECURITY
    device = Device.objects.get(account=sandbox_account)
    assert device.kind == DeviceKind.TOTP and device.name == "Work phone" and device.totp_secret == secret
    assert "Work phone" in client.get(SECURITY).content.decode()
    # NIST-06: the holder is told about the new authenticator.
    assert OutboxMessage.objects.filter(phone=sandbox_account.email, body__contains="Work phone").exists()


@pytest.mark.req("ASVS-01")
def test_the_pending_secret_cannot_be_chosen_by_the_browser(sandbox_account: Account) -> None:
    client = signed_in_client(sandbox_account)
    client.get(SETUP_TOTP)
    chosen = pyotp.random_base32(32)
    client.cookies["idme_pending_totp"] = "forged"
    response = client.post(SETUP_TOTP, {"code": pyotp.TOTP(chosen).now(), "secret": chosen})
    assert response.status_code == 400
    assert not Device.objects.exists()


def test_several_code_generators_and_a_default_name(sandbox_totp_device: Device) -> None:
    client = signed_in_client(sandbox_totp_device.account)
    text = client.get(SETUP_TOTP).content.decode()
    secret = parse_qs(urlparse(qr_text(text)).query)["secret"][0]
    assert client.post(SETUP_TOTP, {"code": pyotp.TOTP(secret).now(), "name": ""}).status_code == 302
    names = list(Device.objects.filter(account=sandbox_totp_device.account).values_list("name", flat=True))
    assert names == ["Office iPhone", "Code Generator 2"]


def test_rename(sandbox_totp_device: Device) -> None:
    client = signed_in_client(sandbox_totp_device.account)
    url = f"/idme-sandbox/account/security/devices/{sandbox_totp_device.device_id}/rename/"
    assert client.post(url, {"name": ""}).status_code == 400
    assert client.post(url, {"name": "Personal iPhone"}).status_code == 302
    sandbox_totp_device.refresh_from_db()
    assert sandbox_totp_device.name == "Personal iPhone"


@pytest.mark.req("NIST-05")
def test_delete_asks_for_confirmation(sandbox_totp_device: Device) -> None:
    account = sandbox_totp_device.account
    phone = Device.objects.create(account=account, kind=DeviceKind.SMS, phone="(555) 201-0999", name="Mobile")
    client = signed_in_client(account)
    url = f"/idme-sandbox/account/security/devices/{sandbox_totp_device.device_id}/delete/"
    confirm = client.get(url)
    assert confirm.status_code == 200 and b"Delete Office iPhone?" in confirm.content
    assert Device.objects.filter(pk=sandbox_totp_device.pk).exists()
    done = client.post(url)
    assert done.status_code == 302
    assert list(Device.objects.filter(account=account)) == [phone]


def test_the_last_method_cannot_be_deleted(sandbox_totp_device: Device) -> None:
    client = signed_in_client(sandbox_totp_device.account)
    url = f"/idme-sandbox/account/security/devices/{sandbox_totp_device.device_id}/delete/"
    page = client.get(url)
    assert b"is your only multi-factor method, so it cannot be deleted" in page.content
    refused = client.post(url)
    assert refused.status_code == 409
    assert Device.objects.filter(pk=sandbox_totp_device.pk).exists()


@pytest.mark.req("ASVS-06")
def test_another_accounts_device_is_not_found(sandbox_totp_device: Device, make_sandbox_account: object) -> None:
    other = make_sandbox_account("mallory@example.test")  # type: ignore[operator]
    Device.objects.create(account=other, kind=DeviceKind.SMS, phone="(555) 201-0111")
    client = signed_in_client(other)
    for action in ["rename", "delete"]:
        url = f"/idme-sandbox/account/security/devices/{sandbox_totp_device.device_id}/{action}/"
        assert client.get(url).status_code == 404
        assert client.post(url, {"name": "x"}).status_code == 404
    assert Device.objects.filter(pk=sandbox_totp_device.pk, name="Office iPhone").exists()


def test_return_link_only_for_a_registered_return_uri(sandbox_totp_device: Device, ehr_client: OidcClient) -> None:
    client = signed_in_client(sandbox_totp_device.account)
    good = client.get(SECURITY, {"client_id": "ehr-test", "return_to": EHR_RETURN}).content.decode()
    assert f'<a href="{EHR_RETURN}">Return to DrChrono Inc.</a>' in good
    # Kept across the pages that follow (set-up, rename...).
    assert "Return to DrChrono Inc." in client.get(SETUP_TOTP).content.decode()
    for evil in ["https://evil.example/", EHR_RETURN + "?x=1", "http://127.0.0.1:8000/mfa/devices/returned"]:
        fresh = signed_in_client(sandbox_totp_device.account)
        page = fresh.get(SECURITY, {"client_id": "ehr-test", "return_to": evil}).content.decode()
        assert "Return to" not in page and "evil.example" not in page
    unknown = signed_in_client(sandbox_totp_device.account)
    assert "Return to" not in unknown.get(SECURITY, {"client_id": "nobody", "return_to": EHR_RETURN}).content.decode()


def test_update_mfa_device_link_signs_in_first_then_comes_back(
    sandbox_totp_device: Device, ehr_client: OidcClient
) -> None:
    client = Client()
    landing = client.get(SECURITY, {"client_id": "ehr-test", "return_to": EHR_RETURN})
    assert landing.status_code == 302
    next_url = parse_qs(urlparse(landing["Location"]).query)["next"][0]
    assert next_url.startswith(SECURITY + "?")
    client.post(
        "/idme-sandbox/sign-in/",
        {"email": sandbox_totp_device.account.email, "password": "Sandbox-Pass-2026", "next": next_url},
    )
    code_url = client.get(f"/idme-sandbox/sign-in/mfa/{sandbox_totp_device.device_id}/", {"next": next_url})["Location"]
    back = client.post(code_url, {"code": pyotp.TOTP(sandbox_totp_device.totp_secret).now(), "next": next_url})
    assert back["Location"] == next_url
    assert "Return to DrChrono Inc." in client.get(back["Location"]).content.decode()


def test_text_message_method_set_up(sandbox_totp_device: Device) -> None:
    client = signed_in_client(sandbox_totp_device.account)
    url = "/idme-sandbox/account/security/phone/"
    assert client.post(url, {"step": "send", "phone": "12", "channel": "sms"}).status_code == 400
    sent = client.post(url, {"step": "send", "phone": "555-201-0777", "channel": "sms"})
    assert sent.status_code == 200 and b"(***) ***-*777" in sent.content
    body = OutboxMessage.objects.get(phone="(555) 201-0777").body
    code = re.search(r"(\d{6})", body)
    assert code is not None
    assert (
        client.post(url, {"step": "confirm", "code": "000000" if code.group(1) != "000000" else "111111"}).status_code
        == 400
    )
    assert client.post(url, {"step": "confirm", "code": code.group(1)}).status_code == 302
    assert Device.objects.filter(
        account=sandbox_totp_device.account, kind=DeviceKind.SMS, phone="(555) 201-0777"
    ).exists()


def test_all_tabs_render(sandbox_account: Account) -> None:
    client = signed_in_client(sandbox_account)
    for tab in ["overview", "profile", "security", "wallet"]:
        assert client.get(f"/idme-sandbox/account/{tab}/").status_code == 200
    assert client.get("/idme-sandbox/account/nope/").status_code == 404


@pytest.mark.req("ASVS-08")
def test_changes_need_the_csrf_token(sandbox_totp_device: Device) -> None:
    account = sandbox_totp_device.account
    Device.objects.create(account=account, kind=DeviceKind.SMS, phone="(555) 201-0999", name="Mobile")
    client = Client(enforce_csrf_checks=True)
    client.cookies[COOKIE_NAME] = signed_in_client(account).cookies[COOKIE_NAME].value
    base = f"/idme-sandbox/account/security/devices/{sandbox_totp_device.device_id}"
    assert client.post(f"{base}/rename/", {"name": "Forged"}).status_code == 403
    assert client.post(f"{base}/delete/").status_code == 403
    assert client.post("/idme-sandbox/sign-out/").status_code == 403
    sandbox_totp_device.refresh_from_db()
    assert sandbox_totp_device.name == "Office iPhone"
