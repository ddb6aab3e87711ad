"""The canonical form of a prescription that the application's Ed25519 key signs.

The key is loaded in audit.keys (it also signs the audit trail's checkpoints); see
docs/eprescribe.md, "Keys and rotation".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eprescribe.models import Prescription

# Version 2 (issue 10) adds the practice the prescription is written in (its name, address,
# phone and organisation NPI: the prescriber's practice location). A payload keeps the
# version it was signed with, and verification rebuilds that version, so every signature
# made under version 1 still verifies.
CANONICAL_VERSION = 2
CANONICAL_VERSIONS = (1, 2)


# --- canonical form (DEA-06, DEA-11) ------------------------------------------
def _address(line1: str, line2: str, city: str, state: str, postal_code: str) -> dict[str, str]:
    return {"line1": line1, "line2": line2, "city": city, "state": state, "postal_code": postal_code}


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_data(rx: Prescription, signed_at: dt.datetime, version: int = CANONICAL_VERSION) -> dict[str, Any]:
    """Every DEA-required datum of the prescription (1311.120(b)(9)) plus ids: what is signed."""
    return {**content_data(rx, version), "signed_at": _utc(signed_at)}


def content_data(rx: Prescription, version: int = CANONICAL_VERSION) -> dict[str, Any]:
    """The canonical form without the signing time: what the review shows and the ceremony
    binds (DEA-19). `canonical_data` adds only `signed_at` to it. `version` 1 is the form
    before practices (kept to verify signatures made with it)."""
    if version not in CANONICAL_VERSIONS:
        raise ValueError(f"Unknown canonical version {version}")
    patient = rx.patient
    prescriber = rx.prescriber
    medication = rx.medication
    registration = rx.dea_registration
    pharmacy = rx.pharmacy
    data: dict[str, Any] = {
        "version": version,
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
    if version >= 2:
        practice = rx.practice
        data["practice"] = {
            "id": practice.pk,
            "name": practice.name,
            "address": _address(
                practice.address_line1, practice.address_line2, practice.city, practice.state, practice.postal_code
            ),
            "phone": practice.phone,
            "npi": practice.npi,
        }
    return data


def canonical_bytes(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def digest(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def content_digest(rx: Prescription) -> str:
    """SHA-256 of the prescription's canonical content (DEA-19): equal digests, equal content."""
    return digest(canonical_bytes(content_data(rx)))
