"""The binding of a signing ceremony to what its review showed (DEA-19).

When the review opens, the ceremony (SigningCeremony) stores, for each prescription, the
SHA-256 of its canonical content (eprescribe.signing.content_data: the signed form without
the signing time), and a digest of the prescriber, the DEA registrations and the DEA
statement shown. The 2FA that completes the ceremony signs only when every digest is still
the same, checked under the row locks of the signing transaction; otherwise nothing is
signed and the ceremony ends with a typed reason (models.CeremonyEnd) naming what changed.

A change made through eprescribe.services (edit, cancel) ends the open ceremonies of that
prescription at once; any other change (e.g. the patient's address in the admin) is found
the next time the ceremony is looked at (page, status poll, 2FA start or completion).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

import audit
from audit.models import Outcome
from eprescribe import signing
from eprescribe.models import (
    CeremonyEnd,
    CeremonyPrescription,
    CeremonyState,
    Prescription,
    PrescriptionState,
    SigningCeremony,
)
from mfa import challenges
from mfa.models import ChallengeStatus, VerificationChallenge
from providers.models import Practice, Provider, User

DEA_STATEMENT = (
    "By completing the two-factor authentication protocol at this time, you are legally signing the "
    "prescription(s) and authorizing the transmission of the above information to the pharmacy for "
    "dispensing. The two-factor authentication protocol may only be completed by the practitioner whose "
    "name and DEA registration number appear above."
)
SUBJECT_PREFIX = "ceremony:"


def subject_for(ceremony_id: uuid.UUID | str) -> str:
    """The subject of the ceremony's 2FA challenges (mfa.challenges)."""
    return f"{SUBJECT_PREFIX}{ceremony_id}"


def ceremony_id_of(subject: str) -> uuid.UUID | None:
    if not subject.startswith(SUBJECT_PREFIX):
        return None
    try:
        return uuid.UUID(subject[len(SUBJECT_PREFIX) :])
    except ValueError:
        return None


def provider_address(provider: Provider) -> str:
    """The prescriber's address as the review shows it."""
    city = " ".join(
        x for x in (provider.city + ("," if provider.city else ""), provider.state, provider.postal_code) if x
    )
    return ", ".join(x for x in (provider.address_line1, provider.address_line2, city) if x)


def practice_address(practice: Practice) -> str:
    """The practice's address (the prescriber's practice location) as the review shows it."""
    city = " ".join(
        x for x in (practice.city + ("," if practice.city else ""), practice.state, practice.postal_code) if x
    )
    return ", ".join(x for x in (practice.address_line1, practice.address_line2, city) if x)


def _signer_data(
    provider: Provider, practice: Practice, prescriptions: Sequence[Prescription], statement: str
) -> dict[str, Any]:
    registrations = sorted(
        {(rx.dea_registration_id, rx.dea_registration.number if rx.dea_registration else "") for rx in prescriptions},
        key=lambda pair: (pair[0] or 0, pair[1]),
    )
    return {
        "prescriber_id": provider.pk,
        "prescriber_name": provider.name_for_erx,
        "prescriber_address": provider_address(provider),
        "npi": provider.npi,
        "practice": {"id": practice.pk, "name": practice.name, "address": practice_address(practice)},
        "dea_registrations": [{"id": pk, "number": number} for pk, number in registrations],
        "statement_sha256": statement_digest(statement),
    }


def statement_digest(statement: str) -> str:
    return signing.digest(statement.encode())


def signer_digest(
    provider: Provider, practice: Practice, prescriptions: Sequence[Prescription], statement: str = DEA_STATEMENT
) -> str:
    return signing.digest(signing.canonical_bytes(_signer_data(provider, practice, prescriptions, statement)))


def _binding_digest(ceremony_id: uuid.UUID, signer_sha256: str, items: list[tuple[int, str]]) -> str:
    data = {
        "ceremony": str(ceremony_id),
        "signer_sha256": signer_sha256,
        "prescriptions": [{"id": pk, "content_sha256": digest} for pk, digest in items],
    }
    return signing.digest(signing.canonical_bytes(data))


# --- opening --------------------------------------------------------------------------------
def open_ceremony(
    provider: Provider,
    practice: Practice,
    prescriptions: Sequence[Prescription],
    request: HttpRequest | None = None,
) -> SigningCeremony:
    """Bind a new ceremony of `practice` to the review about to be shown (the checked selection)."""
    ceremony_id = uuid.uuid4()
    items = [(rx.pk, signing.content_digest(rx)) for rx in prescriptions]
    signer = signer_digest(provider, practice, prescriptions)
    dea_numbers = sorted({rx.dea_registration.number for rx in prescriptions if rx.dea_registration})
    with transaction.atomic():
        ceremony = SigningCeremony.objects.create(
            id=ceremony_id,
            provider=provider,
            practice=practice,
            prescriber_name=provider.name_for_erx[:200],
            dea_numbers=dea_numbers,
            signer_sha256=signer,
            statement_sha256=statement_digest(DEA_STATEMENT),
            binding_sha256=_binding_digest(ceremony_id, signer, items),
        )
        CeremonyPrescription.objects.bulk_create(
            CeremonyPrescription(ceremony=ceremony, prescription_id=pk, position=index, content_sha256=digest)
            for index, (pk, digest) in enumerate(items)
        )
        audit.record(
            "eprescribe.signing_review_opened",
            actor=provider.user,
            request=request,
            target=("eprescribe.ceremony", ceremony_id),
            chain=practice,
            details={
                "prescriptions": [pk for pk, _ in items],
                "content_sha256": {str(pk): digest for pk, digest in items},
                "binding_sha256": ceremony.binding_sha256,
                "dea_numbers": dea_numbers,
            },
        )
    return ceremony


def ceremony_of(
    provider: Provider, practice: Practice | None, ceremony_id: uuid.UUID, *, for_update: bool = False
) -> SigningCeremony:
    """The provider's own ceremony of this practice; SigningCeremony.DoesNotExist for anyone
    else's and for one of another practice (ASVS-06, ASVS-11)."""
    if practice is None:
        raise SigningCeremony.DoesNotExist
    queryset = SigningCeremony.objects.filter(provider=provider, practice=practice).select_related("practice")
    if for_update:
        queryset = queryset.select_for_update()
    return queryset.get(pk=ceremony_id)


def reviewed_digests(ceremony: SigningCeremony) -> dict[int, str]:
    """Prescription id -> content digest as reviewed, in the review's order."""
    return dict(
        CeremonyPrescription.objects.filter(ceremony=ceremony)
        .order_by("position")
        .values_list("prescription_id", "content_sha256")
    )


def prescription_ids(ceremony: SigningCeremony) -> list[int]:
    return list(reviewed_digests(ceremony))


# --- comparing -------------------------------------------------------------------------------
@dataclass(frozen=True)
class BindingCheck:
    """How the prescriptions as they are now differ from the review."""

    changed: tuple[int, ...] = ()
    cancelled: tuple[int, ...] = ()
    signer_changed: bool = False

    @property
    def reason(self) -> CeremonyEnd | None:
        if self.cancelled:
            return CeremonyEnd.PRESCRIPTION_CANCELLED
        if self.changed:
            return CeremonyEnd.PRESCRIPTION_CHANGED
        if self.signer_changed:
            return CeremonyEnd.SIGNER_CHANGED
        return None

    @property
    def prescription_ids(self) -> list[int]:
        return [*self.cancelled, *(pk for pk in self.changed if pk not in self.cancelled)]


def compare(
    ceremony: SigningCeremony, prescriptions: Iterable[Prescription], reviewed: Mapping[int, str] | None = None
) -> BindingCheck:
    """Recompute every digest from `prescriptions` (as loaded now) and compare with the binding
    (`reviewed`: the ceremony's reviewed_digests, when the caller has read them already)."""
    if reviewed is None:
        reviewed = reviewed_digests(ceremony)
    current = {rx.pk: rx for rx in prescriptions}
    # A prescription (or its patient) moved to another practice is no longer what was reviewed.
    changed = [
        pk
        for pk, digest in reviewed.items()
        if pk not in current
        or current[pk].practice_id != ceremony.practice_id
        or current[pk].patient.practice_id != ceremony.practice_id
        or signing.content_digest(current[pk]) != digest
    ]
    cancelled = [pk for pk in reviewed if pk in current and current[pk].state == PrescriptionState.CANCELLED]
    ordered = [current[pk] for pk in reviewed if pk in current]
    signer_changed = (
        bool(ordered)
        and len(ordered) == len(reviewed)
        and signer_digest(ordered[0].prescriber, ceremony.practice, ordered) != ceremony.signer_sha256
    )
    return BindingCheck(changed=tuple(changed), cancelled=tuple(cancelled), signer_changed=signer_changed)


def current_prescriptions(ceremony: SigningCeremony, *, for_update: bool = False) -> list[Prescription]:
    """The ceremony's prescriptions as they are now, in the review's order (locked if asked)."""
    ids = prescription_ids(ceremony)
    queryset = Prescription.objects.filter(pk__in=ids, prescriber_id=ceremony.provider_id).select_related(
        "practice", "patient", "medication", "dea_registration", "pharmacy", "prescriber__user"
    )
    if for_update:
        queryset = queryset.select_for_update(of=("self",)).order_by("pk")
    rows = {rx.pk: rx for rx in queryset}
    return [rows[pk] for pk in ids if pk in rows]


def lock_for_completion(
    provider: Provider, ceremony_id: uuid.UUID
) -> tuple[SigningCeremony, list[Prescription], dict[int, str]]:
    """The 2FA completion's reads, in its transaction, one statement each: the provider's
    ceremony's prescriptions as they are now, row-locked in pk order, then the ceremony,
    row-locked (the lock order of eprescribe.services: prescriptions, then ceremonies).

    Returns the ceremony, its prescriptions of `provider` in the review's order (as
    current_prescriptions) and the digests as reviewed (as reviewed_digests). `provider` is
    the completing challenge's, read and row-locked with it: it stands in for each
    prescription's prescriber and the ceremony's provider instead of reading them again; the
    ceremony's practice, read with it, stands in for a prescription's of the same id (one of
    another practice is read on its own, and compare finds it changed).
    SigningCeremony.DoesNotExist when the ceremony is not the provider's."""
    items = list(
        CeremonyPrescription.objects.filter(ceremony_id=ceremony_id, ceremony__provider_id=provider.pk)
        .select_related(
            "prescription__patient",
            "prescription__medication",
            "prescription__dea_registration",
            "prescription__pharmacy",
        )
        .select_for_update(of=("prescription",))
        .order_by("prescription_id")
    )
    ceremony = (
        SigningCeremony.objects.select_for_update(of=("self",))
        .select_related("practice")
        .get(pk=ceremony_id, provider_id=provider.pk)
    )
    ceremony.provider = provider
    items.sort(key=lambda item: item.position)
    reviewed = {item.prescription_id: item.content_sha256 for item in items}
    prescriptions = []
    for item in items:
        rx = item.prescription
        if rx.practice_id == ceremony.practice_id:
            rx.practice = ceremony.practice
        if rx.prescriber_id == provider.pk:
            rx.prescriber = provider
            prescriptions.append(rx)
    return ceremony, prescriptions, reviewed


# --- ending -------------------------------------------------------------------------------------
def end(
    ceremony: SigningCeremony,
    reason: CeremonyEnd,
    changed_ids: Sequence[int] = (),
    *,
    actor: User | None = None,
    request: HttpRequest | None = None,
) -> bool:
    """End an open ceremony without signing; its pending 2FA is cancelled after commit.

    Idempotent: False when it had already ended or been signed."""
    now = timezone.now()
    with transaction.atomic():
        updated = SigningCeremony.objects.filter(pk=ceremony.pk, state=CeremonyState.OPEN).update(
            state=CeremonyState.ENDED, ended_at=now, end_reason=reason, changed_prescription_ids=list(changed_ids)
        )
        if not updated:
            ceremony.refresh_from_db()
            return False
        audit.record(
            "eprescribe.signing_ended",
            actor=actor or ceremony.provider.user,
            request=request,
            outcome=Outcome.DENIED,
            target=("eprescribe.ceremony", ceremony.pk),
            chain=ceremony.practice_id,
            details={"reason": str(reason), "prescriptions": list(changed_ids)},
        )
        subject = subject_for(ceremony.pk)
        transaction.on_commit(lambda: _cancel_pending_challenges(subject), robust=True)
    ceremony.state, ceremony.ended_at, ceremony.end_reason = CeremonyState.ENDED, now, reason
    ceremony.changed_prescription_ids = list(changed_ids)
    return True


def _cancel_pending_challenges(subject: str) -> None:
    for challenge in VerificationChallenge.objects.filter(subject=subject, status=ChallengeStatus.PENDING):
        challenges.cancel_challenge(challenge)


def end_if_changed(
    ceremony: SigningCeremony, prescriptions: Iterable[Prescription], request: HttpRequest | None = None
) -> BindingCheck:
    """Compare with the binding; end the (open) ceremony when anything differs."""
    check = compare(ceremony, prescriptions)
    reason = check.reason
    if ceremony.is_open and reason is not None:
        end(ceremony, reason, check.prescription_ids, request=request)
    return check


def end_open_ceremonies_for(
    prescription_ids: Sequence[int],
    reason: CeremonyEnd,
    *,
    actor: User | None = None,
    request: HttpRequest | None = None,
) -> int:
    """A prescription changed (edit, cancel): end every open ceremony that reviewed it.

    Called by eprescribe.services inside the transaction that changes the prescription, after
    its row lock (lock order: prescriptions, then ceremonies, as in the signing completion).
    """
    reviewed_in = CeremonyPrescription.objects.filter(prescription_id__in=list(prescription_ids)).values("ceremony_id")
    ceremonies = list(
        SigningCeremony.objects.select_for_update(of=("self",))
        .filter(state=CeremonyState.OPEN, pk__in=reviewed_in)
        .select_related("provider__user")
        .order_by("pk")
    )
    for ceremony in ceremonies:
        end(ceremony, reason, list(prescription_ids), actor=actor, request=request)
    return len(ceremonies)


def set_signed(ceremony: SigningCeremony) -> None:
    """The ceremony is done (in the signing transaction; its event is `signed_event`)."""
    SigningCeremony.objects.filter(pk=ceremony.pk).update(state=CeremonyState.SIGNED)
    ceremony.state = CeremonyState.SIGNED


def signed_event(
    ceremony: SigningCeremony, challenge_id: Any, reviewed: Mapping[int, str]
) -> tuple[str, dict[str, Any]]:
    """The audit event (an audit.record_many entry, written in the signing transaction with the
    signatures) of a signed ceremony: which binding (content, prescriber, DEA numbers and
    statement digests) the 2FA completed; `reviewed` is the ceremony's reviewed_digests."""
    return (
        "eprescribe.signing_bound",
        {
            "actor": ceremony.provider.user,
            "target": ("eprescribe.ceremony", ceremony.pk),
            "chain": ceremony.practice_id,
            "details": {
                "challenge_id": str(challenge_id),
                "binding_sha256": ceremony.binding_sha256,
                "signer_sha256": ceremony.signer_sha256,
                "statement_sha256": ceremony.statement_sha256,
                "content_sha256": {str(pk): digest for pk, digest in reviewed.items()},
            },
        },
    )
