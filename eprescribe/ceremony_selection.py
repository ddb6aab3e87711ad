"""Which prescriptions one signing ceremony covers, and whether they may be signed now.

Business rules of the ceremony (views stay thin): a selection is one patient's READY,
controlled prescriptions written by the signed-in registrant in the practice they work in
(DEA-05, DEA-08, ASVS-11); signing is refused while EPCS is blocked for the prescriber in that
practice (its permission, and the DEA registration that permission allows) or a required
function is off (DEA-16).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import DatabaseError
from django.utils import timezone

from audit.keys import SigningKeyUnavailable, signing_key
from audit.models import AuditEvent
from eprescribe.ceremony_binding import practice_address, provider_address
from eprescribe.models import Prescription, PrescriptionState
from providers.epcs import NOT_READ, epcs_block_reason
from providers.models import EpcsPermission, Practice, Provider

PURPOSE = "epcs_sign"
MAX_BATCH = 50


class SelectionError(Exception):
    """The selection cannot be signed; the message is for the clinician."""

    def __init__(self, message: str, *, not_found: bool = False) -> None:
        super().__init__(message)
        self.not_found = not_found


def parse_ids(raw: Iterable[str]) -> list[int]:
    ids: list[int] = []
    for value in raw:
        value = str(value).strip()
        if not value.isdigit() or len(value) > 18:
            raise SelectionError("The selection contains something that is not a prescription.")
        if int(value) not in ids:
            ids.append(int(value))
    if not ids:
        raise SelectionError("Select at least one prescription to sign.")
    if len(ids) > MAX_BATCH:
        raise SelectionError(f"Sign at most {MAX_BATCH} prescriptions at a time.")
    return ids


def load_selection(provider: Provider, practice: Practice, ids: list[int]) -> list[Prescription]:
    """The provider's prescriptions of this practice with these ids, checked for signing;
    SelectionError if not.

    Another prescriber's or another practice's prescription is reported as not found
    (ASVS-06, ASVS-11): its existence is not revealed.
    """
    queryset = Prescription.objects.filter(pk__in=ids, prescriber=provider, practice=practice).select_related(
        "practice", "patient", "medication", "dea_registration", "pharmacy", "prescriber__user"
    )
    prescriptions = sorted(queryset, key=lambda p: ids.index(p.pk))
    if len(prescriptions) != len(ids):
        raise SelectionError("One or more of these prescriptions were not found.", not_found=True)
    check_selection(provider, practice, prescriptions)
    return prescriptions


def check_selection(
    provider: Provider,
    practice: Practice,
    prescriptions: list[Prescription],
    *,
    permission: EpcsPermission | None = NOT_READ,
) -> None:
    """SelectionError unless these prescriptions may be signed now in `practice`. `permission`:
    the provider's EPCS permission in `practice` when the caller holds it (the 2FA completion
    reads it row-locked), else it is read here."""
    moved = [p for p in prescriptions if p.practice_id != practice.pk or p.patient.practice_id != practice.pk]
    if moved:
        raise SelectionError(f"{moved[0].medication} is no longer a prescription of {practice.name}.")
    if len({p.patient_id for p in prescriptions}) > 1:
        raise SelectionError(
            "One signing covers one patient's prescriptions. Select prescriptions of a single patient."
        )
    for prescription in prescriptions:
        if not prescription.medication.is_controlled:
            raise SelectionError(f"{prescription.medication} is not a controlled substance.")
        if prescription.state != PrescriptionState.READY:
            raise SelectionError(
                f"{prescription.medication} is {prescription.get_state_display().lower()}, not ready for signing."
            )
        if prescription.dea_registration is None:
            raise SelectionError(f"{prescription.medication} has no DEA registration chosen.")
    registrations = {p.dea_registration_id: p.dea_registration for p in prescriptions}
    for registration in registrations.values():
        reason = epcs_block_reason(provider, practice, registration, permission=permission)
        if reason:
            raise SelectionError(reason)


def unavailable_reason(*, audit_written: bool = False) -> str | None:
    """Why signing cannot start because a required function is off (DEA-16), or None.

    The signing key must load and the audit trail must accept a read; ID.me (2FA) is found
    unreachable when the challenge starts, and sign_prescriptions checks again.
    `audit_written`: the caller writes to the audit trail in its own transaction and signs
    nothing if that fails (the 2FA completion: mfa's approval event before it, the signing's
    events with the signatures), which proves more than a read: the trail is not read here.
    """
    try:
        signing_key()
    except SigningKeyUnavailable:
        return "The prescription signing key is unavailable, so nothing can be signed now. Tell your administrator."
    if audit_written:
        return None
    try:
        AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
    except DatabaseError:
        return "The audit trail is unavailable, so nothing can be signed now. Tell your administrator."
    return None


@dataclass(frozen=True)
class ReviewLine:
    """One prescription as the DEA review shows it (DEA-06)."""

    pk: int
    written_date: dt.date
    drug_name: str
    strength: str
    dosage_form: str
    schedule: str
    quantity: str
    directions: str
    refills: int
    earliest_fill: dt.date | None
    pharmacy: str
    dea_number: str
    state: str


@dataclass(frozen=True)
class Review:
    date: dt.date
    patient_name: str
    patient_birth_date: dt.date
    patient_address: str
    prescriber_name: str
    prescriber_address: str
    practice_name: str
    practice_address: str
    dea_numbers: list[str]
    lines: list[ReviewLine]


def build_review(provider: Provider, practice: Practice, prescriptions: list[Prescription]) -> Review:
    """What the DEA review shows (DEA-06), with the practice the prescriptions are written in
    (its name and address: the prescriber's practice location)."""
    first = prescriptions[0]
    lines = [
        ReviewLine(
            pk=p.pk,
            written_date=p.written_date,
            drug_name=p.medication.name,
            strength=p.medication.strength,
            dosage_form=p.medication.dosage_form,
            schedule=p.medication.get_dea_schedule_display(),
            quantity=f"{p.quantity} {p.quantity_unit}".strip(),
            directions=p.directions,
            refills=p.refills,
            earliest_fill=p.earliest_fill_date,
            pharmacy=str(p.pharmacy),
            dea_number=p.dea_registration.number if p.dea_registration else "",
            state=p.get_state_display(),
        )
        for p in prescriptions
    ]
    return Review(
        date=timezone.localdate(),
        patient_name=first.patient.full_name,
        patient_birth_date=first.patient.date_of_birth,
        patient_address=", ".join(first.patient.address_lines),
        prescriber_name=provider.name_for_erx,
        prescriber_address=provider_address(provider),
        practice_name=practice.name,
        practice_address=practice_address(practice),
        dea_numbers=sorted({line.dea_number for line in lines if line.dea_number}),
        lines=lines,
    )


PUSH_MESSAGE_LIMIT = 1000  # the partner API's limit on a push message (docs/idme-api.md)


def push_summary(prescriptions: list[Prescription]) -> tuple[str, str]:
    """The push's title and message: what is being signed, for the phone's screen (DEA-19):
    the patient, how many prescriptions and the drug of each."""
    count = len(prescriptions)
    noun = "prescription" if count == 1 else "prescriptions"
    title = f"Sign {count} controlled-substance {noun}"
    patient = prescriptions[0].patient
    head = f"Patient: {patient.full_name} (born {patient.date_of_birth:%m/%d/%Y}). {count} {noun}: "
    message = head + "; ".join(f"{p.medication} x {p.quantity} {p.quantity_unit}" for p in prescriptions) + "."
    if len(message) > PUSH_MESSAGE_LIMIT:  # a long batch: the drugs without quantities
        message = head + "; ".join(str(p.medication) for p in prescriptions) + "."
    if len(message) > PUSH_MESSAGE_LIMIT:
        message = message[: PUSH_MESSAGE_LIMIT - 4].rstrip() + " ..."
    return title, message
