"""The authenticator rules, through idme_sandbox.authenticators (shared by sign-in and the partner API)."""

from __future__ import annotations

import base64
import datetime as dt
from urllib.parse import parse_qs, unquote, urlparse

import pyotp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.utils import timezone

from idme_sandbox import authenticators
from idme_sandbox.models import Account, Device, OutboxMessage, PushStatus, PushTransaction
from tests.idme_sandbox.conftest import sign_answer

# RFC 6238 appendix B, SHA-1 rows: the seed is the ASCII string "12345678901234567890".
RFC6238_SHA1_SECRET = base64.b32encode(b"12345678901234567890").decode()
RFC6238_SHA1_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


def code_at(device: Device, offset_steps: int = 0) -> str:
    moment = timezone.now() + dt.timedelta(seconds=30 * offset_steps)
    return pyotp.TOTP(device.totp_secret).at(moment)


@pytest.mark.req("NIST-01")
@pytest.mark.parametrize(("unix_time", "expected"), RFC6238_SHA1_VECTORS)
def test_rfc6238_sha1_vectors(unix_time: int, expected: str) -> None:
    assert pyotp.TOTP(RFC6238_SHA1_SECRET, digits=8).at(unix_time) == expected
    # Our verifier (6 digits: the low six of the same value) finds the vector's time step.
    moment = dt.datetime.fromtimestamp(unix_time, tz=dt.UTC)
    assert authenticators.matching_step(RFC6238_SHA1_SECRET, expected[-6:], moment) == unix_time // 30


@pytest.mark.req("ASVS-01")
def test_new_secrets_are_160_bits_and_distinct() -> None:
    secrets = {authenticators.new_totp_secret() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert len(base64.b32decode(secret)) == 20


def test_provisioning_uri_names_the_issuer_and_the_email() -> None:
    secret = authenticators.new_totp_secret()
    uri = authenticators.provisioning_uri(secret, "pat.doe@example.test")
    parsed = urlparse(uri)
    assert parsed.scheme == "otpauth" and parsed.netloc == "totp"
    assert unquote(parsed.path) == "/ID.me:pat.doe@example.test"
    query = parse_qs(parsed.query)
    assert query["secret"] == [secret] and query["issuer"] == ["ID.me"]
    assert query["digits"] == ["6"] and query["period"] == ["30"] and query["algorithm"] == ["SHA1"]
    # Any authenticator app parses it to the same generator.
    parsed_totp = pyotp.parse_uri(uri)
    assert isinstance(parsed_totp, pyotp.TOTP)
    assert parsed_totp.now() == pyotp.TOTP(secret).now()


@pytest.mark.req("NIST-01")
def test_current_code_is_accepted_once(sandbox_totp_device: Device) -> None:
    code = code_at(sandbox_totp_device)
    assert authenticators.verify_totp(sandbox_totp_device, code).decision == "allow"
    assert authenticators.verify_totp(sandbox_totp_device, code).decision == "code_replayed"


@pytest.mark.req("NIST-01")
def test_one_step_of_drift_either_way_is_accepted_two_are_not(sandbox_totp_device: Device) -> None:
    assert authenticators.verify_totp(sandbox_totp_device, code_at(sandbox_totp_device, -2)).decision == "invalid_code"
    assert authenticators.verify_totp(sandbox_totp_device, code_at(sandbox_totp_device, 2)).decision == "invalid_code"
    assert authenticators.verify_totp(sandbox_totp_device, code_at(sandbox_totp_device, -1)).decision == "allow"
    assert authenticators.verify_totp(sandbox_totp_device, code_at(sandbox_totp_device, 1)).decision == "allow"


@pytest.mark.req("NIST-01")
def test_a_code_older_than_the_last_accepted_one_is_a_replay(sandbox_totp_device: Device) -> None:
    later = code_at(sandbox_totp_device, 1)
    earlier = code_at(sandbox_totp_device, 0)
    assert authenticators.verify_totp(sandbox_totp_device, later).allowed
    assert authenticators.verify_totp(sandbox_totp_device, earlier).decision == "code_replayed"


@pytest.mark.req("ASVS-03")
def test_replay_is_refused_counted_and_the_holder_notified(sandbox_totp_device: Device) -> None:
    code = code_at(sandbox_totp_device)
    authenticators.verify_totp(sandbox_totp_device, code)
    result = authenticators.verify_totp(sandbox_totp_device, code)
    assert result.decision == "code_replayed"
    sandbox_totp_device.refresh_from_db()
    assert sandbox_totp_device.failed_attempts == 1
    notice = OutboxMessage.objects.get(account=sandbox_totp_device.account, channel="email")
    assert notice.phone == sandbox_totp_device.account.email
    assert "used a second time" in notice.body


@pytest.mark.req("NIST-02")
def test_five_failures_lock_the_device_even_for_the_right_code(sandbox_totp_device: Device) -> None:
    before = timezone.now()
    results = [authenticators.verify_totp(sandbox_totp_device, "000000" if i % 2 else "12") for i in range(5)]
    assert [r.decision for r in results] == ["invalid_code"] * 5
    assert results[-1].locked_until is not None
    assert dt.timedelta(minutes=14) < results[-1].locked_until - before <= dt.timedelta(minutes=15, seconds=5)
    locked = authenticators.verify_totp(sandbox_totp_device, code_at(sandbox_totp_device))
    assert locked.decision == "device_locked"
    assert locked.locked_until == results[-1].locked_until
    sandbox_totp_device.refresh_from_db()
    assert sandbox_totp_device.last_totp_step is None  # the right code was not consumed


@pytest.mark.req("NIST-02")
def test_each_further_lockout_lasts_longer(sandbox_totp_device: Device) -> None:
    durations = []
    for _ in range(3):
        for _ in range(5):
            result = authenticators.verify_totp(sandbox_totp_device, "999999")
        assert result.locked_until is not None
        durations.append(result.locked_until - timezone.now())
        # The lock has run out (arranged: time passes).
        Device.objects.filter(pk=sandbox_totp_device.pk).update(locked_until=timezone.now() - dt.timedelta(seconds=1))
    assert durations[0] < durations[1] < durations[2]
    assert durations[1] > dt.timedelta(minutes=29)
    assert authenticators.lockout_duration(40) == authenticators.MAX_LOCKOUT


@pytest.mark.req("NIST-02")
def test_success_resets_the_failure_count(sandbox_totp_device: Device) -> None:
    for _ in range(4):
        authenticators.verify_totp(sandbox_totp_device, "111111")
    assert authenticators.verify_totp(sandbox_totp_device, code_at(sandbox_totp_device)).allowed
    sandbox_totp_device.refresh_from_db()
    assert sandbox_totp_device.failed_attempts == 0
    for _ in range(4):
        assert authenticators.verify_totp(sandbox_totp_device, "111111").locked_until is None


def test_verify_totp_refuses_a_push_device(sandbox_push_device: Device) -> None:
    with pytest.raises(authenticators.WrongDeviceKind):
        authenticators.verify_totp(sandbox_push_device, "123456")


# --- push ----------------------------------------------------------------------
def new_push(account: Account, device: Device, **kwargs: object) -> PushTransaction:
    return authenticators.create_push(account, device, "Sign in to ID.me", "From Firefox on Linux", **kwargs)  # type: ignore[arg-type]


@pytest.mark.req("NIST-03")
def test_signed_approval_with_the_right_number_approves(
    sandbox_account: Account, sandbox_push_device: Device, sandbox_phone_key: Ed25519PrivateKey
) -> None:
    push = new_push(sandbox_account, sandbox_push_device)
    assert push.status == PushStatus.PENDING and len(push.match_number) == 2
    signature = sign_answer(sandbox_phone_key, push.txid, "approve", push.match_number)
    answered = authenticators.answer_push(push.txid, "approve", push.match_number, signature)
    assert answered.status == PushStatus.APPROVED and answered.answered_at is not None


@pytest.mark.req("NIST-03")
def test_a_wrong_number_is_refused_and_denies_the_request(
    sandbox_account: Account, sandbox_push_device: Device, sandbox_phone_key: Ed25519PrivateKey
) -> None:
    push = new_push(sandbox_account, sandbox_push_device)
    wrong = "10" if push.match_number != "10" else "11"
    with pytest.raises(authenticators.WrongMatchNumber):
        authenticators.answer_push(
            push.txid, "approve", wrong, sign_answer(sandbox_phone_key, push.txid, "approve", wrong)
        )
    push.refresh_from_db()
    assert push.status == PushStatus.DENIED


@pytest.mark.req("NIST-03")
def test_a_signature_for_another_transaction_or_key_is_refused(
    sandbox_account: Account, sandbox_push_device: Device, sandbox_phone_key: Ed25519PrivateKey
) -> None:
    first = new_push(sandbox_account, sandbox_push_device)
    second = new_push(sandbox_account, sandbox_push_device)
    # A valid signature over the first transaction does not approve the second.
    signature = sign_answer(sandbox_phone_key, first.txid, "approve", second.match_number)
    with pytest.raises(authenticators.BadSignature):
        authenticators.answer_push(second.txid, "approve", second.match_number, signature)
    # Nor does another key's signature, nor a signature over "deny" presented as "approve".
    intruder = Ed25519PrivateKey.generate()
    with pytest.raises(authenticators.BadSignature):
        authenticators.answer_push(
            second.txid,
            "approve",
            second.match_number,
            sign_answer(intruder, second.txid, "approve", second.match_number),
        )
    with pytest.raises(authenticators.BadSignature):
        authenticators.answer_push(
            second.txid,
            "approve",
            second.match_number,
            sign_answer(sandbox_phone_key, second.txid, "deny", second.match_number),
        )
    with pytest.raises(authenticators.BadSignature):
        authenticators.answer_push(second.txid, "approve", second.match_number, "not base64 !!")
    second.refresh_from_db()
    assert second.status == PushStatus.PENDING  # a bad signature changes nothing


@pytest.mark.req("NIST-04")
def test_an_answer_is_accepted_once(
    sandbox_account: Account, sandbox_push_device: Device, sandbox_phone_key: Ed25519PrivateKey
) -> None:
    push = new_push(sandbox_account, sandbox_push_device)
    authenticators.answer_push(
        push.txid, "deny", push.match_number, sign_answer(sandbox_phone_key, push.txid, "deny", push.match_number)
    )
    with pytest.raises(authenticators.PushAlreadyAnswered):
        authenticators.answer_push(
            push.txid,
            "approve",
            push.match_number,
            sign_answer(sandbox_phone_key, push.txid, "approve", push.match_number),
        )
    push.refresh_from_db()
    assert push.status == PushStatus.DENIED


@pytest.mark.req("NIST-04")
def test_an_expired_request_cannot_be_approved(
    sandbox_account: Account, sandbox_push_device: Device, sandbox_phone_key: Ed25519PrivateKey
) -> None:
    push = new_push(sandbox_account, sandbox_push_device, expires_in=30)
    PushTransaction.objects.filter(pk=push.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    with pytest.raises(authenticators.PushExpired):
        authenticators.answer_push(
            push.txid,
            "approve",
            push.match_number,
            sign_answer(sandbox_phone_key, push.txid, "approve", push.match_number),
        )
    push.refresh_from_db()
    assert push.status == PushStatus.EXPIRED


@pytest.mark.req("NIST-04")
@pytest.mark.parametrize("expires_in", [0, -5, 601, 3600, True])
def test_expiry_is_never_over_ten_minutes(
    sandbox_account: Account, sandbox_push_device: Device, expires_in: int
) -> None:
    with pytest.raises(authenticators.PushRequestInvalid):
        new_push(sandbox_account, sandbox_push_device, expires_in=expires_in)
    assert not PushTransaction.objects.exists()


@pytest.mark.req("NIST-04")
def test_default_expiry_is_two_minutes(sandbox_account: Account, sandbox_push_device: Device) -> None:
    push = new_push(sandbox_account, sandbox_push_device)
    assert push.expires_at - push.created_at == dt.timedelta(seconds=120)
    longest = new_push(sandbox_account, sandbox_push_device, expires_in=600)
    assert longest.expires_at - longest.created_at == dt.timedelta(seconds=600)


@pytest.mark.req("ASVS-04")
def test_at_most_three_pending_pushes(sandbox_account: Account, sandbox_push_device: Device) -> None:
    for _ in range(3):
        new_push(sandbox_account, sandbox_push_device)
    with pytest.raises(authenticators.PushRateLimited) as refused:
        new_push(sandbox_account, sandbox_push_device)
    assert 1 <= refused.value.retry_after <= 121
    assert PushTransaction.objects.count() == 3


@pytest.mark.req("ASVS-04")
def test_at_most_ten_pushes_in_ten_minutes(
    sandbox_account: Account, sandbox_push_device: Device, sandbox_phone_key: Ed25519PrivateKey
) -> None:
    for _ in range(10):
        push = new_push(sandbox_account, sandbox_push_device)
        authenticators.cancel_push(push)
    with pytest.raises(authenticators.PushRateLimited) as refused:
        new_push(sandbox_account, sandbox_push_device)
    assert 500 <= refused.value.retry_after <= 601
    # Once the oldest is more than 10 minutes old, one more is allowed.
    oldest = PushTransaction.objects.order_by("created_at").first()
    assert oldest is not None
    PushTransaction.objects.filter(pk=oldest.pk).update(created_at=timezone.now() - dt.timedelta(minutes=11))
    assert new_push(sandbox_account, sandbox_push_device).status == PushStatus.PENDING


@pytest.mark.req("ASVS-04")
def test_limits_are_per_account(
    make_sandbox_account: object,
    sandbox_account: Account,
    sandbox_push_device: Device,
    sandbox_phone_key: Ed25519PrivateKey,
) -> None:
    for _ in range(3):
        new_push(sandbox_account, sandbox_push_device)
    other = make_sandbox_account("other@example.test")  # type: ignore[operator]
    other_device = Device.objects.create(
        account=other, kind="push", name="x", public_key=sandbox_push_device.public_key
    )
    assert new_push(other, other_device).status == PushStatus.PENDING


def test_cancel_stops_a_late_approval(
    sandbox_account: Account, sandbox_push_device: Device, sandbox_phone_key: Ed25519PrivateKey
) -> None:
    push = new_push(sandbox_account, sandbox_push_device)
    assert authenticators.cancel_push(push).status == PushStatus.CANCELLED
    with pytest.raises(authenticators.PushAlreadyAnswered):
        authenticators.answer_push(
            push.txid,
            "approve",
            push.match_number,
            sign_answer(sandbox_phone_key, push.txid, "approve", push.match_number),
        )
    # Cancelling a final push keeps its status.
    approved = new_push(sandbox_account, sandbox_push_device)
    authenticators.answer_push(
        approved.txid,
        "approve",
        approved.match_number,
        sign_answer(sandbox_phone_key, approved.txid, "approve", approved.match_number),
    )
    assert authenticators.cancel_push(approved).status == PushStatus.APPROVED


def test_unknown_transaction_and_bad_decision(sandbox_push_device: Device) -> None:
    with pytest.raises(authenticators.PushNotFound):
        authenticators.answer_push("0" * 32, "approve", "12", "AAAA")
    with pytest.raises(authenticators.PushRequestInvalid):
        authenticators.answer_push("0" * 32, "maybe", "12", "AAAA")


def test_create_push_refuses_a_code_generator_or_another_accounts_device(
    make_sandbox_account: object, sandbox_account: Account, sandbox_totp_device: Device, sandbox_push_device: Device
) -> None:
    with pytest.raises(authenticators.WrongDeviceKind):
        new_push(sandbox_account, sandbox_totp_device)
    other = make_sandbox_account("other@example.test")  # type: ignore[operator]
    with pytest.raises(authenticators.PushRequestInvalid):
        new_push(other, sandbox_push_device)


@pytest.mark.req("NIST-01")
@pytest.mark.django_db(transaction=True)
def test_concurrent_submissions_of_one_code_allow_it_once(sandbox_totp_device: Device) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    code = code_at(sandbox_totp_device)

    def submit(_: int) -> str:
        try:
            device = Device.objects.get(pk=sandbox_totp_device.pk)
            return authenticators.verify_totp(device, code).decision
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=6) as pool:
        decisions = list(pool.map(submit, range(6)))
    assert decisions.count("allow") == 1
    assert decisions.count("code_replayed") == 5


@pytest.mark.req("NIST-04")
@pytest.mark.django_db(transaction=True)
def test_concurrent_answers_are_accepted_once(
    sandbox_account: Account, sandbox_push_device: Device, sandbox_phone_key: Ed25519PrivateKey
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    push = new_push(sandbox_account, sandbox_push_device)
    approve = sign_answer(sandbox_phone_key, push.txid, "approve", push.match_number)
    deny = sign_answer(sandbox_phone_key, push.txid, "deny", push.match_number)

    def submit(i: int) -> str:
        decision, signature = ("approve", approve) if i % 2 else ("deny", deny)
        try:
            return authenticators.answer_push(push.txid, decision, push.match_number, signature).status
        except authenticators.PushAlreadyAnswered:
            return "refused"
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(submit, range(6)))
    assert outcomes.count("refused") == 5
    push.refresh_from_db()
    assert [o for o in outcomes if o != "refused"] == [push.status]
