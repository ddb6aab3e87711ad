"""The one place for the sandbox's authenticator rules (sign-in MFA and the partner API use it).

Code Generator (TOTP, RFC 6238: SHA-1, 6 digits, 30-second steps):
- secrets are 160 bits from a CSPRNG (`pyotp.random_base32(32)`), stored encrypted (ASVS-01);
- a code from the current step or one step either side is accepted (NIST-01);
- a code for a time step at or before the last accepted one is refused as `code_replayed`, counts
  as a failure, and the holder is notified by email in the outbox (NIST-01, ASVS-03);
- 5 consecutive failures lock the device for 15 minutes; each later lockout lasts twice as long,
  capped at 24 hours; while locked every attempt is refused as `device_locked` without looking
  at the code; an accepted code resets the failure count (NIST-02). The 5th failure itself is
  answered `invalid_code` (or `code_replayed`) with `locked_until` set.

Push (the ID.me Authenticator):
- `create_push` expiry: 1..600 seconds, default 120 (NIST-04); anything else raises
  `PushRequestInvalid`. Per account at most 3 pending pushes and 10 pushes in 10 minutes,
  else `PushRateLimited(retry_after)` (ASVS-04).
- `answer_push` verifies an Ed25519 signature by the paired device over the exact bytes
  `f"{txid}:{decision}:{match_number}"` (decision "approve" or "deny"); then refuses a second
  answer, an expired or cancelled push, and an approval with the wrong number (which denies
  the push: number matching, NIST-03). A bad signature changes nothing.

Every check on a row that can race runs inside `transaction.atomic()` with `select_for_update()`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import logging
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, urlencode

import pyotp
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.db import transaction
from django.utils import timezone

from idme_sandbox.models import Account, Client, Device, DeviceKind, OutboxMessage, PushStatus, PushTransaction

logger = logging.getLogger("idme_sandbox.authenticators")

ISSUER = "ID.me"
TOTP_DIGITS = 6
TOTP_PERIOD_SECONDS = 30
TOTP_DRIFT_STEPS = 1
MAX_CONSECUTIVE_FAILURES = 5
FIRST_LOCKOUT = dt.timedelta(minutes=15)
MAX_LOCKOUT = dt.timedelta(hours=24)

PUSH_DEFAULT_EXPIRES_IN = 120
PUSH_MAX_EXPIRES_IN = 600
PUSH_MAX_PENDING = 3
PUSH_MAX_PER_WINDOW = 10
PUSH_WINDOW = dt.timedelta(minutes=10)

PushDecisionValue = Literal["approve", "deny"]
TotpDecisionValue = Literal["allow", "invalid_code", "code_replayed", "device_locked"]


# --- errors ------------------------------------------------------------------
class AuthenticatorError(Exception):
    """A request the rules refuse; `code` is a stable machine-readable reason."""

    code = "invalid_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class WrongDeviceKind(AuthenticatorError):
    code = "wrong_device_kind"


class PushRequestInvalid(AuthenticatorError):
    code = "invalid_request"


class PushRateLimited(AuthenticatorError):
    code = "rate_limited"

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many push requests for this account; try again later.")
        self.retry_after = max(1, int(retry_after))


class PushNotFound(AuthenticatorError):
    code = "transaction_not_found"


class BadSignature(AuthenticatorError):
    code = "invalid_signature"


class WrongMatchNumber(AuthenticatorError):
    code = "wrong_number"


class PushAlreadyAnswered(AuthenticatorError):
    code = "already_answered"


class PushExpired(AuthenticatorError):
    code = "expired"


# --- TOTP ----------------------------------------------------------------------
def new_totp_secret() -> str:
    """A 160-bit secret from a CSPRNG, base32 (32 characters)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, email: str) -> str:
    """otpauth://totp/ID.me:<email>?secret=...&issuer=ID.me&algorithm=SHA1&digits=6&period=30"""
    label = quote(f"{ISSUER}:{email}", safe="@:")
    query = urlencode(
        {
            "secret": secret,
            "issuer": ISSUER,
            "algorithm": "SHA1",
            "digits": TOTP_DIGITS,
            "period": TOTP_PERIOD_SECONDS,
        }
    )
    return f"otpauth://totp/{label}?{query}"


def grouped_secret(secret: str) -> str:
    """The key for manual entry, in groups of four for reading."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD_SECONDS)


def time_step(at: dt.datetime | None = None) -> int:
    moment = at or timezone.now()
    return int(moment.timestamp()) // TOTP_PERIOD_SECONDS


def normalize_code(code: str) -> str:
    return "".join(str(code).split())


def matching_step(secret: str, code: str, at: dt.datetime | None = None) -> int | None:
    """The time step (current +/- drift) whose code equals `code`, or None. Constant-time compare."""
    code = normalize_code(code)
    if len(code) != TOTP_DIGITS or not code.isdigit():
        return None
    totp = _totp(secret)
    current = time_step(at)
    found: int | None = None
    for step in range(current - TOTP_DRIFT_STEPS, current + TOTP_DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def code_matches_secret(secret: str, code: str) -> bool:
    """For confirming a new Code Generator before it exists as a device."""
    return matching_step(secret, code) is not None


@dataclass(frozen=True)
class TotpDecision:
    decision: TotpDecisionValue
    locked_until: dt.datetime | None = None

    @property
    def allowed(self) -> bool:
        return self.decision == "allow"


def lockout_duration(lockouts: int) -> dt.timedelta:
    """The n-th lockout (1-based): 15 min, 30 min, 1 h, ... capped at 24 h."""
    duration = FIRST_LOCKOUT * (2 ** max(0, min(lockouts - 1, 16)))
    return min(duration, MAX_LOCKOUT)


def notify_account(account: Account, subject: str) -> OutboxMessage:
    """A notice to the account holder (an email in the message outbox)."""
    return OutboxMessage.objects.create(account=account, phone=account.email, channel="email", body=subject[:300])


def verify_totp(device: Device, code: str) -> TotpDecision:
    """Check a Code Generator code with drift, replay guard and lockout (see the module docstring)."""
    with transaction.atomic():
        locked = Device.objects.select_for_update().select_related("account").get(pk=device.pk)
        if locked.kind != DeviceKind.TOTP or not locked.totp_secret:
            raise WrongDeviceKind("This device is not a code generator.")
        now = timezone.now()
        if locked.locked_until is not None and now < locked.locked_until:
            logger.info("totp device=%s decision=device_locked", locked.device_id)
            return TotpDecision("device_locked", locked.locked_until)

        step = matching_step(locked.totp_secret, code, now)
        if step is not None and (locked.last_totp_step is None or step > locked.last_totp_step):
            locked.last_totp_step = step
            locked.failed_attempts = 0
            locked.locked_until = None
            locked.last_used_at = now
            locked.save(update_fields=["last_totp_step", "failed_attempts", "locked_until", "last_used_at"])
            logger.info("totp device=%s decision=allow", locked.device_id)
            result = TotpDecision("allow")
        else:
            reason: TotpDecisionValue = "code_replayed" if step is not None else "invalid_code"
            locked.failed_attempts += 1
            locked_until = None
            if locked.failed_attempts >= MAX_CONSECUTIVE_FAILURES:
                locked.lockouts += 1
                locked.failed_attempts = 0
                locked_until = now + lockout_duration(locked.lockouts)
                locked.locked_until = locked_until
            locked.save(update_fields=["failed_attempts", "locked_until", "lockouts"])
            if reason == "code_replayed":
                notify_account(
                    locked.account,
                    f"ID.me: a code from your code generator \u201c{locked}\u201d was used a second time and "
                    "refused. If this was not you, change your password and review Sign In & Security.",
                )
            logger.warning("totp device=%s decision=%s", locked.device_id, reason)
            result = TotpDecision(reason, locked_until)
    device.refresh_from_db()
    return result


# --- push ----------------------------------------------------------------------
def _expire_stale(account: Account, now: dt.datetime) -> None:
    PushTransaction.objects.filter(account=account, status=PushStatus.PENDING, expires_at__lte=now).update(
        status=PushStatus.EXPIRED
    )


def create_push(
    account: Account,
    device: Device,
    title: str,
    message: str,
    client: Client | None = None,
    expires_in: int = PUSH_DEFAULT_EXPIRES_IN,
) -> PushTransaction:
    """Send a push to a paired ID.me Authenticator, within the per-account limits."""
    if isinstance(expires_in, bool) or not isinstance(expires_in, int) or not 1 <= expires_in <= PUSH_MAX_EXPIRES_IN:
        raise PushRequestInvalid(f"expires_in must be a whole number of seconds from 1 to {PUSH_MAX_EXPIRES_IN}.")
    if device.account_id != account.pk:
        raise PushRequestInvalid("That device belongs to another account.")
    if device.kind != DeviceKind.PUSH or not device.public_key:
        raise WrongDeviceKind("This device is not a paired ID.me Authenticator.")
    title = title.strip()
    if not title or len(title) > 200:
        raise PushRequestInvalid("The title must be 1 to 200 characters.")
    with transaction.atomic():
        # One account's pushes are counted one request at a time.
        Account.objects.select_for_update().get(pk=account.pk)
        now = timezone.now()
        _expire_stale(account, now)
        pending = list(
            PushTransaction.objects.filter(account=account, status=PushStatus.PENDING).order_by("expires_at")
        )
        if len(pending) >= PUSH_MAX_PENDING:
            logger.warning("push account=%s decision=rate_limited (pending)", account.uuid)
            raise PushRateLimited(int((pending[0].expires_at - now).total_seconds()) + 1)
        window_start = now - PUSH_WINDOW
        recent = list(
            PushTransaction.objects.filter(account=account, created_at__gt=window_start).order_by("created_at")
        )
        if len(recent) >= PUSH_MAX_PER_WINDOW:
            logger.warning("push account=%s decision=rate_limited (window)", account.uuid)
            raise PushRateLimited(int((recent[0].created_at - window_start).total_seconds()) + 1)
        push = PushTransaction.objects.create(
            account=account,
            device=device,
            client=client,
            title=title,
            message=message,
            match_number=PushTransaction.new_match_number(),
            created_at=now,
            expires_at=now + dt.timedelta(seconds=expires_in),
        )
    logger.info("push account=%s txid=%s created", account.uuid, push.txid)
    return push


def decode_b64(value: str) -> bytes:
    """Standard or URL-safe base64, padding optional."""
    text = value.strip().replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    return base64.b64decode(text, validate=True)


def encode_b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def load_public_key(public_key_b64: str) -> Ed25519PublicKey:
    """A raw 32-byte Ed25519 public key in base64; raises BadSignature if it is not one."""
    try:
        raw = decode_b64(public_key_b64)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, binascii.Error) as exc:
        raise BadSignature("That is not an Ed25519 public key.") from exc


def verify_device_signature(device: Device, payload: bytes, signature_b64: str) -> None:
    """Raise BadSignature unless `signature_b64` is the device's Ed25519 signature over `payload`."""
    if device.kind != DeviceKind.PUSH or not device.public_key:
        raise BadSignature("The device has no paired key.")
    try:
        signature = decode_b64(signature_b64)
    except (ValueError, binascii.Error) as exc:
        raise BadSignature("The signature is not valid base64.") from exc
    try:
        load_public_key(device.public_key).verify(signature, payload)
    except InvalidSignature as exc:
        raise BadSignature("The signature does not match this device's key.") from exc


def answer_message(txid: str, decision: str, match_number: str) -> bytes:
    """The exact bytes a phone signs to answer a push."""
    return f"{txid}:{decision}:{match_number}".encode()


def answer_push(txid: str, decision: str, match_number: str, signature_b64: str) -> PushTransaction:
    """Record a phone's signed answer; raises an AuthenticatorError subclass when refused."""
    if decision not in ("approve", "deny"):
        raise PushRequestInvalid('The decision must be "approve" or "deny".')
    match_number = str(match_number).strip()
    wrong_number = False
    with transaction.atomic():
        push = PushTransaction.objects.select_for_update().select_related("device", "account").filter(txid=txid).first()
        if push is None:
            raise PushNotFound("No such push request.")
        verify_device_signature(push.device, answer_message(txid, decision, match_number), signature_b64)
        now = timezone.now()
        if push.status != PushStatus.PENDING:
            raise PushAlreadyAnswered(f"This request was already {push.get_status_display().lower()}.")
        if now >= push.expires_at:
            push.status = PushStatus.EXPIRED
            push.save(update_fields=["status"])
            expired = True
        else:
            expired = False
            if decision == "approve" and not hmac.compare_digest(match_number, push.match_number):
                wrong_number = True
                push.status = PushStatus.DENIED
            else:
                push.status = PushStatus.APPROVED if decision == "approve" else PushStatus.DENIED
            push.answered_at = now
            push.save(update_fields=["status", "answered_at"])
            Device.objects.filter(pk=push.device_id).update(last_used_at=now)
    logger.info("push txid=%s answer=%s status=%s", txid, decision, push.status)
    if expired:
        raise PushExpired("This request has expired.")
    if wrong_number:
        raise WrongMatchNumber("The number does not match the one on the requesting screen; the request was denied.")
    return push


def cancel_push(push: PushTransaction) -> PushTransaction:
    """Cancel a pending push; a push that is no longer pending keeps its final status."""
    with transaction.atomic():
        locked = PushTransaction.objects.select_for_update().get(pk=push.pk)
        if locked.status == PushStatus.PENDING:
            if timezone.now() >= locked.expires_at:
                locked.status = PushStatus.EXPIRED
            else:
                locked.status = PushStatus.CANCELLED
            locked.save(update_fields=["status"])
    logger.info("push txid=%s cancel -> %s", locked.txid, locked.status)
    return locked


def push_status(push: PushTransaction) -> str:
    """The status as of now (a pending push past its expiry reads as expired)."""
    return push.current_status()
