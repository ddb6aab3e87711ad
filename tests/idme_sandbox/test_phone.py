"""The simulated ID.me Authenticator over real HTTP: pairing, pending list, signed answers (CLI phone)."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.utils import timezone

from idme_sandbox import authenticators
from idme_sandbox.accounts import services
from idme_sandbox.models import Account, Device, DeviceKind, OutboxMessage, PushStatus, PushTransaction
from idme_sandbox.phone import client as phone
from idme_sandbox.phone.__main__ import main

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def base_url(live_server: Any) -> str:
    return f"{live_server.url}/idme-sandbox"


def paired(base_url: str, account: Account, tmp_path: Path, name: str = "Lab phone") -> phone.PhoneKey:
    code = services.new_pairing_code(account)
    return phone.pair(base_url, tmp_path / "phone.key", code, name)


def test_cli_pairs_with_a_one_time_code_and_keeps_the_private_key(
    base_url: str, sandbox_account: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = services.new_pairing_code(sandbox_account)
    key_file = tmp_path / "var" / "idme-phone.key"
    assert main(["--base-url", base_url, "--key-file", str(key_file), "pair", code, "Lab phone"]) == 0
    assert "Paired as 'Lab phone'" in capsys.readouterr().out
    device = Device.objects.get(account=sandbox_account)
    assert device.kind == DeviceKind.PUSH and device.name == "Lab phone"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    saved = json.loads(key_file.read_text())
    # The sandbox holds only the public key; it is the one derived from the phone's private key.
    key = phone.PhoneKey.load(key_file)
    public = authenticators.load_public_key(device.public_key)
    assert public.public_bytes_raw() == key.private_key.public_key().public_bytes_raw()
    assert saved["private_key"] not in device.public_key
    # The code is single use.
    again = main(["--base-url", base_url, "--key-file", str(tmp_path / "other.key"), "pair", code, "Copy"])
    assert again == 1 and "pairing code is wrong or has expired" in capsys.readouterr().err
    assert Device.objects.filter(account=sandbox_account).count() == 1


@pytest.mark.req("ASVS-10")
def test_pairing_refuses_a_wrong_code_and_a_bad_key(base_url: str, sandbox_account: Account) -> None:
    url = f"{base_url}/authenticator/api/pair"
    wrong = requests.post(url, json={"pairing_code": "AAAA-BBBB", "public_key": "A" * 43, "name": "x"}, timeout=10)
    assert wrong.status_code == 404 and wrong.json()["error"] == "pairing_code_not_found"
    code = services.new_pairing_code(sandbox_account)
    bad_key = requests.post(url, json={"pairing_code": code, "public_key": "bm90IGEga2V5", "name": "x"}, timeout=10)
    assert bad_key.status_code == 400 and bad_key.json()["error"] == "invalid_public_key"
    for body in [b"not json", b"[1, 2]", b'{"pairing_code": 5}']:
        response = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10)
        assert response.status_code == 400 and "error" in response.json()
    assert requests.get(url, timeout=10).status_code == 405
    assert not Device.objects.exists()


@pytest.mark.req("NIST-03")
def test_approve_with_the_right_number_via_the_cli(
    base_url: str, sandbox_account: Account, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = paired(base_url, sandbox_account, tmp_path)
    device = Device.objects.get(device_id=key.device_id)
    push = authenticators.create_push(sandbox_account, device, "Sign 1 prescription", "Oxycodone 5 mg, #20, Jane Doe")
    key_args = ["--key-file", str(tmp_path / "phone.key")]
    assert main([*key_args, "pending"]) == 0
    listing = capsys.readouterr().out
    assert push.txid in listing and "Sign 1 prescription" in listing and "Oxycodone 5 mg" in listing
    # The phone is not told the number: the person types what the requesting screen shows.
    assert all("match_number" not in request for request in phone.pending(key))
    assert main([*key_args, "approve", push.txid, push.match_number]) == 0
    assert f"{push.txid}: approved" in capsys.readouterr().out
    push.refresh_from_db()
    assert push.status == PushStatus.APPROVED
    assert phone.pending(key) == []


@pytest.mark.req("NIST-03")
def test_a_wrong_number_is_refused_and_denies(base_url: str, sandbox_account: Account, tmp_path: Path) -> None:
    key = paired(base_url, sandbox_account, tmp_path)
    push = authenticators.create_push(sandbox_account, Device.objects.get(device_id=key.device_id), "Sign in", "")
    wrong = "10" if push.match_number != "10" else "11"
    with pytest.raises(phone.PhoneError) as refused:
        phone.answer(key, push.txid, "approve", wrong)
    assert refused.value.status == 400 and refused.value.code == "wrong_number"
    push.refresh_from_db()
    assert push.status == PushStatus.DENIED


@pytest.mark.req("NIST-03")
def test_a_bad_signature_is_refused_and_changes_nothing(
    base_url: str, sandbox_account: Account, tmp_path: Path
) -> None:
    key = paired(base_url, sandbox_account, tmp_path)
    push = authenticators.create_push(sandbox_account, Device.objects.get(device_id=key.device_id), "Sign in", "")
    thief = phone.PhoneKey(key.device_id, key.name, key.base_url, Ed25519PrivateKey.generate())
    with pytest.raises(phone.PhoneError) as refused:
        phone.answer(thief, push.txid, "approve", push.match_number)
    assert refused.value.status == 400 and refused.value.code == "invalid_signature"
    # Listing pending requests needs the key too.
    with pytest.raises(phone.PhoneError) as listing:
        phone.pending(thief)
    assert listing.value.code == "invalid_signature"
    push.refresh_from_db()
    assert push.status == PushStatus.PENDING


@pytest.mark.req("NIST-04")
def test_a_second_answer_is_refused(base_url: str, sandbox_account: Account, tmp_path: Path) -> None:
    key = paired(base_url, sandbox_account, tmp_path)
    push = authenticators.create_push(sandbox_account, Device.objects.get(device_id=key.device_id), "Sign in", "")
    assert phone.answer(key, push.txid, "deny", push.match_number)["status"] == "denied"
    with pytest.raises(phone.PhoneError) as refused:
        phone.answer(key, push.txid, "approve", push.match_number)
    assert refused.value.status == 409 and refused.value.code == "already_answered"
    push.refresh_from_db()
    assert push.status == PushStatus.DENIED


@pytest.mark.req("NIST-04")
def test_an_expired_request_is_refused(base_url: str, sandbox_account: Account, tmp_path: Path) -> None:
    key = paired(base_url, sandbox_account, tmp_path)
    push = authenticators.create_push(sandbox_account, Device.objects.get(device_id=key.device_id), "Sign in", "")
    PushTransaction.objects.filter(pk=push.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert phone.pending(key) == []
    with pytest.raises(phone.PhoneError) as refused:
        phone.answer(key, push.txid, "approve", push.match_number)
    assert refused.value.status == 410 and refused.value.code == "expired"
    push.refresh_from_db()
    assert push.status == PushStatus.EXPIRED


@pytest.mark.req("ASVS-10")
def test_unknown_transaction_and_stale_listing(base_url: str, sandbox_account: Account, tmp_path: Path) -> None:
    key = paired(base_url, sandbox_account, tmp_path)
    with pytest.raises(phone.PhoneError) as missing:
        phone.answer(key, "0" * 32, "approve", "12")
    assert missing.value.status == 404
    old = int(time.time()) - 600
    stale = requests.post(
        f"{base_url}/authenticator/api/pending",
        json={"device_id": key.device_id, "timestamp": old, "signature": key.sign(f"pending:{key.device_id}:{old}")},
        timeout=10,
    )
    assert stale.status_code == 400 and stale.json()["error"] == "stale_request"
    bad_types = requests.post(
        f"{base_url}/authenticator/api/answer", json={"txid": 5, "decision": [], "signature": None}, timeout=10
    )
    assert bad_types.status_code == 400


@pytest.mark.req("NIST-05")
def test_deleted_device_can_no_longer_answer(base_url: str, sandbox_account: Account, tmp_path: Path) -> None:
    key = paired(base_url, sandbox_account, tmp_path)
    device = Device.objects.get(device_id=key.device_id)
    Device.objects.create(account=sandbox_account, kind=DeviceKind.SMS, phone="(555) 201-0555")
    push = authenticators.create_push(sandbox_account, device, "Sign in", "")
    services.delete_device(device)
    with pytest.raises(phone.PhoneError) as refused:
        phone.answer(key, push.txid, "approve", push.match_number)
    assert refused.value.status == 404
    with pytest.raises(phone.PhoneError):
        phone.pending(key)


def test_set_up_page_shows_a_pairing_code_that_pairs(base_url: str, sandbox_account: Account, tmp_path: Path) -> None:
    from tests.idme_sandbox.test_security import signed_in_client

    client = signed_in_client(sandbox_account)
    page = client.get("/idme-sandbox/account/security/push/").content.decode()
    assert "Approve sign-ins via Push Notifications sent to the ID.me Authenticator mobile app." in page
    start = page.index('aria-label="Pairing code">') + len('aria-label="Pairing code">')
    code = page[start : page.index("<", start)].strip()
    assert len(code) == 9 and code[4] == "-"
    key = phone.pair(base_url, tmp_path / "k", code.lower(), "Kitchen iPad")
    assert Device.objects.get(device_id=key.device_id).name == "Kitchen iPad"


@pytest.mark.req("NIST-06")
def test_pairing_is_recorded_and_the_holder_notified(base_url: str, sandbox_account: Account, tmp_path: Path) -> None:
    before = timezone.now()
    key = paired(base_url, sandbox_account, tmp_path, name="Night phone")
    device = Device.objects.get(device_id=key.device_id)
    assert before <= device.added_at <= timezone.now()
    notice = OutboxMessage.objects.get(account=sandbox_account, channel="email")
    assert notice.phone == sandbox_account.email and "Night phone" in notice.body


@pytest.mark.req("ASVS-10")
def test_oversized_bodies_are_413_and_deeply_nested_ones_400(base_url: str) -> None:
    for path in ["pair", "pending", "answer"]:
        url = f"{base_url}/authenticator/api/{path}"
        nested = requests.post(url, data=b"[" * 100_000, headers={"Content-Type": "application/json"}, timeout=10)
        assert nested.status_code == 400 and nested.json()["error"] == "invalid_request"
        huge = requests.post(url, data=b" " * 300_000 + b"{}", headers={"Content-Type": "application/json"}, timeout=10)
        assert huge.status_code == 413 and huge.json()["error"] == "request_too_large"
