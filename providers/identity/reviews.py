"""Identity mismatches reviewed by EPCS access managers (DEA-20, DEA-02, DEA-13).

When the identity proofed at ID.me differs from the provider's profile (providers.identity.binding),
the ID.me result waits as a pending `IdentityMismatch`. An EPCS access manager who is not the
prescriber may:

- confirm a legitimate difference (a maiden name) with a reason: the provider is then linked to
  the stored ID.me identity exactly as a matching verification would (IAL2 still required, one
  ID.me account per provider), provided the review is under `REVIEW_MAX_AGE` old and the EHR
  profile has not changed since ID.me answered;
- reject it, with an optional reason: nothing is linked.

Every decision and every refused attempt is audited with who, the reason and both names.

Reviews happen inside a practice (ASVS-11): an access manager of practice P sees and decides
only the mismatches of people who are members of P; another person's review is "not found".
Identity belongs to the person, so a confirmed link counts in every practice they work in.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

import audit
from audit.models import Outcome
from providers import erx_cache
from providers.identity.binding import ehr_identity
from providers.identity.services import VerificationFailure, link_refusal, store_link
from providers.models import IdentityMismatch, IdentityMismatchStatus, Practice, Provider, User
from providers.roles import is_access_manager

# An ID.me answer older than this is not confirmed: the prescriber verifies again.
REVIEW_MAX_AGE = dt.timedelta(days=30)
REQUIRED_IAL = 2
REASON_MAX_LENGTH = 300


class ReviewRefusal(StrEnum):
    NOT_ACCESS_MANAGER = "not_access_manager"
    OWN_IDENTITY = "own_identity"
    NOT_PENDING = "not_pending"
    REASON_REQUIRED = "reason_required"
    EXPIRED = "expired"
    NOT_IAL2 = "not_ial2"
    PROFILE_CHANGED = "profile_changed"
    UUID_LINKED_ELSEWHERE = "uuid_linked_elsewhere"
    PROVIDER_LINKED_ELSEWHERE = "provider_linked_elsewhere"


REFUSAL_MESSAGES: dict[ReviewRefusal, str] = {
    ReviewRefusal.NOT_ACCESS_MANAGER: "Only an EPCS access manager can review identity mismatches.",
    ReviewRefusal.OWN_IDENTITY: "You cannot review your own identity: another EPCS access manager must do it.",
    ReviewRefusal.NOT_PENDING: "This identity mismatch is no longer waiting for review.",
    ReviewRefusal.REASON_REQUIRED: "Give the reason the difference is legitimate (for example a maiden name).",
    ReviewRefusal.EXPIRED: "This ID.me result is more than 30 days old. Ask the prescriber to verify with ID.me again.",
    ReviewRefusal.NOT_IAL2: "This ID.me identity is not verified at IAL2, so it cannot confirm a prescriber.",
    ReviewRefusal.PROFILE_CHANGED: "The prescriber's EHR profile (name or date of birth) changed after ID.me "
    "answered. Ask the prescriber to verify with ID.me again.",
    ReviewRefusal.UUID_LINKED_ELSEWHERE: "This ID.me account is already linked to another provider.",
    ReviewRefusal.PROVIDER_LINKED_ELSEWHERE: "The prescriber is already linked to a different ID.me account.",
}


# The link rules of providers.identity.services, as review refusals.
_LINK_REFUSALS: dict[VerificationFailure, ReviewRefusal] = {
    VerificationFailure.UUID_LINKED_ELSEWHERE: ReviewRefusal.UUID_LINKED_ELSEWHERE,
    VerificationFailure.PROVIDER_LINKED_ELSEWHERE: ReviewRefusal.PROVIDER_LINKED_ELSEWHERE,
}


class IdentityReviewRefused(Exception):
    """The review step is not allowed; `code` says why, `message` is for the reviewer."""

    def __init__(self, code: ReviewRefusal) -> None:
        super().__init__(REFUSAL_MESSAGES[code])
        self.code = code
        self.message = REFUSAL_MESSAGES[code]


def can_review(user: Any, practice: Practice | None) -> bool:
    return is_access_manager(user, practice)


def mismatches_of(practice: Practice | None) -> QuerySet[IdentityMismatch]:
    """The mismatches of the practice's people (members in any role); none outside a practice."""
    if practice is None:
        return IdentityMismatch.objects.none()
    members = Provider.objects.filter(user__memberships__practice=practice).values("pk")
    return IdentityMismatch.objects.filter(provider__in=members)


def pending_mismatches(practice: Practice | None) -> QuerySet[IdentityMismatch]:
    return mismatches_of(practice).filter(status=IdentityMismatchStatus.PENDING).select_related("provider__user")


def decided_mismatches(practice: Practice | None, limit: int = 25) -> list[IdentityMismatch]:
    decided = (IdentityMismatchStatus.CONFIRMED, IdentityMismatchStatus.REJECTED)
    return list(
        mismatches_of(practice).filter(status__in=decided).select_related("provider__user", "decided_by")[:limit]
    )


def is_expired(mismatch: IdentityMismatch, now: dt.datetime | None = None) -> bool:
    return (now or timezone.now()) - mismatch.created_at > REVIEW_MAX_AGE


def _details(mismatch: IdentityMismatch, **extra: object) -> dict[str, object]:
    return {
        "mismatch_id": mismatch.pk,
        "idme_uuid": mismatch.idme_uuid,
        "idme_name": mismatch.idme_name,
        "ehr_name": mismatch.ehr_name,
        "differences": list(mismatch.differences),
        **extra,
    }


def _refuse(
    code: ReviewRefusal, *, actor: User, mismatch: IdentityMismatch, decision: str, request: HttpRequest | None
) -> IdentityReviewRefused:
    audit.record(
        "identity.mismatch_review_refused",
        actor=actor,
        target=mismatch.provider,
        outcome=Outcome.DENIED,
        request=request,
        details=_details(mismatch, decision=decision, refusal=code),
    )
    return IdentityReviewRefused(code)


def _authority_refusal(actor: User, mismatch: IdentityMismatch, practice: Practice | None) -> ReviewRefusal | None:
    if not can_review(actor, practice):
        return ReviewRefusal.NOT_ACCESS_MANAGER
    if mismatch.provider.user_id == actor.pk:
        return ReviewRefusal.OWN_IDENTITY
    if not mismatch.is_pending:
        return ReviewRefusal.NOT_PENDING
    return None


def _confirm_refusal(locked_provider: Provider, mismatch: IdentityMismatch, reason: str) -> ReviewRefusal | None:
    if not reason:
        return ReviewRefusal.REASON_REQUIRED
    if is_expired(mismatch):
        return ReviewRefusal.EXPIRED
    if mismatch.idme_ial < REQUIRED_IAL:
        return ReviewRefusal.NOT_IAL2
    if ehr_identity(locked_provider) != (mismatch.ehr_first_name, mismatch.ehr_last_name, mismatch.ehr_birth_date):
        return ReviewRefusal.PROFILE_CHANGED
    link = link_refusal(locked_provider, mismatch.idme_uuid)
    if link is not None:
        return _LINK_REFUSALS[link]
    return None


def _locked(mismatch_id: int, practice: Practice | None) -> tuple[Provider, IdentityMismatch]:
    """The mismatch of one of the practice's people and its provider, row-locked in that order
    (provider first, as at the callback). Another practice's: IdentityMismatch.DoesNotExist."""
    provider_id = mismatches_of(practice).values_list("provider_id", flat=True).get(pk=mismatch_id)
    provider = Provider.objects.select_related("user").select_for_update().get(pk=provider_id)
    mismatch = IdentityMismatch.objects.select_for_update().select_related("provider__user").get(pk=mismatch_id)
    return provider, mismatch


def confirm_mismatch(
    *, actor: User, practice: Practice | None, mismatch_id: int, reason: str, request: HttpRequest | None = None
) -> Provider:
    """Confirm a legitimate difference: link the provider to the stored ID.me identity.

    Raises IdentityReviewRefused (audited) and changes nothing when the rule says no.
    """
    reason = reason.strip()[:REASON_MAX_LENGTH]
    refusal: IdentityReviewRefused | None = None
    try:
        with transaction.atomic():
            provider, mismatch = _locked(mismatch_id, practice)
            code = _authority_refusal(actor, mismatch, practice) or _confirm_refusal(provider, mismatch, reason)
            if code is not None:
                refusal = _refuse(code, actor=actor, mismatch=mismatch, decision="confirm", request=request)
            else:
                store_link(provider, uuid=mismatch.idme_uuid, aal=mismatch.idme_aal)
                _decide(mismatch, IdentityMismatchStatus.CONFIRMED, actor, reason)
                details = _details(mismatch, reason=reason, ial=mismatch.idme_ial, aal=mismatch.idme_aal)
                audit.record(
                    "identity.mismatch_confirmed", actor=actor, target=provider, request=request, details=details
                )
                audit.record(
                    "identity.verified",
                    actor=actor,
                    target=provider,
                    request=request,
                    details={**details, "confirmed_by": actor.get_username()},
                )
    except IntegrityError:  # a concurrent link of the same uuid won the race
        refusal = IdentityReviewRefused(ReviewRefusal.UUID_LINKED_ELSEWHERE)
    if refusal is not None:
        raise refusal
    return provider


def reject_mismatch(
    *, actor: User, practice: Practice | None, mismatch_id: int, reason: str, request: HttpRequest | None = None
) -> None:
    """Reject the difference: nothing is linked; the prescriber may verify again."""
    reason = reason.strip()[:REASON_MAX_LENGTH]
    refusal: IdentityReviewRefused | None = None
    with transaction.atomic():
        provider, mismatch = _locked(mismatch_id, practice)
        code = _authority_refusal(actor, mismatch, practice)
        if code is not None:
            refusal = _refuse(code, actor=actor, mismatch=mismatch, decision="reject", request=request)
        else:
            _decide(mismatch, IdentityMismatchStatus.REJECTED, actor, reason)
            audit.record(
                "identity.mismatch_rejected",
                actor=actor,
                target=provider,
                request=request,
                details=_details(mismatch, reason=reason),
            )
    if refusal is not None:
        raise refusal


def _decide(mismatch: IdentityMismatch, status: IdentityMismatchStatus, actor: User, reason: str) -> None:
    mismatch.status = status
    mismatch.decided_by = actor
    mismatch.decided_at = timezone.now()
    mismatch.decision_reason = reason
    mismatch.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
    erx_cache.bump_section(erx_cache.IDENTITY, mismatch.provider_id)
