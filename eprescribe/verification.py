"""Re-checking signed prescriptions (`manage.py verify_signatures`, DEA-11/DEA-12/DEA-19).

Every prescription that shows any sign of having been signed is checked, whatever its
`signed_at` says: a signature, a canonical payload, a digest or a key id; a signed,
transmitted or transmission-failed state; a transmission time; or an "eprescribe.signed"
event in the audit trail (which also covers a prescription cancelled after signing). A row
whose state and signature disagree is reported, as is any signature that does not verify or
any data that differs from what was signed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.db.models import Q, QuerySet

from audit import keys
from audit.models import AuditEvent
from eprescribe import signing
from eprescribe.models import Prescription, PrescriptionState

SIGNED_STATES = (PrescriptionState.SIGNED, PrescriptionState.TRANSMITTED, PrescriptionState.TRANSMISSION_FAILED)
UNSIGNED_STATES = (PrescriptionState.DRAFT, PrescriptionState.READY)
SIGNED_ACTION = "eprescribe.signed"
CHUNK = 500


@dataclass
class SignatureCheck:
    prescription_id: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _differing_keys(stored: dict[str, object], current: dict[str, object], prefix: str = "") -> list[str]:
    keys: list[str] = []
    for key in sorted(set(stored) | set(current)):
        a, b = stored.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            keys.extend(_differing_keys(a, b, f"{prefix}{key}."))
        elif a != b:
            keys.append(f"{prefix}{key}")
    return keys


def _carries_signature(rx: Prescription) -> bool:
    return bool(rx.signature or rx.canonical_payload or rx.digest_sha256 or rx.signing_key_id)


def _signed_at_of_payload(stored: dict[str, object]) -> dt.datetime | None:
    value = stored.get("signed_at")
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def _state_problems(rx: Prescription, *, signed_per_audit: bool) -> list[str]:
    """Where the row's state, signing time and signature disagree."""
    problems: list[str] = []
    carries = _carries_signature(rx)
    if not carries:
        if rx.state in SIGNED_STATES:
            problems.append(f"its state is {rx.state} but it carries no signature")
        if rx.signed_at is not None:
            problems.append("signed_at is set but it carries no signature")
        if rx.transmitted_at is not None:
            problems.append("it was transmitted but carries no signature")
        if signed_per_audit:
            problems.append("the audit trail records its signing but it carries no signature")
        return problems
    if rx.signed_at is None:
        problems.append("it carries a signature but signed_at is empty")
    if rx.state in UNSIGNED_STATES:
        problems.append(f"it carries a signature but its state is {rx.state}")
    return problems


def check_prescription(
    rx: Prescription, public_keys: dict[str, Ed25519PublicKey], *, signed_per_audit: bool = False
) -> SignatureCheck:
    result = SignatureCheck(rx.pk, _state_problems(rx, signed_per_audit=signed_per_audit))
    if not _carries_signature(rx):
        return result
    payload = rx.canonical_payload.encode()
    if signing.digest(payload) != rx.digest_sha256:
        result.problems.append("the SHA-256 digest does not match the stored canonical payload")
    public = public_keys.get(rx.signing_key_id)
    if public is None:
        result.problems.append(f"signing key {rx.signing_key_id or '(none)'} is not a trusted key")
    elif not keys.verify(public, payload, rx.signature):
        result.problems.append("the Ed25519 signature does not verify")
    try:
        stored = json.loads(payload)
    except ValueError:
        stored = {}
    if not isinstance(stored, dict):
        stored = {}
    signed_at = rx.signed_at or _signed_at_of_payload(stored)
    if signed_at is None:
        result.problems.append("the signing time cannot be read from the row or the signed payload")
        return result
    version = stored.get("version", signing.CANONICAL_VERSION)
    if version not in signing.CANONICAL_VERSIONS:
        result.problems.append(f"the signed payload names an unknown canonical version ({version!r})")
        return result
    current = signing.canonical_bytes(signing.canonical_data(rx, signed_at, version))
    if current != payload:
        differing = _differing_keys(stored, json.loads(current))
        result.problems.append(
            "the prescription's current data differs from what was signed"
            + (f" ({', '.join(differing)})" if differing else "")
        )
    return result


def _shows_signing() -> Q:
    """Any sign that a row was signed (the row's own columns)."""
    return (
        Q(signed_at__isnull=False)
        | ~Q(signature="")
        | ~Q(canonical_payload="")
        | ~Q(digest_sha256="")
        | ~Q(signing_key_id="")
        | Q(state__in=SIGNED_STATES)
        | Q(transmitted_at__isnull=False)
    )


def _base() -> QuerySet[Prescription]:
    return Prescription.objects.select_related(
        "practice", "patient", "prescriber__user", "medication", "pharmacy", "dea_registration"
    ).order_by("pk")


def _signed_per_audit() -> set[int]:
    ids = AuditEvent.objects.filter(action=SIGNED_ACTION, target_type="eprescribe.prescription").values_list(
        "target_id", flat=True
    )
    return {int(pk) for pk in ids.iterator(chunk_size=2000) if pk.isdigit()}


def check_all() -> Iterator[SignatureCheck]:
    public_keys = keys.trusted_public_keys()
    audited = _signed_per_audit()
    seen: set[int] = set()
    for rx in _base().filter(_shows_signing()).iterator(chunk_size=CHUNK):
        seen.add(rx.pk)
        yield check_prescription(rx, public_keys, signed_per_audit=rx.pk in audited)
    # Signed according to the audit trail, yet nothing on the row says so any more.
    rest = sorted(audited - seen)
    for start in range(0, len(rest), CHUNK):
        for rx in _base().filter(pk__in=rest[start : start + CHUNK]):
            yield check_prescription(rx, public_keys, signed_per_audit=True)
