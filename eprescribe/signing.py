"""The application's Ed25519 signing key and the canonical form of a prescription.

The private key comes from settings.EPCS_SIGNING_KEY (PEM) or, when that is empty, from a
key file (settings.EPCS_SIGNING_KEY_FILE) created on first use with 0600 permissions. The
key id is the first 16 hex digits of SHA-256 over the raw public key. Signatures made
with an earlier key still verify when its public key is listed in
settings.EPCS_RETIRED_PUBLIC_KEYS (PEM blocks); see docs/eprescribe.md, "Keys and rotation".
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

if TYPE_CHECKING:
    from eprescribe.models import Prescription

CANONICAL_VERSION = 1


class SigningKeyUnavailable(Exception):
    """The signing key cannot be loaded or created; signing must be refused (DEA-16)."""


@dataclass(frozen=True)
class SigningKey:
    private_key: Ed25519PrivateKey
    key_id: str

    def sign(self, data: bytes) -> str:
        return base64.b64encode(self.private_key.sign(data)).decode()


def key_id_for(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


_lock = threading.Lock()
_cached: dict[str, SigningKey] = {}


def _load_pem(pem: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyUnavailable("EPCS signing key is not an Ed25519 private key")
    return key


def _key_from_file(path: Path) -> Ed25519PrivateKey:
    if path.exists():
        return _load_pem(path.read_bytes())
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting at once keep one key; 0600 from the first byte.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _load_pem(path.read_bytes())
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return key


def signing_key() -> SigningKey:
    """The current application signing key; raises SigningKeyUnavailable (DEA-16)."""
    pem_setting: str = getattr(settings, "EPCS_SIGNING_KEY", "") or ""
    path = Path(getattr(settings, "EPCS_SIGNING_KEY_FILE", Path(settings.VAR_DIR) / "epcs-signing-key.pem"))
    cache_key = f"{hashlib.sha256(pem_setting.encode()).hexdigest()}:{path}"
    with _lock:
        if cache_key in _cached:
            return _cached[cache_key]
        try:
            private = _load_pem(pem_setting.encode()) if pem_setting.strip() else _key_from_file(path)
        except SigningKeyUnavailable:
            raise
        except (OSError, ValueError, TypeError) as exc:
            raise SigningKeyUnavailable(f"EPCS signing key cannot be loaded: {type(exc).__name__}") from exc
        key = SigningKey(private, key_id_for(private.public_key()))
        _cached.clear()
        _cached[cache_key] = key
        return key


def trusted_public_keys() -> dict[str, Ed25519PublicKey]:
    """Key id -> public key: the current key and the retired ones from settings."""
    keys: dict[str, Ed25519PublicKey] = {}
    retired: str = getattr(settings, "EPCS_RETIRED_PUBLIC_KEYS", "") or ""
    marker = "-----END PUBLIC KEY-----"
    for block in retired.split(marker):
        if "-----BEGIN PUBLIC KEY-----" not in block:
            continue
        public = serialization.load_pem_public_key((block.strip() + "\n" + marker + "\n").encode())
        if isinstance(public, Ed25519PublicKey):
            keys[key_id_for(public)] = public
    try:
        current = signing_key()
        keys[current.key_id] = current.private_key.public_key()
    except SigningKeyUnavailable:
        pass
    return keys


def verify(public_key: Ed25519PublicKey, data: bytes, signature_b64: str) -> bool:
    try:
        public_key.verify(base64.b64decode(signature_b64, validate=True), data)
    except (InvalidSignature, ValueError):
        return False
    return True


# --- canonical form (DEA-06, DEA-11) ------------------------------------------
def _address(line1: str, line2: str, city: str, state: str, postal_code: str) -> dict[str, str]:
    return {"line1": line1, "line2": line2, "city": city, "state": state, "postal_code": postal_code}


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_data(rx: Prescription, signed_at: dt.datetime) -> dict[str, Any]:
    """Every DEA-required datum of the prescription (1311.120(b)(9)) plus ids: what is signed."""
    return {**content_data(rx), "signed_at": _utc(signed_at)}


def content_data(rx: Prescription) -> dict[str, Any]:
    """The canonical form without the signing time: what the review shows and the ceremony
    binds (DEA-19). `canonical_data` adds only `signed_at` to it."""
    patient = rx.patient
    prescriber = rx.prescriber
    medication = rx.medication
    registration = rx.dea_registration
    pharmacy = rx.pharmacy
    return {
        "version": CANONICAL_VERSION,
        "prescription_id": rx.pk,
        "prescription_uuid": str(rx.uuid),
        "written_date": rx.written_date.isoformat(),
        "patient": {
            "id": patient.pk,
            "full_name": patient.full_name,
            "date_of_birth": patient.date_of_birth.isoformat(),
            "address": _address(
                patient.address_line1, patient.address_line2, patient.city, patient.state, patient.postal_code
            ),
        },
        "medication": {
            "id": medication.pk,
            "name": medication.name,
            "strength": medication.strength,
            "dosage_form": medication.dosage_form,
            "dea_schedule": medication.dea_schedule,
        },
        "quantity": rx.quantity,
        "quantity_unit": rx.quantity_unit,
        "directions": rx.directions,
        "refills": rx.refills,
        "earliest_fill_date": rx.earliest_fill_date.isoformat() if rx.earliest_fill_date else None,
        "prescriber": {
            "id": prescriber.pk,
            "name": prescriber.name_for_erx,
            "npi": prescriber.npi,
            "address": _address(
                prescriber.address_line1,
                prescriber.address_line2,
                prescriber.city,
                prescriber.state,
                prescriber.postal_code,
            ),
            "dea_registration_id": registration.pk if registration else None,
            "dea_number": registration.number if registration else None,
        },
        "pharmacy": {"id": pharmacy.pk, "ncpdp_id": pharmacy.ncpdp_id, "name": pharmacy.name},
    }


def canonical_bytes(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def digest(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def content_digest(rx: Prescription) -> str:
    """SHA-256 of the prescription's canonical content (DEA-19): equal digests, equal content."""
    return digest(canonical_bytes(content_data(rx)))
