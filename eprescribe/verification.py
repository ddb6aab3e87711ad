"""Re-checking signed prescriptions (`manage.py verify_signatures`, DEA-11/DEA-12)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from eprescribe import signing
from eprescribe.models import Prescription


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


def check_prescription(rx: Prescription, public_keys: dict[str, Ed25519PublicKey]) -> SignatureCheck:
    result = SignatureCheck(rx.pk)
    payload = rx.canonical_payload.encode()
    if signing.digest(payload) != rx.digest_sha256:
        result.problems.append("the SHA-256 digest does not match the stored canonical payload")
    public = public_keys.get(rx.signing_key_id)
    if public is None:
        result.problems.append(f"signing key {rx.signing_key_id or '(none)'} is not a trusted key")
    elif not signing.verify(public, payload, rx.signature):
        result.problems.append("the Ed25519 signature does not verify")
    assert rx.signed_at is not None
    current = signing.canonical_bytes(signing.canonical_data(rx, rx.signed_at))
    if current != payload:
        try:
            stored = json.loads(payload)
        except ValueError:
            stored = {}
        differing = _differing_keys(stored, json.loads(current))
        result.problems.append(
            "the prescription's current data differs from what was signed"
            + (f" ({', '.join(differing)})" if differing else "")
        )
    return result


def check_all() -> Iterator[SignatureCheck]:
    public_keys = signing.trusted_public_keys()
    queryset = (
        Prescription.objects.filter(signed_at__isnull=False)
        .select_related("patient", "prescriber__user", "medication", "pharmacy", "dea_registration")
        .order_by("pk")
    )
    for rx in queryset.iterator(chunk_size=500):
        yield check_prescription(rx, public_keys)
