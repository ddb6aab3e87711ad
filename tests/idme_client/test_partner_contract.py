"""Contract tests: the real `idme_client` partner client against the sandbox over real HTTP.

The sandbox runs in pytest-django's live server (`idme_sandbox_live`); the client is the one the
EHR uses (`partner_client()`), configured from settings only. The phone's answers are signed
with a key pair made here, as the ID.me Authenticator would. A few tests point the client at a
small misbehaving HTTP server to prove how it handles an ID.me that is down or broken.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pyotp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.utils import timezone

from idme_client import (
    IdmeNotFound,
    IdmeRateLimited,
    IdmeRejected,
    IdmeUnavailable,
    PartnerClient,
    partner_client,
)
from idme_sandbox import authenticators
from idme_sandbox.models import (
    Account,
    Consent,
    Device,
    DeviceKind,
    OutboxMessage,
    PartnerDecision,
    PushTransaction,
    Token,
)
from idme_sandbox.oidc.clients import register_client
from tests.idme_fixtures import IdmeSandboxHandle

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class Phone:
    """A push device and the private key the ID.me Authenticator keeps."""

    device: Device
    key: Ed25519PrivateKey

    def answer(self, txid: str, decision: str, number: str) -> PushTransaction:
        signature = authenticators.encode_b64url(self.key.sign(authenticators.answer_message(txid, decision, number)))
        return authenticators.answer_push(txid, decision, number, signature)


@dataclass
class World:
    sandbox: IdmeSandboxHandle
    account: Account
    totp: Device
    secret: str
    phone: Phone


def add_phone(account: Account, name: str = "Work iPhone") -> Phone:
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    device = Device.objects.create(
        account=account, kind=DeviceKind.PUSH, name=name, public_key=authenticators.encode_b64url(raw)
    )
    return Phone(device=device, key=key)


@pytest.fixture
def world(idme_sandbox_live: IdmeSandboxHandle, settings: Any) -> World:
    # The partner credentials are the EHR client's (the same defaults as in settings).
    settings.IDME_PARTNER_CLIENT_ID = settings.IDME_CLIENT_ID
    settings.IDME_PARTNER_CLIENT_SECRET = settings.IDME_CLIENT_SECRET
    account = idme_sandbox_live.create_account("alice@example.test", fname="Alice", lname="Smith")
    totp, secret = idme_sandbox_live.add_totp_device(account, "Authenticator app")
    phone = add_phone(account)
    Device.objects.create(account=account, kind=DeviceKind.SMS, phone="+15555550100")
    return World(sandbox=idme_sandbox_live, account=account, totp=totp, secret=secret, phone=phone)


def code_at(secret: str, steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * steps)


def away_from_step_edge(margin: float = 3.0) -> None:
    """Wait while a 30-second step ends within `margin` seconds, so a code's step is unambiguous."""
    remaining = 30 - time.time() % 30
    if remaining < margin:
        time.sleep(remaining + 0.2)


def wrong_code(secret: str) -> str:
    near = {code_at(secret, k) for k in (-1, 0, 1)}
    return next(c for c in ("000000", "123456", "999999", "424242") if c not in near)


# --- the client ----------------------------------------------------------------------
def test_one_client_per_process_and_base_url(world: World, settings: Any) -> None:
    client = partner_client()
    assert partner_client() is client
    assert client.base_url == world.sandbox.base_url
    assert client.client_id == settings.IDME_PARTNER_CLIENT_ID
    assert settings.IDME_PARTNER_CLIENT_SECRET not in repr(client)
    settings.IDME_BASE_URL = "http://127.0.0.1:9/idme-sandbox"
    assert partner_client() is not client


def test_the_token_is_cached_and_refreshed_once_after_a_401(world: World) -> None:
    client = partner_client()
    client.list_devices(world.account.uuid)
    client.list_devices(world.account.uuid)
    tokens = Token.objects.filter(client=world.sandbox.client, account__isnull=True)
    assert tokens.count() == 1
    assert tokens.get().scope.split() == ["epcs"]
    # ID.me revokes the token early: the next call gets a 401, fetches one new token and succeeds.
    tokens.update(revoked_at=timezone.now())
    assert [d.id for d in client.list_devices(world.account.uuid)] == [
        world.totp.device_id,
        world.phone.device.device_id,
    ]
    assert tokens.count() == 2


def test_wrong_partner_credentials_are_rejected(world: World, settings: Any) -> None:
    settings.IDME_PARTNER_CLIENT_SECRET = "not-the-secret"
    with pytest.raises(IdmeRejected) as caught:
        partner_client().list_devices(world.account.uuid)
    assert caught.value.code == "invalid_client"
    assert not isinstance(caught.value, IdmeNotFound)


# --- devices -------------------------------------------------------------------------
def test_list_devices(world: World) -> None:
    devices = partner_client().list_devices(world.account.uuid)
    assert [(d.id, d.name, d.type) for d in devices] == [
        (world.totp.device_id, "Authenticator app", "totp"),
        (world.phone.device.device_id, "Work iPhone", "push"),
    ]
    assert devices[0].added_at == world.totp.added_at
    assert all(d.added_at.tzinfo is not None for d in devices)
    assert all(d.last_used_at is None for d in devices)


@pytest.mark.req("ASVS-06")
def test_an_unlinked_or_unknown_user_is_not_found(world: World) -> None:
    stranger = world.sandbox.create_account("stranger@example.test", fname="S", lname="T", linked=False)
    stranger_totp, secret = world.sandbox.add_totp_device(stranger, "phone")
    stranger_phone = add_phone(stranger)
    client = partner_client()
    for uuid in (stranger.uuid, "0" * 32):
        with pytest.raises(IdmeNotFound) as caught:
            client.list_devices(uuid)
        assert caught.value.code == "user_not_found"
    # An id is sent as one path segment: it cannot reach another endpoint.
    with pytest.raises(IdmeNotFound):
        client.list_devices("../../oauth/token")
    with pytest.raises(IdmeNotFound):
        client.verify_totp(stranger.uuid, stranger_totp.device_id, code_at(secret))
    with pytest.raises(IdmeNotFound):
        client.create_push(stranger.uuid, stranger_phone.device.device_id, "Sign", "")
    stranger_totp.refresh_from_db()
    assert stranger_totp.last_totp_step is None
    assert not PushTransaction.objects.exists()


def test_an_unknown_device_is_not_found(world: World) -> None:
    client = partner_client()
    with pytest.raises(IdmeNotFound) as caught:
        client.verify_totp(world.account.uuid, world.phone.device.device_id, "123456")
    assert caught.value.code == "device_not_found"
    with pytest.raises(IdmeNotFound):
        client.create_push(world.account.uuid, world.totp.device_id, "Sign", "")


# --- codes ---------------------------------------------------------------------------
@pytest.mark.req("NIST-01")
def test_a_good_code_is_allowed(world: World) -> None:
    client = partner_client()
    away_from_step_edge()
    result = client.verify_totp(world.account.uuid, world.totp.device_id, code_at(world.secret))
    assert result.allowed and result.reason is None and result.locked_until is None
    listed = {d.id: d for d in client.list_devices(world.account.uuid)}
    assert listed[world.totp.device_id].last_used_at is not None


@pytest.mark.req("NIST-01")
@pytest.mark.req("ASVS-03")
def test_a_replayed_code_is_refused_logged_and_the_holder_notified(world: World) -> None:
    client = partner_client()
    away_from_step_edge()
    code = code_at(world.secret)
    assert client.verify_totp(world.account.uuid, world.totp.device_id, code).allowed
    replay = client.verify_totp(world.account.uuid, world.totp.device_id, code)
    assert not replay.allowed and replay.reason == "code_replayed"
    # An older (still in-window) code is a replay too: its step is before the accepted one.
    older = client.verify_totp(world.account.uuid, world.totp.device_id, code_at(world.secret, -1))
    assert not older.allowed and older.reason == "code_replayed"
    assert PartnerDecision.objects.filter(kind="totp_verify", decision="replay", account=world.account).count() == 2
    assert OutboxMessage.objects.filter(account=world.account).count() >= 1


@pytest.mark.req("NIST-01")
def test_drift_of_one_step_is_accepted_two_steps_refused(world: World) -> None:
    client = partner_client()
    away_from_step_edge()
    for steps in (-2, 2):
        result = client.verify_totp(world.account.uuid, world.totp.device_id, code_at(world.secret, steps))
        assert not result.allowed and result.reason == "invalid_code"
    assert client.verify_totp(world.account.uuid, world.totp.device_id, code_at(world.secret, -1)).allowed
    assert client.verify_totp(world.account.uuid, world.totp.device_id, code_at(world.secret, 1)).allowed


@pytest.mark.req("NIST-02")
@pytest.mark.req("ASVS-02")
def test_five_failures_lock_the_device(world: World) -> None:
    client = partner_client()
    bad = wrong_code(world.secret)
    results = [client.verify_totp(world.account.uuid, world.totp.device_id, bad) for _ in range(5)]
    assert all(not r.allowed and r.reason == "invalid_code" for r in results)
    assert all(r.locked_until is None for r in results[:4])
    assert results[4].locked_until is not None
    away_from_step_edge()
    locked = client.verify_totp(world.account.uuid, world.totp.device_id, code_at(world.secret))
    assert not locked.allowed and locked.reason == "device_locked"
    assert locked.locked_until is not None and locked.locked_until.tzinfo is not None
    minutes = (locked.locked_until - timezone.now()).total_seconds() / 60
    assert 14 < minutes <= 15


@pytest.mark.req("NIST-02")
def test_fewer_than_five_failures_do_not_lock(world: World) -> None:
    client = partner_client()
    bad = wrong_code(world.secret)
    for _ in range(4):
        assert client.verify_totp(world.account.uuid, world.totp.device_id, bad).reason == "invalid_code"
    away_from_step_edge()
    assert client.verify_totp(world.account.uuid, world.totp.device_id, code_at(world.secret)).allowed


# --- pushes --------------------------------------------------------------------------
@pytest.mark.req("NIST-03")
def test_push_create_status_approve(world: World) -> None:
    client = partner_client()
    before = timezone.now()
    tx = client.create_push(world.account.uuid, world.phone.device.device_id, "Sign 1 prescription", "Oxycodone 5 mg")
    assert tx.status == "pending" and tx.answered_at is None
    assert tx.match_number is not None and len(tx.match_number) == 2
    assert before + dt.timedelta(seconds=119) <= tx.expires_at <= timezone.now() + dt.timedelta(seconds=121)
    assert client.push_status(tx.txid).status == "pending"

    world.phone.answer(tx.txid, "approve", tx.match_number)

    done = client.push_status(tx.txid)
    assert done.status == "approved" and done.answered_at is not None and done.answered_at.tzinfo is not None
    assert done.txid == tx.txid and done.expires_at == tx.expires_at


def test_push_deny(world: World) -> None:
    client = partner_client()
    tx = client.create_push(world.account.uuid, world.phone.device.device_id, "Sign", "")
    world.phone.answer(tx.txid, "deny", tx.match_number or "")
    assert client.push_status(tx.txid).status == "denied"


@pytest.mark.req("NIST-04")
def test_push_expires_and_a_late_answer_is_refused(world: World) -> None:
    client = partner_client()
    tx = client.create_push(world.account.uuid, world.phone.device.device_id, "Sign", "", expires_in=1)
    time.sleep(1.3)
    assert client.push_status(tx.txid).status == "expired"
    with pytest.raises(authenticators.PushExpired):
        world.phone.answer(tx.txid, "approve", tx.match_number or "")
    assert client.push_status(tx.txid).status == "expired"


@pytest.mark.req("NIST-04")
def test_push_expiry_is_never_over_ten_minutes(world: World) -> None:
    client = partner_client()
    with pytest.raises(IdmeRejected) as caught:
        client.create_push(world.account.uuid, world.phone.device.device_id, "Sign", "", expires_in=601)
    assert caught.value.code == "invalid_request" and caught.value.status == 400
    tx = client.create_push(world.account.uuid, world.phone.device.device_id, "Sign", "", expires_in=600)
    assert tx.expires_at <= timezone.now() + dt.timedelta(seconds=600)


@pytest.mark.req("NIST-04")
def test_push_is_accepted_once(world: World) -> None:
    client = partner_client()
    tx = client.create_push(world.account.uuid, world.phone.device.device_id, "Sign", "")
    world.phone.answer(tx.txid, "approve", tx.match_number or "")
    with pytest.raises(authenticators.PushAlreadyAnswered):
        world.phone.answer(tx.txid, "deny", tx.match_number or "")
    assert client.push_status(tx.txid).status == "approved"


@pytest.mark.req("NIST-03")
def test_a_wrong_number_or_another_transactions_answer_does_not_approve(world: World) -> None:
    client = partner_client()
    first = client.create_push(world.account.uuid, world.phone.device.device_id, "Sign A", "")
    second = client.create_push(world.account.uuid, world.phone.device.device_id, "Sign B", "")
    # An answer signed for the first transaction, replayed against the second: refused.
    signature = authenticators.encode_b64url(
        world.phone.key.sign(authenticators.answer_message(first.txid, "approve", first.match_number or ""))
    )
    with pytest.raises(authenticators.BadSignature):
        authenticators.answer_push(second.txid, "approve", first.match_number or "", signature)
    assert client.push_status(second.txid).status == "pending"
    # The wrong number, properly signed: the push is denied, never approved.
    wrong = next(n for n in (f"{n}" for n in range(10, 100)) if n != first.match_number)
    with pytest.raises(authenticators.WrongMatchNumber):
        world.phone.answer(first.txid, "approve", wrong)
    assert client.push_status(first.txid).status == "denied"


@pytest.mark.req("ASVS-04")
def test_three_pending_pushes_then_rate_limited(world: World) -> None:
    client = partner_client()
    device_id = world.phone.device.device_id
    for _ in range(3):
        client.create_push(world.account.uuid, device_id, "Sign", "")
    with pytest.raises(IdmeRateLimited) as caught:
        client.create_push(world.account.uuid, device_id, "Sign", "")
    assert caught.value.retry_after is not None and 1 <= caught.value.retry_after <= 121
    assert PushTransaction.objects.filter(account=world.account).count() == 3
    assert PartnerDecision.objects.filter(kind="push_create", decision="rate_limited").count() == 1


@pytest.mark.req("ASVS-04")
def test_ten_pushes_in_ten_minutes_then_rate_limited(world: World) -> None:
    client = partner_client()
    device_id = world.phone.device.device_id
    for _ in range(10):
        tx = client.create_push(world.account.uuid, device_id, "Sign", "")
        assert client.cancel_push(tx.txid).status == "cancelled"
    with pytest.raises(IdmeRateLimited) as caught:
        client.create_push(world.account.uuid, device_id, "Sign", "")
    assert caught.value.retry_after is not None and 1 <= caught.value.retry_after <= 600


def test_cancel_push(world: World) -> None:
    client = partner_client()
    tx = client.create_push(world.account.uuid, world.phone.device.device_id, "Sign", "")
    assert client.cancel_push(tx.txid).status == "cancelled"
    with pytest.raises(authenticators.PushAlreadyAnswered):
        world.phone.answer(tx.txid, "approve", tx.match_number or "")
    assert client.push_status(tx.txid).status == "cancelled"
    # Cancelling an answered push changes nothing and says what happened.
    answered = client.create_push(world.account.uuid, world.phone.device.device_id, "Sign", "")
    world.phone.answer(answered.txid, "approve", answered.match_number or "")
    assert client.cancel_push(answered.txid).status == "approved"


def test_batch_statuses(world: World) -> None:
    client = partner_client()
    device_id = world.phone.device.device_id
    approved = client.create_push(world.account.uuid, device_id, "A", "")
    denied = client.create_push(world.account.uuid, device_id, "B", "")
    pending = client.create_push(world.account.uuid, device_id, "C", "")
    world.phone.answer(approved.txid, "approve", approved.match_number or "")
    world.phone.answer(denied.txid, "deny", denied.match_number or "")
    unknown = [f"{n:032x}" for n in range(150)]
    wanted = [pending.txid, approved.txid, *unknown, denied.txid, pending.txid]
    statuses = client.push_statuses(wanted)
    assert [(t.txid, t.status) for t in statuses] == [
        (pending.txid, "pending"),
        (approved.txid, "approved"),
        (denied.txid, "denied"),
    ]
    assert client.push_statuses([]) == []


@pytest.mark.req("ASVS-06")
def test_another_clients_transaction_is_not_found(world: World) -> None:
    other, _ = register_client(
        client_id="other-partner", secret="other-partner-secret-42", name="Other", redirect_uris=["https://o.test/cb"]
    )
    Consent.objects.create(account=world.account, client=other, scope="openid epcs")
    other_client = PartnerClient(
        base_url=world.sandbox.base_url, client_id="other-partner", client_secret="other-partner-secret-42", timeout=5
    )
    theirs = other_client.create_push(world.account.uuid, world.phone.device.device_id, "Other app", "")
    client = partner_client()
    with pytest.raises(IdmeNotFound) as caught:
        client.push_status(theirs.txid)
    assert caught.value.code == "transaction_not_found"
    with pytest.raises(IdmeNotFound):
        client.cancel_push(theirs.txid)
    assert client.push_statuses([theirs.txid]) == []
    assert other_client.push_status(theirs.txid).status == "pending"


# --- an ID.me that is down or broken -----------------------------------------------------
def test_an_unreachable_base_url_is_unavailable(settings: Any) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.IDME_BASE_URL = f"http://127.0.0.1:{port}/idme-sandbox"
    settings.IDME_TIMEOUT_SECONDS = 2
    with pytest.raises(IdmeUnavailable):
        partner_client().list_devices("0" * 32)


@dataclass
class FakeIdme:
    """A stand-in for a remote ID.me that misbehaves in a chosen way (not our sandbox)."""

    url: str
    hits: list[tuple[str, str]] = field(default_factory=list)


@pytest.fixture
def broken_idme() -> Iterator[Callable[[Callable[[str, str], tuple[int, dict[str, str], bytes]]], FakeIdme]]:
    servers: list[ThreadingHTTPServer] = []

    def start(behaviour: Callable[[str, str], tuple[int, dict[str, str], bytes]]) -> FakeIdme:
        hits: list[tuple[str, str]] = []

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                hits.append((self.command, self.path))
                status, headers, body = behaviour(self.command, self.path)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return FakeIdme(url=f"http://127.0.0.1:{server.server_address[1]}/idme", hits=hits)

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def token_then(
    api: Callable[[str, str], tuple[int, dict[str, str], bytes]], expires_in: int = 300
) -> Callable[[str, str], tuple[int, dict[str, str], bytes]]:
    def behaviour(method: str, path: str) -> tuple[int, dict[str, str], bytes]:
        if path.endswith("/oauth/token"):
            body = {"access_token": f"t{time.monotonic_ns()}", "token_type": "Bearer", "expires_in": expires_in}
            return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()
        return api(method, path)

    return behaviour


def client_for(fake: FakeIdme) -> PartnerClient:
    return PartnerClient(base_url=fake.url, client_id="ehr", client_secret="s3cret/+&", timeout=2)


def test_server_errors_are_unavailable_and_only_reads_are_retried(broken_idme: Any) -> None:
    fake = broken_idme(token_then(lambda method, path: (503, {"Content-Type": "text/html"}, b"<h1>down</h1>")))
    client = client_for(fake)
    with pytest.raises(IdmeUnavailable):
        client.list_devices("u1")
    gets = [hit for hit in fake.hits if hit[0] == "GET"]
    assert len(gets) == 3  # one call and two retries
    fake.hits.clear()
    with pytest.raises(IdmeUnavailable):
        client.verify_totp("u1", "d1", "123456")
    assert [hit for hit in fake.hits if "/totp/verify" in hit[1]] == [
        ("POST", "/idme/api/public/v3/epcs/users/u1/totp/verify")
    ]


def test_a_500_or_a_body_that_is_not_the_contract_is_unavailable(broken_idme: Any) -> None:
    answers = iter(
        [
            (500, {"Content-Type": "application/json"}, b'{"error": "server_error"}'),
            (200, {"Content-Type": "text/html"}, b"<html>maintenance</html>"),
            (200, {"Content-Type": "application/json"}, b'{"devices": [{"id": "d"}]}'),
            (200, {"Content-Type": "application/json"}, b'{"txid": "t", "status": "maybe", "expires_at": "x"}'),
        ]
    )
    fake = broken_idme(token_then(lambda method, path: next(answers)))
    client = client_for(fake)
    for call in (
        lambda: client.list_devices("u1"),
        lambda: client.list_devices("u1"),
        lambda: client.list_devices("u1"),
        lambda: client.push_status("t"),
    ):
        with pytest.raises(IdmeUnavailable):
            call()


def test_a_second_401_is_rejected_not_looped(broken_idme: Any) -> None:
    denied = (401, {"Content-Type": "application/json"}, b'{"error": "invalid_token", "error_description": "no"}')
    fake = broken_idme(token_then(lambda method, path: denied))
    with pytest.raises(IdmeRejected) as caught:
        client_for(fake).list_devices("u1")
    assert caught.value.code == "invalid_token" and caught.value.status == 401
    assert [path.endswith("/oauth/token") for _, path in fake.hits] == [True, False, True, False]


def test_the_token_is_refreshed_30_seconds_before_it_expires(broken_idme: Any) -> None:
    ok = (200, {"Content-Type": "application/json"}, b'{"devices": []}')
    long_lived = broken_idme(token_then(lambda method, path: ok, expires_in=300))
    client = client_for(long_lived)
    client.list_devices("u1")
    client.list_devices("u1")
    assert sum(path.endswith("/oauth/token") for _, path in long_lived.hits) == 1
    # A token with less than 30 s to live is never reused.
    short_lived = broken_idme(token_then(lambda method, path: ok, expires_in=25))
    client = client_for(short_lived)
    client.list_devices("u1")
    client.list_devices("u1")
    assert sum(path.endswith("/oauth/token") for _, path in short_lived.hits) == 2


def test_rate_limit_without_retry_after_and_odd_ids(broken_idme: Any) -> None:
    limited = (429, {"Content-Type": "application/json"}, b'{"error": "rate_limited"}')
    fake = broken_idme(token_then(lambda method, path: limited))
    client = client_for(fake)
    with pytest.raises(IdmeRateLimited) as caught:
        client.create_push("u/../x", "d1", "Sign", "")
    assert caught.value.retry_after is None
    # An id is one path segment, whatever it holds.
    assert fake.hits[-1] == ("POST", "/idme/api/public/v3/epcs/users/u%2F..%2Fx/push")


def test_an_unknown_refusal_reason_is_read_as_a_wrong_code(broken_idme: Any) -> None:
    newer = (200, {"Content-Type": "application/json"}, b'{"result": "deny", "reason": "too_sleepy"}')
    client = client_for(broken_idme(token_then(lambda method, path: newer)))
    result = client.verify_totp("u1", "d1", "123456")
    assert not result.allowed and result.reason == "invalid_code"
