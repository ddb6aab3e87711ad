"""The sandbox's sign-out ends the session on the server, and the pages that show every
simulated person's data (message outbox, pharmacy network) need a sandbox operator (ASVS-08)."""

from __future__ import annotations

import io
from typing import Any

import pyotp
import pytest
from django.core.management import call_command
from django.test import Client

from idme_sandbox.models import Account, Device, Operator, OutboxMessage, PharmacyMessage, SignInSession
from idme_sandbox.operator import services as operator_services
from idme_sandbox.session import COOKIE_NAME, OPERATOR_COOKIE_NAME
from tests.idme_fixtures import OPERATOR_TEST_PASSWORD
from tests.idme_sandbox.conftest import SANDBOX_PASSWORD

SIGN_IN = "/idme-sandbox/sign-in/"
SECURITY = "/idme-sandbox/account/security/"
OPERATOR_SIGN_IN = "/idme-sandbox/operator/sign-in/"
OUTBOX = "/idme-sandbox/outbox/"
PHARMACY = "/idme-sandbox/pharmacy-network/"


def signed_in(account: Account, device: Device) -> Client:
    client = Client()
    to_mfa = client.post(SIGN_IN, {"email": account.email, "password": SANDBOX_PASSWORD, "next": SECURITY})
    assert to_mfa.status_code == 302
    code = pyotp.TOTP(device.totp_secret).now()
    done = client.post(f"/idme-sandbox/sign-in/mfa/{device.device_id}/code/", {"code": code, "next": SECURITY})
    assert done.status_code == 302 and done["Location"] == SECURITY
    return client


def with_cookie(name: str, value: str) -> Client:
    client = Client()
    client.cookies[name] = value
    return client


@pytest.mark.req("ASVS-08")
def test_a_cookie_replayed_after_sign_out_is_signed_out(sandbox_totp_device: Device) -> None:
    client = signed_in(sandbox_totp_device.account, sandbox_totp_device)
    copied = client.cookies[COOKIE_NAME].value
    assert with_cookie(COOKIE_NAME, copied).get(SECURITY).status_code == 200
    out = client.post("/idme-sandbox/sign-out/")
    assert out.status_code == 302
    replayed = with_cookie(COOKIE_NAME, copied).get(SECURITY)
    assert replayed.status_code == 302 and replayed["Location"].startswith(SIGN_IN)
    assert SignInSession.objects.filter(account=sandbox_totp_device.account, ended_at__isnull=True).count() == 0


@pytest.mark.req("ASVS-08")
def test_finishing_sign_in_ends_the_password_only_session(sandbox_totp_device: Device) -> None:
    account = sandbox_totp_device.account
    client = Client()
    client.post(SIGN_IN, {"email": account.email, "password": SANDBOX_PASSWORD, "next": SECURITY})
    password_only = client.cookies[COOKIE_NAME].value
    code = pyotp.TOTP(sandbox_totp_device.totp_secret).now()
    client.post(f"/idme-sandbox/sign-in/mfa/{sandbox_totp_device.device_id}/code/", {"code": code})
    # The half-finished sign-in cannot be used to try the second factor again.
    again = with_cookie(COOKIE_NAME, password_only).get("/idme-sandbox/sign-in/mfa/")
    assert again.status_code == 302 and again["Location"].startswith(SIGN_IN)
    assert client.get(SECURITY).status_code == 200
    assert SignInSession.objects.filter(account=account, ended_at__isnull=True).count() == 1


@pytest.mark.req("ASVS-08")
def test_outbox_and_pharmacy_network_need_the_operator(sandbox_totp_device: Device) -> None:
    account = sandbox_totp_device.account
    OutboxMessage.objects.create(account=account, phone="(555) 201-0777", channel="sms", body="ID.me: 123456 is it")
    message = PharmacyMessage.objects.create(
        ack_id="PN-test",
        message_id="EHR-test",
        pharmacy_ncpdp_id="1234567",
        patient_name="Jane Patient",
        drug_description="Oxycodone 5 mg tablet",
        body="<Message/>",
    )
    pages = [f"{OUTBOX}?to=5552010777", PHARMACY, f"{PHARMACY}messages/{message.ack_id}/"]
    # Nobody signed in, and an ID.me account that is not the operator: sent to the operator sign-in.
    for client in (Client(), signed_in(account, sandbox_totp_device)):
        for page in pages:
            response = client.get(page)
            assert response.status_code == 302, page
            assert response["Location"].startswith(f"{OPERATOR_SIGN_IN}?next="), response["Location"]
    operator = Client()
    form = operator.get(OPERATOR_SIGN_IN, {"next": pages[0]})
    assert form.status_code == 200 and b"Operator username" in form.content
    operator_services.seed_operator()  # the demo operator, from the settings
    wrong = operator.post(OPERATOR_SIGN_IN, {"username": "operator", "password": "wrong", "next": pages[0]})
    assert wrong.status_code == 400 and b"incorrect" in wrong.content
    assert OPERATOR_COOKIE_NAME not in wrong.cookies
    ok = operator.post(OPERATOR_SIGN_IN, {"username": " Operator ", "password": "Demo-Operator-2026", "next": pages[0]})
    assert ok.status_code == 302 and ok["Location"] == pages[0]
    cookie = ok.cookies[OPERATOR_COOKIE_NAME]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert "ehr_sessionid" not in ok.cookies and COOKIE_NAME not in ok.cookies
    assert b"123456 is it" in operator.get(pages[0]).content
    assert b"Jane Patient" in operator.get(pages[1]).content
    assert operator.get(pages[2]).status_code == 200
    # Ending the operator session signs out a copy of its cookie too.
    copied = operator.cookies[OPERATOR_COOKIE_NAME].value
    assert operator.post("/idme-sandbox/operator/sign-out/").status_code == 302
    assert with_cookie(OPERATOR_COOKIE_NAME, copied).get(PHARMACY).status_code == 302


@pytest.mark.req("ASVS-02")
@pytest.mark.req("ASVS-08")
def test_failed_operator_sign_ins_are_limited(sandbox_operator: Operator) -> None:
    client = Client()
    for _ in range(operator_services.OPERATOR_SIGN_IN_LIMITER.limit):
        assert client.post(OPERATOR_SIGN_IN, {"username": "operator", "password": "guess"}).status_code == 400
    locked = client.post(OPERATOR_SIGN_IN, {"username": "operator", "password": OPERATOR_TEST_PASSWORD})
    assert locked.status_code == 429 and b"Too many failed sign-in attempts" in locked.content
    assert OPERATOR_COOKIE_NAME not in locked.cookies


def test_the_demo_seeding_creates_the_operator_from_the_settings(db: None, settings: Any) -> None:
    call_command("seed_idme_sandbox", stdout=io.StringIO())
    operator = Operator.objects.get(username="operator")
    assert operator.check_password("Demo-Operator-2026")
    settings.IDME_SANDBOX_OPERATOR_PASSWORD = "Another-Operator-Pass-9"
    call_command("seed_idme_sandbox", stdout=io.StringIO())
    operator.refresh_from_db()
    assert operator.check_password("Another-Operator-Pass-9") and Operator.objects.count() == 1
