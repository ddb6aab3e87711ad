"""Verifying prescriber credentials (DEA-20, 1311.125(a)); docs/epcs-permissions.md.

A DEA registration or a state license entered or changed by the prescriber is *unverified*
until an EPCS access manager other than the prescriber verifies it. The access manager works in
a practice and verifies only for people who are members of it (ASVS-11); credentials belong to
the person, so the verification is recorded once and counts in every practice they work in:

- A DEA registration against the DEA registry (`dea_registry_client`): the registry's answer
  must agree on number, registrant's last name, schedules, expiry date, state, an active status
  and a practitioner's business activity. A match records who, when, and the registry's answer
  (a JSON snapshot); a mismatch refuses, naming every field that differs. Both are audited.
  An unreachable registry changes nothing and says so.
- A state license against the state board: no state-board service is connected, so the access
  manager looks the license up at the board and records where (source) and the board's
  reference or lookup id.

A verification holds only while the verified values are unchanged (the fingerprint on the row,
checked by providers.credentials.rules); the credential services also clear it, audited, when the
prescriber changes one of them.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NoReturn

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

import audit
from audit.models import Outcome
from dea_registry_client import (
    RegistryError,
    RegistryNotFound,
    RegistryRecord,
    RegistryStatus,
    Schedule,
    registry_client,
)
from providers import erx_cache
from providers.credentials.rules import license_is_verified, registration_is_verified, today
from providers.credentials.services import registrant_last_name
from providers.models import DeaRegistration, Membership, Practice, PracticeRole, Provider, StateLicense, User
from providers.roles import is_access_manager


class RefusalCode(StrEnum):
    NOT_ACCESS_MANAGER = "not_access_manager"
    OWN_CREDENTIAL = "own_credential"
    MARKED_REVOKED = "marked_revoked"
    EXPIRED = "expired"
    NOT_IN_REGISTRY = "not_in_registry"
    REGISTRY_UNAVAILABLE = "registry_unavailable"
    MISMATCH = "mismatch"
    MISSING_SOURCE = "missing_source"


class Field(StrEnum):
    """What the registry's answer is compared on."""

    NUMBER = "number"
    STATUS = "status"
    BUSINESS_ACTIVITY = "business_activity"
    NAME = "name"
    STATE = "state"
    EXPIRY = "expires_on"
    SCHEDULES = "schedules"


@dataclass(frozen=True)
class Mismatch:
    field: Field
    message: str

    def as_json(self) -> dict[str, str]:
        return {"field": str(self.field), "message": self.message}


class VerificationRefused(Exception):
    """Nothing was verified; `message` is for the access manager, `code` for callers."""

    def __init__(self, message: str, code: RefusalCode, mismatches: tuple[Mismatch, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.mismatches = mismatches


# The schedule flags of a DeaRegistration and the registry's codes, with their names.
SCHEDULE_FLAGS: tuple[tuple[str, Schedule, str], ...] = (
    ("schedule_2", Schedule.II, "II"),
    ("schedule_2n", Schedule.IIN, "IIN"),
    ("schedule_3", Schedule.III, "III"),
    ("schedule_3n", Schedule.IIIN, "IIIN"),
    ("schedule_4", Schedule.IV, "IV"),
    ("schedule_5", Schedule.V, "V"),
)


# The columns a verification writes (and clearing it empties).
DEA_VERIFICATION_FIELDS = ["verified_at", "verified_by", "registry_answer", "verified_fingerprint"]
LICENSE_VERIFICATION_FIELDS = [
    "verified_at",
    "verified_by",
    "verification_source",
    "verification_reference",
    "verified_fingerprint",
]


def _name_key(name: str) -> str:
    """Compare names without case, accents, spaces, hyphens or apostrophes."""
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(c for c in decomposed if c.isalpha() and not unicodedata.combining(c)).casefold()


def compare_with_registry(registration: DeaRegistration, answer: RegistryRecord) -> tuple[Mismatch, ...]:
    """Every field where eRx Info and the DEA registry disagree (empty: they agree)."""
    found: list[Mismatch] = []
    number = registration.number
    if answer.dea_number != number:
        found.append(Mismatch(Field.NUMBER, f"The DEA registry answered for {answer.dea_number}, not {number}."))
    if answer.status != RegistryStatus.ACTIVE:
        found.append(Mismatch(Field.STATUS, f"The DEA registry lists {number} as {answer.status}, not active."))
    if not answer.business_activity.may_prescribe:
        found.append(
            Mismatch(
                Field.BUSINESS_ACTIVITY,
                f"The DEA registry lists {number} for a {answer.business_activity.replace('_', ' ')}, "
                "not a practitioner who may prescribe.",
            )
        )
    ours = registrant_last_name(registration.provider)
    if _name_key(answer.registrant_last_name) != _name_key(ours):
        found.append(
            Mismatch(
                Field.NAME,
                f"The registrant's last name at the DEA is {answer.registrant_last_name}; "
                f"the prescriber's is {ours or 'not set'}.",
            )
        )
    if answer.state != registration.state:
        found.append(
            Mismatch(Field.STATE, f"The state at the DEA is {answer.state}; eRx Info says {registration.state}.")
        )
    if answer.expires_on != registration.expires_on:
        found.append(
            Mismatch(
                Field.EXPIRY,
                f"The expiry date at the DEA is {answer.expires_on:%m/%d/%Y}; "
                f"eRx Info says {registration.expires_on:%m/%d/%Y}.",
            )
        )
    claimed = {code for flag, code, _ in SCHEDULE_FLAGS if getattr(registration, flag)}
    extra = [label for flag, code, label in SCHEDULE_FLAGS if code in claimed and code not in answer.schedules]
    missing = [label for flag, code, label in SCHEDULE_FLAGS if code in answer.schedules and code not in claimed]
    if extra or missing:
        parts = []
        if extra:
            parts.append(f"eRx Info lists Schedule {', '.join(extra)}, which the DEA registry does not")
        if missing:
            parts.append(f"the DEA registry lists Schedule {', '.join(missing)}, which eRx Info does not")
        found.append(Mismatch(Field.SCHEDULES, "The schedules differ: " + "; ".join(parts) + "."))
    return tuple(found)


def people_of(practice: Practice) -> Any:
    """The providers (QuerySet) who are members of `practice` in any role."""
    return Provider.objects.filter(user__memberships__practice=practice).distinct()


def manages_for(actor: Any, provider: Provider, practice: Practice | None) -> bool:
    """Whether `actor` is an access manager of `practice` and `provider` a member of it; with no
    practice named (the demo seed, a management command), of any practice the provider is in."""
    if practice is not None:
        return is_access_manager(actor, practice) and people_of(practice).filter(pk=provider.pk).exists()
    if not (getattr(actor, "is_authenticated", False) and actor.is_active):
        return False
    shared = Membership.objects.filter(user_id=provider.user_id).values("practice_id")
    return Membership.objects.filter(
        user_id=actor.pk, role=PracticeRole.ACCESS_MANAGER, practice_id__in=shared
    ).exists()


def _who_refusal(actor: Any, provider: Provider, practice: Practice | None) -> tuple[str, RefusalCode] | None:
    if not manages_for(actor, provider, practice):
        return (
            "Only an EPCS access manager can verify prescriber credentials.",
            RefusalCode.NOT_ACCESS_MANAGER,
        )
    if actor.pk == provider.user_id:
        return (
            "You cannot verify your own credentials; another EPCS access manager must verify them.",
            RefusalCode.OWN_CREDENTIAL,
        )
    return None


def _refuse(
    action: str,
    message: str,
    code: RefusalCode,
    *,
    actor: Any,
    target: Any,
    request: HttpRequest | None,
    details: dict[str, Any] | None = None,
    outcome: str = Outcome.DENIED,
    mismatches: tuple[Mismatch, ...] = (),
) -> NoReturn:
    audit.record(
        action,
        actor=actor,
        target=target,
        outcome=outcome,
        request=request,
        details={"reason": message, "code": str(code), **(details or {})},
    )
    raise VerificationRefused(message, code, mismatches)


# --- DEA registrations ----------------------------------------------------------------
def verify_dea_registration(
    *, actor: User, registration: DeaRegistration, practice: Practice | None, request: HttpRequest | None = None
) -> DeaRegistration:
    """Ask the DEA registry about `registration` and record the verification if it agrees."""
    action = "credentials.dea_verification_refused"
    refusal = _who_refusal(actor, registration.provider, practice)
    if refusal is not None:
        _refuse(action, *refusal, actor=actor, target=registration, request=request)
    if registration.revoked_at is not None:
        _refuse(
            action,
            f"DEA registration {registration.number} is marked revoked, so it cannot be verified.",
            RefusalCode.MARKED_REVOKED,
            actor=actor,
            target=registration,
            request=request,
        )
    try:
        answer = registry_client().lookup(registration.number)
    except RegistryNotFound:
        _refuse(
            action,
            f"The DEA registry has no registration {registration.number}. It stays unverified.",
            RefusalCode.NOT_IN_REGISTRY,
            actor=actor,
            target=registration,
            request=request,
            mismatches=(Mismatch(Field.NUMBER, f"The DEA registry has no registration {registration.number}."),),
        )
    except RegistryError as exc:  # unreachable, broken, refused our key: nothing changes
        _refuse(
            "credentials.dea_verification_failed",
            f"The DEA registry could not be asked ({exc}). DEA registration {registration.number} stays "
            "unverified and nothing was changed; try again later.",
            RefusalCode.REGISTRY_UNAVAILABLE,
            actor=actor,
            target=registration,
            request=request,
            details={"registry_error": getattr(exc, "code", "registry_error")},
            outcome=Outcome.FAILURE,
        )
    return record_dea_verification(
        actor=actor, registration=registration, answer=answer, practice=practice, request=request
    )


def record_dea_verification(
    *,
    actor: User,
    registration: DeaRegistration,
    answer: RegistryRecord,
    practice: Practice | None = None,
    request: HttpRequest | None = None,
    seeded: bool = False,
) -> DeaRegistration:
    """Compare `registration` with the registry's `answer` and, when they agree, record who
    verified it, when, and the answer. `verify_dea_registration` calls this with the answer it
    just fetched; the demo seed calls it with the simulator's documented demo answer
    (`seeded=True`, said so in the audit trail) because the server may not be running then.
    `practice` is the one the access manager works in (None: any they share with the prescriber)."""
    refusal = _who_refusal(actor, registration.provider, practice)
    if refusal is not None:
        _refuse("credentials.dea_verification_refused", *refusal, actor=actor, target=registration, request=request)
    snapshot = answer.as_json()
    with transaction.atomic():
        locked = DeaRegistration.objects.select_for_update().select_related("provider__user").get(pk=registration.pk)
        mismatches = compare_with_registry(locked, answer)
        if not mismatches:
            locked.verified_at = timezone.now()
            locked.verified_by = actor
            locked.registry_answer = snapshot
            locked.verified_fingerprint = locked.verification_fingerprint()
            locked.save(update_fields=DEA_VERIFICATION_FIELDS)
            erx_cache.bump_section(erx_cache.CREDENTIALS, locked.provider_id)
            audit.record(
                "credentials.dea_verified",
                actor=actor,
                target=locked,
                request=request,
                details={
                    "number": locked.number,
                    "provider_id": locked.provider_id,
                    "verified_by": actor.get_username(),
                    "registry_answer": snapshot,
                    "seeded": seeded,
                },
            )
            return locked
    _refuse(
        "credentials.dea_verification_refused",
        f"DEA registration {registration.number} does not match the DEA registry, so it stays unverified. "
        + " ".join(m.message for m in mismatches),
        RefusalCode.MISMATCH,
        actor=actor,
        target=registration,
        request=request,
        details={"mismatches": [m.as_json() for m in mismatches], "registry_answer": snapshot},
        mismatches=mismatches,
    )


def clear_dea_verification(
    registration: DeaRegistration, changed: list[str], request: HttpRequest | None = None
) -> bool:
    """Called (inside the edit's transaction, on the locked row) when the prescriber changed a
    verified value: the registration is unverified again, audited. Returns whether it was verified."""
    was_verified = registration.verified_at is not None
    if not was_verified:
        return False
    previous = registration.verified_by.get_username() if registration.verified_by else None
    registration.verified_at = None
    registration.verified_by = None
    registration.registry_answer = {}
    registration.verified_fingerprint = ""
    registration.save(update_fields=DEA_VERIFICATION_FIELDS)
    erx_cache.bump_section(erx_cache.CREDENTIALS, registration.provider_id)
    audit.record(
        "credentials.dea_unverified",
        request=request,
        target=registration,
        details={"number": registration.number, "changed": changed, "previously_verified_by": previous},
    )
    return True


# --- state licenses -------------------------------------------------------------------
def verify_state_license(
    *,
    actor: User,
    license_: StateLicense,
    source: str,
    reference: str,
    practice: Practice | None = None,
    request: HttpRequest | None = None,
) -> StateLicense:
    """Record that `actor` checked the license at the state board (`source`, `reference`)."""
    action = "credentials.license_verification_refused"
    refusal = _who_refusal(actor, license_.provider, practice)
    if refusal is not None:
        _refuse(action, *refusal, actor=actor, target=license_, request=request)
    source, reference = source.strip()[:200], reference.strip()[:100]
    if not source or not reference:
        _refuse(
            action,
            "Enter where the license was checked and the board's reference or lookup id.",
            RefusalCode.MISSING_SOURCE,
            actor=actor,
            target=license_,
            request=request,
        )
    if license_.expires_on <= today():
        _refuse(
            action,
            f"State license {license_.state} {license_.number} has expired, so it cannot be verified.",
            RefusalCode.EXPIRED,
            actor=actor,
            target=license_,
            request=request,
        )
    with transaction.atomic():
        locked = StateLicense.objects.select_for_update().get(pk=license_.pk)
        locked.verified_at = timezone.now()
        locked.verified_by = actor
        locked.verification_source = source
        locked.verification_reference = reference
        locked.verified_fingerprint = locked.verification_fingerprint()
        locked.save(update_fields=LICENSE_VERIFICATION_FIELDS)
        erx_cache.bump_section(erx_cache.CREDENTIALS, locked.provider_id)
        audit.record(
            "credentials.license_verified",
            actor=actor,
            target=locked,
            request=request,
            details={
                "state": locked.state,
                "number": locked.number,
                "provider_id": locked.provider_id,
                "verified_by": actor.get_username(),
                "source": source,
                "reference": reference,
            },
        )
    return locked


def clear_license_verification(license_: StateLicense, changed: list[str], request: HttpRequest | None = None) -> bool:
    if license_.verified_at is None:
        return False
    previous = license_.verified_by.get_username() if license_.verified_by else None
    license_.verified_at = None
    license_.verified_by = None
    license_.verification_source = ""
    license_.verification_reference = ""
    license_.verified_fingerprint = ""
    license_.save(update_fields=LICENSE_VERIFICATION_FIELDS)
    erx_cache.bump_section(erx_cache.CREDENTIALS, license_.provider_id)
    audit.record(
        "credentials.license_unverified",
        request=request,
        target=license_,
        details={
            "state": license_.state,
            "number": license_.number,
            "changed": changed,
            "previously_verified_by": previous,
        },
    )
    return True


# --- what waits for an access manager -------------------------------------------------
@dataclass(frozen=True)
class Unverified:
    registrations: list[DeaRegistration]
    licenses: list[StateLicense]


def unverified_credentials(practice: Practice) -> Unverified:
    """Registrations not marked revoked and unexpired licenses of the practice's people that are
    not (or no longer) verified."""
    on = today()
    people = people_of(practice)
    registrations = [
        r
        for r in DeaRegistration.objects.filter(
            provider__in=people, revoked_at__isnull=True, expires_on__gt=on
        ).select_related("provider__user")
        if not registration_is_verified(r)
    ]
    licenses = [
        lic
        for lic in StateLicense.objects.filter(provider__in=people, expires_on__gt=on).select_related("provider__user")
        if not license_is_verified(lic)
    ]
    return Unverified(registrations=registrations, licenses=licenses)
