"""Sandbox account rules: sign-up, password sign-in throttling, phone codes, device set-up.

Authenticator rules proper (TOTP drift/replay/lockout, push limits and signed answers) live in
`idme_sandbox.authenticators`; this module holds what only the ID.me pages need.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass

from cryptography.fernet import InvalidToken
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from common.fields import decrypt, encrypt
from common.throttle import AttemptLimiter
from idme_sandbox import authenticators
from idme_sandbox.models import SANDBOX_KEYS, Account, Client, Consent, Device, DeviceKind, OutboxMessage

logger = logging.getLogger("idme_sandbox.accounts")

# ASVS-02: documented limits (docs/idme-sandbox.md).
SIGN_IN_LIMITER = AttemptLimiter("idme_sign_in", limit=10, window_seconds=15 * 60)
SIGN_IN_IP_LIMITER = AttemptLimiter("idme_sign_in_ip", limit=50, window_seconds=15 * 60)
CODE_ENTRY_LIMITER = AttemptLimiter("idme_code_entry", limit=10, window_seconds=15 * 60)
PAIRING_LIMITER = AttemptLimiter("idme_pairing", limit=20, window_seconds=10 * 60)

PHONE_CODE_TTL_SECONDS = 10 * 60
PHONE_CODE_MAX_ATTEMPTS = 5
PAIRING_CODE_TTL_SECONDS = 10 * 60
PENDING_TOTP_TTL_SECONDS = 15 * 60
PAIRING_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# --- accounts -----------------------------------------------------------------------
def normalize_email(email: str) -> str:
    return email.strip().lower()


def create_account(*, email: str, password: str, fname: str, lname: str) -> Account:
    account = Account(email=normalize_email(email), fname=fname.strip(), lname=lname.strip())
    account.set_password(password)
    account.save()
    logger.info("account created %s", account.uuid)
    return account


class SignInLocked(Exception):
    pass


def check_password_sign_in(email: str, password: str, ip: str) -> Account | None:
    """The account for this email and password, or None; raises SignInLocked when throttled."""
    email = normalize_email(email)
    if SIGN_IN_LIMITER.is_locked(email) or SIGN_IN_IP_LIMITER.is_locked(ip):
        logger.warning("sign-in locked email=%s", _digest(email)[:12])
        raise SignInLocked
    account = Account.objects.filter(email=email).first()
    if account is None:
        Account().set_password(password)  # same hashing time whether or not the email exists
    if account is None or not account.check_password(password):
        SIGN_IN_LIMITER.failure(email)
        SIGN_IN_IP_LIMITER.failure(ip)
        logger.info("sign-in refused email=%s", _digest(email)[:12])
        return None
    SIGN_IN_LIMITER.reset(email)
    logger.info("sign-in password ok account=%s", account.uuid)
    return account


def mfa_devices(account: Account) -> list[Device]:
    """Methods usable to finish signing in (push devices only once paired)."""
    return [d for d in account.devices.all() if d.kind != DeviceKind.PUSH or d.public_key]


def linked_client_names(account: Account) -> list[str]:
    return [c.client.name for c in Consent.objects.filter(account=account).select_related("client")]


# --- text message / phone call codes -------------------------------------------------
def mask_phone(phone: str) -> str:
    digits = "".join(ch for ch in phone if ch.isdigit())
    return f"(***) ***-*{digits[-3:]}" if len(digits) >= 3 else "(***) ***-****"


def normalize_phone(phone: str) -> str | None:
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) != 10 or digits[0] in "01":
        return None
    return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"


def _phone_code_key(account: Account, purpose: str) -> str:
    return f"idme_phone_code:{purpose}:{account.pk}"


def send_phone_code(account: Account, phone: str, channel: str, purpose: str) -> OutboxMessage:
    """A fresh 6-digit code by text or call, into the message outbox; replaces any earlier code."""
    code = f"{secrets.randbelow(1_000_000):06d}"
    cache.set(
        _phone_code_key(account, purpose),
        {"digest": _digest(code), "phone": phone, "expires": time.time() + PHONE_CODE_TTL_SECONDS, "attempts": 0},
        PHONE_CODE_TTL_SECONDS,
    )
    if channel == "voice":
        body = f"This is ID.me. Your verification code is {' '.join(code)}. Again: {' '.join(code)}."
    else:
        channel = "sms"
        body = f"ID.me: {code} is your verification code. It expires in 10 minutes. Don't share it."
    return OutboxMessage.objects.create(account=account, phone=phone, channel=channel, body=body)


def pending_phone(account: Account, purpose: str) -> str | None:
    entry = cache.get(_phone_code_key(account, purpose))
    return entry["phone"] if entry else None


def check_phone_code(account: Account, code: str, purpose: str) -> bool:
    """True once for the right code; a code allows 5 tries, then a new one must be sent."""
    key = _phone_code_key(account, purpose)
    entry = cache.get(key)
    if not entry or time.time() > entry["expires"]:
        logger.warning("phone code refused account=%s purpose=%s (none pending)", account.uuid, purpose)
        return False
    entry["attempts"] += 1
    if hmac.compare_digest(entry["digest"], _digest(authenticators.normalize_code(code))):
        cache.delete(key)
        logger.info("phone code accepted account=%s purpose=%s", account.uuid, purpose)
        return True
    logger.warning("phone code refused account=%s purpose=%s attempt=%s", account.uuid, purpose, entry["attempts"])
    if entry["attempts"] >= PHONE_CODE_MAX_ATTEMPTS:
        cache.delete(key)
    else:
        cache.set(key, entry, max(1, int(entry["expires"] - time.time())))
    return False


# --- code generators -----------------------------------------------------------------
def seal_pending_secret(account: Account, secret: str) -> str:
    """The pending secret, encrypted for the browser to hold until confirmation."""
    return encrypt(json.dumps({"a": account.pk, "s": secret, "t": time.time()}), SANDBOX_KEYS)


def open_pending_secret(account: Account, sealed: str | None) -> str | None:
    if not sealed:
        return None
    try:
        data = json.loads(decrypt(sealed, SANDBOX_KEYS))
    except (InvalidToken, ValueError, TypeError, AttributeError):  # tampered, old key or not ours
        return None
    if data.get("a") != account.pk or time.time() - float(data.get("t", 0)) > PENDING_TOTP_TTL_SECONDS:
        return None
    secret = data.get("s")
    return secret if isinstance(secret, str) else None


def _default_name(account: Account, kind: str, base: str) -> str:
    count = account.devices.filter(kind=kind).count()
    return base if count == 0 else f"{base} {count + 1}"


def notify_binding(account: Account, device: Device) -> None:
    """NIST-06: every new authenticator is recorded with its time and the holder is told."""
    when = timezone.localtime(device.added_at).strftime("%b %d, %Y %H:%M %Z")
    authenticators.notify_account(
        account,
        f"ID.me: a new {device.get_kind_display()} \u201c{device}\u201d was added to your account on {when}. "
        "If this was not you, remove it in Sign In & Security.",
    )


def add_code_generator(account: Account, secret: str, code: str, name: str) -> Device | None:
    """Confirm a new code generator with its first code; None when the code is wrong."""
    step = authenticators.matching_step(secret, code)
    if step is None:
        return None
    device = Device.objects.create(
        account=account,
        kind=DeviceKind.TOTP,
        name=name.strip() or _default_name(account, DeviceKind.TOTP, "Code Generator"),
        totp_secret=secret,
        last_totp_step=step,  # the confirming code cannot be used again
    )
    notify_binding(account, device)
    return device


def add_phone(account: Account, phone: str, name: str = "") -> Device:
    device = Device.objects.create(
        account=account, kind=DeviceKind.SMS, phone=phone, name=name.strip() or f"Phone {mask_phone(phone)}"
    )
    if not account.phone:
        Account.objects.filter(pk=account.pk).update(phone=phone)
    notify_binding(account, device)
    return device


# --- push pairing ---------------------------------------------------------------------
def new_pairing_code(account: Account) -> str:
    """A one-time code (valid 10 minutes) to type into the ID.me Authenticator."""
    code = "".join(secrets.choice(PAIRING_ALPHABET) for _ in range(8))
    cache.set(f"idme_pairing:{_digest(code)}", {"account": account.pk}, PAIRING_CODE_TTL_SECONDS)
    return f"{code[:4]}-{code[4:]}"


def normalize_pairing_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


class PairingRefused(Exception):
    def __init__(self, message: str, status: int = 400, code: str = "invalid_request") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


def pair_device(pairing_code: str, public_key: str, name: str, ip: str) -> Device:
    """Bind a push authenticator: the phone made the key pair and sends only the public key."""
    if PAIRING_LIMITER.is_locked(ip):
        raise PairingRefused("Too many pairing attempts; try again later.", 429, "rate_limited")
    authenticators.load_public_key(public_key)  # raises BadSignature for a malformed key
    key = f"idme_pairing:{_digest(normalize_pairing_code(pairing_code))}"
    entry = cache.get(key)
    if not entry:
        PAIRING_LIMITER.failure(ip)
        raise PairingRefused("That pairing code is wrong or has expired.", 404, "pairing_code_not_found")
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=entry["account"])
        if cache.get(key) is None:  # used by a concurrent request
            raise PairingRefused("That pairing code was already used.", 409, "pairing_code_used")
        cache.delete(key)
        device = Device.objects.create(
            account=account,
            kind=DeviceKind.PUSH,
            name=name.strip()[:100] or _default_name(account, DeviceKind.PUSH, "ID.me Authenticator"),
            public_key=public_key.strip(),
        )
        notify_binding(account, device)
    logger.info("push device paired account=%s device=%s", account.uuid, device.device_id)
    return device


# --- device changes ------------------------------------------------------------------
def rename_device(device: Device, name: str) -> Device:
    device.name = name.strip()[:100]
    device.save(update_fields=["name"])
    return device


class LastMethod(Exception):
    pass


def delete_device(device: Device) -> None:
    """Remove a method at once (NIST-05); the account's last remaining method stays."""
    with transaction.atomic():
        Account.objects.select_for_update().get(pk=device.account_id)
        if Device.objects.filter(account_id=device.account_id).count() <= 1:
            raise LastMethod
        device.delete()
    logger.info("device deleted account=%s device=%s", device.account_id, device.device_id)


# --- identity verification (a simulation) ----------------------------------------------
@dataclass(frozen=True)
class IdentityDetails:
    fname: str
    lname: str
    birth_date: dt.date
    ssn_last4: str
    street: str
    city: str
    state: str
    zip_code: str


def verify_identity(account: Account, details: IdentityDetails) -> Account:
    """Simulated identity proofing: plausible details raise the account to IAL2. Nothing is kept
    but the names, the date of birth (the `birth_date` claim) and the verification time."""
    account.fname = details.fname.strip()
    account.lname = details.lname.strip()
    account.birth_date = details.birth_date
    account.ial = 2
    account.identity_verified_at = timezone.now()
    account.save(update_fields=["fname", "lname", "birth_date", "ial", "identity_verified_at"])
    logger.info("identity verified (simulated) account=%s", account.uuid)
    return account


def client_return_link(client_id: str | None, return_to: str | None) -> tuple[Client, str] | None:
    """(client, return_to) when return_to is one of that client's registered return URIs."""
    if not client_id or not return_to:
        return None
    client = Client.objects.filter(client_id=client_id).first()
    if client is None or return_to not in client.return_uri_list:
        return None
    return client, return_to
