"""Business rules for prescriptions: the only module that changes them.

States: draft -> ready -> signed -> transmitted | transmission_failed, and cancelled.
- DEA-05: agents may prepare (create, edit, mark ready); only the registrant signs.
- ASVS-11: everything happens inside one practice, passed explicitly (`practice`): a
  prescription, its patient, its prescriber (a prescriber member), the agent who prepares it
  (an agent member) and the EPCS permission that allows signing it are all of that practice.
- DEA-07: a prescription is marked ready; a change to a DEA-required field clears the mark.
- DEA-08/DEA-11: one signing covers one patient's ready controlled prescriptions, signed in
  one transaction with the challenge that approved it.
- DEA-12: a signed prescription is never altered (cancel and re-prescribe); a PostgreSQL
  trigger refuses UPDATEs of its signed content as well.
- DEA-16: signing is refused when the audit trail, the 2FA proof or the signing key is not
  available.
- DEA-18: C-II carries no refills, C-III..V at most 5.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.db.models import Field, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

import audit
from audit import keys
from audit.models import Outcome
from eprescribe import ceremony_binding, signing
from eprescribe.models import (
    DEA_REQUIRED_FIELDS,
    CeremonyEnd,
    DeaSchedule,
    Medication,
    Patient,
    Pharmacy,
    Prescription,
    PrescriptionState,
)
from mfa.models import ChallengeStatus, VerificationChallenge
from providers.epcs import epcs_block_reason, permission_for
from providers.models import DeaRegistration, EpcsPermission, Practice, PracticeRole, Provider, User
from providers.roles import has_role

logger = logging.getLogger(__name__)

MAX_REFILLS_C3_TO_C5 = 5
SIGN_PURPOSE = "epcs_sign"
EDITABLE_FIELDS = (*DEA_REQUIRED_FIELDS,)
# What a person fills in, on the pages and in the API: the DEA-required fields except the
# prescriber (chosen once, never changed) and the written date (set by the EHR).
CONTENT_FIELDS = tuple(name for name in DEA_REQUIRED_FIELDS if name not in ("prescriber", "written_date"))


class PrescriptionError(ValueError):
    """A request the rules refuse; the message is for the person."""


class SigningRefused(PrescriptionError):
    """Nothing was signed; the message says why (shown on the ceremony page)."""


class ContentChanged(SigningRefused):
    """A prescription's canonical content differs from what the review showed (DEA-19)."""

    def __init__(self, prescription_ids: list[int]) -> None:
        self.prescription_ids = prescription_ids
        listed = ", ".join(str(pk) for pk in prescription_ids)
        super().__init__(f"Prescription {listed} changed after the review, so nothing was signed.")


# --- who sees what (ASVS-06, ASVS-11) -------------------------------------------
def patients_of(practice: Practice) -> QuerySet[Patient]:
    """The practice's patients: the only ones its pages, forms and API offer."""
    return Patient.objects.filter(practice=practice)


def prescriptions_for(user: User, practice: Practice) -> QuerySet[Prescription]:
    """The prescriptions a user may see in a practice: their own as prescriber, and those
    they prepared, of that practice only (another practice's are never listed nor found)."""
    return (
        Prescription.objects.filter(practice=practice)
        .filter(Q(prescriber__user=user) | Q(created_by=user))
        .select_related(
            "practice", "patient", "prescriber__user", "medication", "pharmacy", "dea_registration", "created_by"
        )
        .distinct()
    )


def is_prescriber(user: User, rx: Prescription) -> bool:
    return rx.prescriber.user_id == user.pk


class PrepareRefusal(StrEnum):
    """Why someone may not prepare a prescription for a prescriber in a practice (DEA-05)."""

    NOT_A_PRESCRIBER = "not_a_prescriber"
    NOT_YOURS = "not_yours"


PREPARE_MESSAGES = {
    PrepareRefusal.NOT_A_PRESCRIBER: "The prescriber is not a prescriber of this practice.",
    PrepareRefusal.NOT_YOURS: (
        "You may prepare prescriptions only for yourself, or, as an agent of this practice, for its prescribers."
    ),
}


def preparation_refusal(user: User, prescriber: Provider, practice: Practice) -> PrepareRefusal | None:
    """DEA-05 and ASVS-11 in one place: who may prepare (create, edit, mark ready, cancel
    unsigned) a prescription for `prescriber` in `practice`.

    The prescriber must be a prescriber member of the practice; the person preparing is that
    prescriber, or an agent member of the same practice. Staff and superuser flags give no
    right here (they matter only in Django admin). Only the prescriber signs (sign_prescriptions).
    """
    if not has_role(prescriber.user, practice, PracticeRole.PRESCRIBER):
        return PrepareRefusal.NOT_A_PRESCRIBER
    if prescriber.user_id == user.pk:
        return None
    if has_role(user, practice, PracticeRole.AGENT):
        return None
    return PrepareRefusal.NOT_YOURS


def may_prepare_for(user: User, prescriber: Provider, practice: Practice) -> bool:
    return preparation_refusal(user, prescriber, practice) is None


def may_prepare_any(user: User, practice: Practice) -> bool:
    """Whether the person prepares prescriptions in this practice at all (a prescriber or an agent)."""
    return has_role(user, practice, PracticeRole.PRESCRIBER, PracticeRole.AGENT)


def preparable_prescribers(user: User, practice: Practice) -> QuerySet[Provider]:
    """The prescribers the person may prepare for in this practice: every prescriber of the
    practice for an agent, else only themselves (when a prescriber of it)."""
    queryset = Provider.objects.filter(
        user__memberships__practice=practice, user__memberships__role=PracticeRole.PRESCRIBER
    ).distinct()
    if has_role(user, practice, PracticeRole.AGENT):
        return queryset
    return queryset.filter(user=user)


# --- rules ----------------------------------------------------------------------
def refill_error(medication: Medication, refills: int | None) -> str | None:
    """DEA-18 in one sentence, or None when the refills are allowed."""
    if refills is None:
        return None
    if medication.dea_schedule == DeaSchedule.CII and refills > 0:
        return "Schedule II prescriptions cannot have refills."
    if medication.is_controlled and refills > MAX_REFILLS_C3_TO_C5:
        return f"Schedule III to V prescriptions allow at most {MAX_REFILLS_C3_TO_C5} refills."
    return None


def _schedule_allowed(registration: DeaRegistration, schedule: str) -> bool:
    return {
        DeaSchedule.CII: registration.schedule_2,
        DeaSchedule.CIII: registration.schedule_3,
        DeaSchedule.CIV: registration.schedule_4,
        DeaSchedule.CV: registration.schedule_5,
    }.get(DeaSchedule(schedule), True)


def validate_content(rx: Prescription) -> None:
    """Field and business checks of a draft; raises ValidationError keyed by field."""
    errors: dict[str, list[str]] = {}
    try:
        rx.full_clean(exclude=["created_by", "prescriber", "practice"], validate_unique=False)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(field, []).extend(messages)
    medication = rx.medication if rx.medication_id else None
    if medication is not None:
        message = refill_error(medication, rx.refills)
        if message and "refills" not in errors:
            errors.setdefault("refills", []).append(message)
    if rx.patient_id is not None and rx.practice_id is not None and rx.patient.practice_id != rx.practice_id:
        errors.setdefault("patient", []).append("Choose a patient of this practice.")
    registration = rx.dea_registration if rx.dea_registration_id else None
    if registration is not None and registration.provider_id != rx.prescriber_id:
        errors.setdefault("dea_registration", []).append("Choose one of the prescriber's own DEA registrations.")
    elif registration is not None and rx.practice_id is not None:
        permission = permission_for(rx.prescriber, rx.practice)
        allowed = permission.registration if permission is not None else None
        if allowed is not None and allowed.pk != registration.pk:
            errors.setdefault("dea_registration", []).append(
                f"In this practice the prescriber's EPCS permission is for DEA registration "
                f"{allowed.number}; choose that registration."
            )
    if (
        medication is not None
        and medication.is_controlled
        and registration is not None
        and not _schedule_allowed(registration, medication.dea_schedule)
    ):
        errors.setdefault("dea_registration", []).append(
            f"This DEA registration does not cover Schedule {medication.schedule_roman}."
        )
    if errors:
        raise ValidationError(errors)


def readiness_errors(rx: Prescription) -> list[str]:
    """What stops a draft from being marked ready (complete DEA-required data)."""
    problems: list[str] = []
    try:
        validate_content(rx)
    except ValidationError as exc:
        problems.extend(m for messages in exc.message_dict.values() for m in messages)
    if rx.medication.is_controlled:
        if rx.dea_registration_id is None:
            problems.append("Choose the DEA registration to prescribe this controlled substance under.")
        if not rx.pharmacy.accepts_epcs:
            problems.append("This pharmacy does not accept electronic prescriptions for controlled substances.")
    return problems


# --- create, edit, ready, cancel -------------------------------------------------
def create_prescription(
    *,
    actor: User,
    prescriber: Provider,
    practice: Practice,
    fields: dict[str, Any],
    request: HttpRequest | None = None,
) -> Prescription:
    """A new draft in `practice`, prepared by `actor` for `prescriber` (preparation_refusal)."""
    refusal = preparation_refusal(actor, prescriber, practice)
    if refusal is not None:
        raise PrescriptionError(PREPARE_MESSAGES[refusal])
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown or "prescriber" in fields:
        raise PrescriptionError(
            f"These fields cannot be set: {', '.join(sorted(unknown | ({'prescriber'} & set(fields))))}"
        )
    rx = Prescription(practice=practice, prescriber=prescriber, created_by=actor, **fields)
    if not rx.written_date:
        rx.written_date = timezone.localdate()
    validate_content(rx)
    with transaction.atomic():
        rx.save()
        audit.record(
            "eprescribe.prescription_created",
            actor=actor,
            target=rx,
            chain=practice,
            request=request,
            details={"patient_id": rx.patient_id, "medication_id": rx.medication_id, "prescriber_id": prescriber.pk},
        )
    return rx


def _lock(rx: Prescription, practice: Practice) -> Prescription:
    """The prescription, row-locked, if it is of `practice`; otherwise "not found"."""
    locked = (
        Prescription.objects.select_for_update(of=("self",))
        .select_related("practice", "patient", "prescriber__user", "medication", "pharmacy", "dea_registration")
        .filter(pk=rx.pk, practice=practice)
        .first()
    )
    if locked is None:
        raise PrescriptionError("No such prescription in this practice.")
    return locked


def _check_may_change(actor: User, rx: Prescription) -> None:
    """The prescriber, or the agent who prepared it, while they may still prepare for the
    prescriber in the prescription's practice (a membership ended takes the right away)."""
    if not (is_prescriber(actor, rx) or rx.created_by_id == actor.pk):
        raise PrescriptionError("You cannot change this prescription.")
    refusal = preparation_refusal(actor, rx.prescriber, rx.practice)
    if refusal is not None:
        raise PrescriptionError(PREPARE_MESSAGES[refusal])


def update_prescription(
    prescription: Prescription,
    *,
    actor: User,
    practice: Practice,
    changes: dict[str, Any],
    request: HttpRequest | None = None,
) -> Prescription:
    """Change a draft or ready prescription; a changed DEA-required field clears "ready"."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown or "prescriber" in changes:
        raise PrescriptionError(
            f"These fields cannot be changed: {', '.join(sorted(unknown | ({'prescriber'} & set(changes))))}"
        )
    with transaction.atomic():
        rx = _lock(prescription, practice)
        _check_may_change(actor, rx)
        locked_state = rx.is_signed or rx.state not in (PrescriptionState.DRAFT, PrescriptionState.READY)
        if not locked_state:
            return _apply_changes(rx, actor, changes, request)
    # Refused: recorded outside the (rolled back) transaction so the refusal is kept.
    audit.record(
        "eprescribe.alter_refused",
        actor=actor,
        target=rx,
        chain=rx.practice_id,
        outcome=Outcome.DENIED,
        request=request,
        details={"state": rx.state, "fields": sorted(changes)},
    )
    raise PrescriptionError("A signed or cancelled prescription cannot be changed. Cancel it and write a new one.")


def _apply_changes(rx: Prescription, actor: User, changes: dict[str, Any], request: HttpRequest | None) -> Prescription:
    changed = [name for name, value in changes.items() if _field_value(rx, name) != _value_key(value)]
    if not changed:
        return rx
    # DEA-19: a review that showed this prescription no longer shows what would be signed.
    ceremony_binding.end_open_ceremonies_for([rx.pk], CeremonyEnd.PRESCRIPTION_CHANGED, actor=actor, request=request)
    for name in changed:
        setattr(rx, name, changes[name])
    validate_content(rx)
    was_ready = rx.state == PrescriptionState.READY
    if was_ready:
        rx.state = PrescriptionState.DRAFT
        rx.ready_at = None
        rx.ready_by = None
    rx.save()
    audit.record(
        "eprescribe.prescription_altered",
        actor=actor,
        target=rx,
        chain=rx.practice_id,
        request=request,
        details={"fields": changed},
    )
    if was_ready:
        audit.record(
            "eprescribe.ready_cleared",
            actor=actor,
            target=rx,
            chain=rx.practice_id,
            request=request,
            details={"fields": changed, "reason": "DEA-required field changed"},
        )
    return rx


def _value_key(value: Any) -> Any:
    return value.pk if hasattr(value, "_meta") else value


def _field_value(rx: Prescription, name: str) -> Any:
    field = Prescription._meta.get_field(name)
    if field.is_relation:
        return getattr(rx, f"{name}_id")
    return getattr(rx, name)


def mark_ready(
    prescription: Prescription, actor: User, *, practice: Practice, request: HttpRequest | None = None
) -> Prescription:
    """DEA-07: the prescriber or the agent who prepared it marks it ready for signing."""
    with transaction.atomic():
        rx = _lock(prescription, practice)
        _check_may_change(actor, rx)
        if rx.state == PrescriptionState.READY:
            return rx
        if rx.state != PrescriptionState.DRAFT:
            raise PrescriptionError(f"Only a draft can be marked ready; this one is {rx.get_state_display().lower()}.")
        problems = readiness_errors(rx)
        if problems:
            raise PrescriptionError(" ".join(problems))
        rx.state = PrescriptionState.READY
        rx.ready_at = timezone.now()
        rx.ready_by = actor
        rx.save(update_fields=["state", "ready_at", "ready_by", "updated_at"])
        audit.record("eprescribe.marked_ready", actor=actor, target=rx, chain=rx.practice_id, request=request)
    return rx


def cancel_prescription(
    prescription: Prescription,
    *,
    actor: User,
    practice: Practice,
    reason: str = "",
    request: HttpRequest | None = None,
) -> Prescription:
    """Cancel: unsigned ones by whoever may change them; signed ones by the prescriber only."""
    with transaction.atomic():
        rx = _lock(prescription, practice)
        _check_may_change(actor, rx)
        if rx.state == PrescriptionState.CANCELLED:
            return rx
        if rx.is_signed and not is_prescriber(actor, rx):
            raise PrescriptionError("Only the prescriber can cancel a signed prescription.")
        previous = rx.state
        ceremony_binding.end_open_ceremonies_for(
            [rx.pk], CeremonyEnd.PRESCRIPTION_CANCELLED, actor=actor, request=request
        )
        rx.state = PrescriptionState.CANCELLED
        rx.cancelled_at = timezone.now()
        rx.cancel_reason = reason.strip()[:300]
        rx.save(update_fields=["state", "cancelled_at", "cancel_reason", "updated_at"])
        audit.record(
            "eprescribe.cancelled",
            actor=actor,
            target=rx,
            chain=rx.practice_id,
            request=request,
            details={"previous_state": previous, "reason": rx.cancel_reason, "was_signed": rx.is_signed},
        )
    return rx


# --- signing (DEA-08, DEA-11, DEA-16) ------------------------------------------------
TWO_FACTOR_MISSING = "Two-factor authentication was not completed, so nothing was signed."
AUDIT_UNAVAILABLE = "The audit trail is unavailable, so nothing was signed. Try again later."


def _two_factor_proof(challenge_id: str) -> VerificationChallenge | None:
    try:
        return VerificationChallenge.objects.get(pk=challenge_id)
    except (VerificationChallenge.DoesNotExist, ValidationError, ValueError):
        return None


def _check_two_factor(provider: Provider, challenge: VerificationChallenge | None) -> None:
    if (
        challenge is None
        or challenge.provider_id != provider.pk
        or challenge.purpose != SIGN_PURPOSE
        or challenge.status != ChallengeStatus.APPROVED
    ):
        raise SigningRefused(TWO_FACTOR_MISSING)


def _record_or_refuse(entries: list[tuple[str, dict[str, Any]]]) -> None:
    """DEA-16: the signing's audit events, in the signing transaction (one INSERT); if the trail
    refuses them, the signing refuses and its transaction is rolled back: nothing is signed."""
    try:
        # No savepoint: a failure here must roll back the whole signing anyway.
        with transaction.atomic(savepoint=False):
            audit.record_many(entries, at_once=True)
    except DatabaseError as exc:
        logger.error("Audit trail unavailable, signing refused: %s", exc)
        raise SigningRefused(AUDIT_UNAVAILABLE) from exc


def _signing_key() -> keys.SigningKey:
    try:
        return keys.signing_key()
    except keys.SigningKeyUnavailable as exc:
        logger.error("%s", exc)
        raise SigningRefused("The signing key is unavailable, so nothing was signed.") from exc


def lock_epcs_permission(provider: Provider, practice: Practice) -> EpcsPermission | None:
    """The provider's EPCS permission in `practice`, row-locked in the signing transaction: a
    revocation committed before is seen, and one that comes later waits for the signing to commit."""
    return (
        EpcsPermission.objects.select_for_update(of=("self",))
        .select_related("registration")
        .filter(provider=provider, practice=practice)
        .first()
    )


@dataclass(frozen=True)
class SignedItem:
    prescription_id: int
    digest_sha256: str
    signing_key_id: str


def sign_prescriptions(
    *,
    provider: Provider,
    practice: Practice,
    prescriptions: Sequence[Prescription] | Iterable[Prescription],
    device_label: str,
    challenge_id: str | uuid.UUID,
    reviewed_digests: Mapping[int, str] | None = None,
) -> list[Prescription]:
    """Sign one patient's ready controlled prescriptions in one transaction (DEA-11).

    With `reviewed_digests` (prescription id -> content digest the review showed, DEA-19),
    any prescription whose canonical content differs now, under the row locks, refuses the
    whole batch with ContentChanged (the signing ceremony always passes them).

    Refuses (SigningRefused, nothing signed) unless every prescription is of `practice`,
    ready, controlled, of one patient of that practice, written by this provider (a prescriber
    of the practice) under one of their DEA registrations, and the provider's EPCS permission
    in that practice allows that registration (ASVS-11); and unless the audit trail, the approved 2FA challenge
    and the signing key are available (DEA-16). Transmission is queued after commit.
    """
    ids = sorted({rx.pk for rx in prescriptions})
    if not ids:
        raise SigningRefused("Select at least one prescription to sign.")
    key = _signing_key()
    with transaction.atomic():
        locked = list(
            Prescription.objects.select_for_update(of=("self",))
            .select_related("patient", "prescriber__user", "medication", "pharmacy", "dea_registration")
            .filter(pk__in=ids)
            .order_by("pk")
        )
        if any(rx.practice_id != practice.pk for rx in locked):
            raise SigningRefused("A selected prescription is not of this practice, so nothing was signed.")
        if len(locked) != len(ids):
            raise SigningRefused("A selected prescription no longer exists, so nothing was signed.")
        if reviewed_digests is not None:
            _check_reviewed(locked, reviewed_digests)
        _check_batch(provider, practice, locked, lock_epcs_permission(provider, practice))
        _check_two_factor(provider, _two_factor_proof(str(challenge_id)))
        _sign_checked(provider, practice, locked, key, device_label=device_label, challenge_id=challenge_id)
    return locked


def sign_reviewed(
    *,
    provider: Provider,
    practice: Practice,
    locked: Sequence[Prescription],
    reviewed_digests: Mapping[int, str],
    permission: EpcsPermission | None,
    challenge: VerificationChallenge,
    also_record: Sequence[tuple[str, dict[str, Any]]] = (),
) -> list[Prescription]:
    """sign_prescriptions for the 2FA completion of a signing ceremony, inside the transaction
    that approves `challenge` (the caller holds it row-locked and approved; its device label
    and id go into the signatures), with what that transaction has already read under its
    locks: `locked`, the prescriptions row-locked in pk order with their patient, medication,
    pharmacy, DEA registration, practice and prescriber (ceremony_binding.lock_for_completion),
    and `permission`, the provider's EPCS permission in `practice` row-locked
    (lock_epcs_permission). Every rule of sign_prescriptions is checked on them, nothing is
    read again. `also_record`: the caller's audit events (audit.record_many entries), written
    with the signing's own in one INSERT. Refusals as sign_prescriptions; the caller's
    transaction must then be rolled back (no savepoint is taken here)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("sign_reviewed runs inside the transaction that holds the locks")
    batch = sorted(locked, key=lambda rx: rx.pk)
    if not batch:
        raise SigningRefused("Select at least one prescription to sign.")
    key = _signing_key()
    if any(rx.practice_id != practice.pk for rx in batch):
        raise SigningRefused("A selected prescription is not of this practice, so nothing was signed.")
    _check_reviewed(batch, reviewed_digests)
    _check_batch(provider, practice, batch, permission)
    _check_two_factor(provider, challenge)
    _sign_checked(
        provider,
        practice,
        batch,
        key,
        device_label=challenge.device_label,
        challenge_id=challenge.pk,
        also_record=also_record,
    )
    return batch


def _sign_checked(
    provider: Provider,
    practice: Practice,
    locked: list[Prescription],
    key: keys.SigningKey,
    *,
    device_label: str,
    challenge_id: str | uuid.UUID,
    also_record: Sequence[tuple[str, dict[str, Any]]] = (),
) -> None:
    """Sign the checked, row-locked batch and record it (DEA-11, DEA-16), in the caller's transaction."""
    signed_at = timezone.now()
    for rx in locked:
        data = signing.canonical_data(rx, signed_at)
        payload = signing.canonical_bytes(data)
        rx.signed_at = signed_at
        rx.canonical_payload = payload.decode()
        rx.digest_sha256 = signing.digest(payload)
        rx.signature = key.sign(payload)
        rx.signing_key_id = key.key_id
        rx.device_label = device_label[:120]
        rx.challenge_id = str(challenge_id)[:64]
        rx.state = PrescriptionState.SIGNED
        rx.updated_at = signed_at
    _store_signatures(locked)
    # The signing's first event, then one per prescription, then the caller's: one INSERT, so
    # the signatures are kept only with their audit events (DEA-16).
    _record_or_refuse(
        [
            (
                "eprescribe.signing_started",
                {"actor": provider.user, "chain": practice, "details": {"prescriptions": len(locked)}},
            ),
            *(
                (
                    "eprescribe.signed",
                    {
                        "actor": provider.user,
                        "target": rx,
                        "chain": practice,
                        "details": {
                            "digest_sha256": rx.digest_sha256,
                            "signing_key_id": key.key_id,
                            "device": rx.device_label,
                            "challenge_id": rx.challenge_id,
                            "patient_id": rx.patient_id,
                        },
                    },
                )
                for rx in locked
            ),
            *also_record,
        ]
    )
    # DEA-15: transmission starts as soon as the signatures are committed (one broker
    # message for the batch; the worker fans it out to one task per prescription).
    transaction.on_commit(partial(queue_batch_transmission, [rx.pk for rx in locked]), robust=True)


SIGNED_COLUMNS = (
    "signed_at",
    "canonical_payload",
    "digest_sha256",
    "signature",
    "signing_key_id",
    "device_label",
    "challenge_id",
    "state",
    "updated_at",
)


def _store_signatures(batch: list[Prescription]) -> None:
    """One prepared UPDATE run for every row of the batch (executemany): the per-row cost
    of signing stays small, so 25 prescriptions cost little more than one."""
    fields: list[Field[Any, Any]] = []
    for name in SIGNED_COLUMNS:
        field = Prescription._meta.get_field(name)
        assert isinstance(field, Field)
        fields.append(field)
    assignments = ", ".join(f"{connection.ops.quote_name(str(f.column))} = %s" for f in fields)
    # Only our own column names (quoted) are formatted in; every value is a parameter.
    sql = f"UPDATE {connection.ops.quote_name(Prescription._meta.db_table)} SET {assignments} WHERE id = %s"  # noqa: S608
    rows = [[f.get_db_prep_save(getattr(rx, f.attname), connection) for f in fields] + [rx.pk] for rx in batch]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _check_reviewed(batch: list[Prescription], reviewed_digests: Mapping[int, str]) -> None:
    """DEA-19: sign exactly the reviewed prescriptions with exactly the reviewed content."""
    if {rx.pk for rx in batch} != set(reviewed_digests):
        raise SigningRefused("The prescriptions to sign are not the ones reviewed, so nothing was signed.")
    changed = [rx.pk for rx in batch if signing.content_digest(rx) != reviewed_digests[rx.pk]]
    if changed:
        raise ContentChanged(changed)


def _check_batch(
    provider: Provider, practice: Practice, batch: list[Prescription], permission: EpcsPermission | None
) -> None:
    """The signing rules on the locked batch; `permission`: the provider's EPCS permission in
    `practice`, read row-locked in this transaction (lock_epcs_permission)."""
    if any(rx.prescriber_id != provider.pk for rx in batch):
        raise SigningRefused("Only the prescriber named on a prescription can sign it, so nothing was signed.")
    if not has_role(provider.user, practice, PracticeRole.PRESCRIBER):
        raise SigningRefused("You are not a prescriber of this practice, so nothing was signed.")
    if any(rx.patient.practice_id != practice.pk for rx in batch):
        raise SigningRefused("The patient is not a patient of this practice, so nothing was signed.")
    not_ready = [rx for rx in batch if rx.state != PrescriptionState.READY or rx.is_signed]
    if not_ready:
        raise SigningRefused(
            "Every prescription must be ready for signing; "
            f"{len(not_ready)} of them changed since you opened the review, so nothing was signed."
        )
    if any(not rx.medication.is_controlled for rx in batch):
        raise SigningRefused("Only controlled-substance prescriptions are signed here, so nothing was signed.")
    if len({rx.patient_id for rx in batch}) != 1:
        raise SigningRefused("One signing covers one patient's prescriptions; select prescriptions of one patient.")
    for rx in batch:
        registration = rx.dea_registration
        if registration is None or registration.provider_id != provider.pk:
            raise SigningRefused("Each prescription needs one of your own DEA registrations, so nothing was signed.")
        message = refill_error(rx.medication, rx.refills)
        if message:
            raise SigningRefused(message)
    for registration in {rx.dea_registration for rx in batch if rx.dea_registration}:
        reason = epcs_block_reason(provider, practice, registration, permission=permission)
        if reason:
            raise SigningRefused(reason)


def queue_batch_transmission(prescription_ids: list[int]) -> None:
    """Hand the prescriptions of one signing to the transmission worker as one batch (DEA-15)."""
    from eprescribe.tasks import transmit_batch

    try:
        transmit_batch.delay(prescription_ids)
    except Exception as exc:  # broker down: show failed transmissions with Retry
        logger.exception("Could not queue transmission of prescriptions %s", prescription_ids)
        from eprescribe.transmission import record_final_failure

        for prescription_id in prescription_ids:
            record_final_failure(prescription_id, f"Could not queue the transmission: {type(exc).__name__}")


def queue_transmission(prescription_id: int) -> None:
    """Hand a signed prescription to the transmission worker (DEA-15)."""
    from eprescribe.tasks import transmit_prescription

    try:
        transmit_prescription.delay(prescription_id)
    except Exception as exc:  # broker down: show a failed transmission with Retry
        logger.exception("Could not queue transmission of prescription %s", prescription_id)
        from eprescribe.transmission import record_final_failure

        record_final_failure(prescription_id, f"Could not queue the transmission: {type(exc).__name__}")


def retry_transmission(
    prescription: Prescription, *, actor: User, practice: Practice, request: HttpRequest | None = None
) -> Prescription:
    """Retry a failed transmission (the prescriber's Retry button)."""
    with transaction.atomic():
        rx = _lock(prescription, practice)
        if not is_prescriber(actor, rx):
            raise PrescriptionError("Only the prescriber can retry sending this prescription.")
        if rx.state != PrescriptionState.TRANSMISSION_FAILED or not rx.is_signed:
            raise PrescriptionError("Only a prescription whose transmission failed can be sent again.")
        rx.state = PrescriptionState.SIGNED
        rx.transmission_error = ""
        rx.save(update_fields=["state", "transmission_error", "updated_at"])
        audit.record(
            "eprescribe.transmission_retry_requested", actor=actor, target=rx, chain=rx.practice_id, request=request
        )
        transaction.on_commit(partial(queue_transmission, rx.pk), robust=True)
    return rx


def pharmacies_for_controlled() -> QuerySet[Pharmacy]:
    return Pharmacy.objects.filter(accepts_epcs=True)
