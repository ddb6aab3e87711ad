"""Completion of the "epcs_sign" purpose: an approved 2FA challenge signs the ceremony's
prescriptions, in the same transaction that marks the challenge approved (DEA-11), and only
if they are still exactly what the review showed (DEA-19).

Registered in EprescribeConfig.ready(). The code path (mfa.challenges.submit_code) and the
push path (mfa.challenges.apply_push_status, run by the Celery poller or a page's refresh)
both arrive here. Raising CompletionRefused rolls the approval back and marks the challenge
failed: nothing is signed. Its code is a CeremonyEnd or a CompletionStop value;
`record_refusal` then ends the ceremony, naming what changed, in the transaction that marks
the challenge failed.
"""

from __future__ import annotations

from enum import StrEnum

from eprescribe import ceremony_binding as binding
from eprescribe import ceremony_selection as selection
from eprescribe.models import CeremonyEnd, CeremonyState, SigningCeremony
from eprescribe.services import (
    ContentChanged,
    PrescriptionError,
    SigningRefused,
    lock_epcs_permission,
    sign_reviewed,
)
from mfa.challenges import CompletionRefused, register_completion
from mfa.models import VerificationChallenge
from mfa.outcomes import Sentence


class CompletionStop(StrEnum):
    """Why an approved 2FA signed nothing, other than a change after the review (CeremonyEnd)."""

    NO_CEREMONY = "no_ceremony"
    CEREMONY_CLOSED = "ceremony_closed"
    NOT_SIGNABLE = "not_signable"
    UNAVAILABLE = "unavailable"
    REFUSED = "refused"


NOTHING_SIGNED = "Nothing was signed."

# eprescribe's words for what the 2FA step tells the clinician while signing (mfa.outcomes.Sentence).
SIGNING_SENTENCES: dict[Sentence, str] = {
    Sentence.CHALLENGE_FAILED: "Too many wrong codes: this signing has ended and nothing was signed. Start again.",
    Sentence.LOCKED: (
        f"Too many wrong codes: two-factor authentication is locked for your account until {{until}}. {NOTHING_SIGNED}"
    ),
    Sentence.CODE_UNCHECKED: f"ID.me cannot be reached right now, so the code could not be checked. {NOTHING_SIGNED}",
    Sentence.DEVICE_LOCKED: f"ID.me has locked this device after too many wrong codes. {NOTHING_SIGNED}",
    Sentence.DEVICE_GONE: f"ID.me no longer knows this device. Update your devices on eRx Info. {NOTHING_SIGNED}",
    Sentence.PUSH_UNSENT: "ID.me cannot be reached right now, so nothing can be signed. Try again soon.",
    Sentence.PUSH_DENIED: f"The request was denied on your phone. {NOTHING_SIGNED}",
    Sentence.PUSH_EXPIRED: f"The push request expired before it was approved. {NOTHING_SIGNED}",
    Sentence.PUSH_CANCELLED: f"The push request was cancelled. {NOTHING_SIGNED}",
    Sentence.CODE_EXPIRED: f"The time to enter a code ran out. {NOTHING_SIGNED}",
    Sentence.CANCELLED: f"Cancelled. {NOTHING_SIGNED}",
    Sentence.ERROR: "Something went wrong while completing this request, so nothing was signed. Try again.",
    # The ceremony page shows why it ended (the failed challenge's reason) beside this.
    Sentence.ENDED: f"This signing has ended and cannot be retried. {NOTHING_SIGNED}",
}


def _refuse(message: str, code: StrEnum, **details: object) -> CompletionRefused:
    """A refusal worded by eprescribe: `message` says why, and that nothing was signed."""
    return CompletionRefused(f"{message} {NOTHING_SIGNED}", code=str(code), details=dict(details))


def _refused_signing(exc: SigningRefused, code: StrEnum, **details: object) -> CompletionRefused:
    """sign_prescriptions refused: its SigningRefused message already says nothing was signed."""
    return CompletionRefused(str(exc), code=str(code), details=dict(details))


def complete_signing(challenge: VerificationChallenge) -> None:
    """In mfa's transaction that approves `challenge` (row-locked with its provider and user):
    lock the ceremony's prescriptions, then the ceremony, check them against the review and the
    signing rules, sign. Each row is read once, under its lock; the audit events of the signing
    and of the binding are written in one INSERT with the signatures."""
    provider = challenge.provider
    ceremony_id = binding.ceremony_id_of(challenge.subject)
    if ceremony_id is None:
        raise _refuse("This signing has no review.", CompletionStop.NO_CEREMONY)
    # Lock order as in eprescribe.services: the prescriptions, then the ceremony.
    try:
        ceremony, prescriptions, reviewed = binding.lock_for_completion(provider, ceremony_id)
    except SigningCeremony.DoesNotExist:
        raise _refuse("This signing has no review.", CompletionStop.NO_CEREMONY) from None
    if ceremony.state != CeremonyState.OPEN:
        raise _refuse("This signing has ended.", CompletionStop.CEREMONY_CLOSED)
    # Everything is checked against the practice the ceremony was opened in (ASVS-11): a
    # prescription moved to another practice is "changed" (compare), and the EPCS permission
    # of that practice, read row-locked once, must still allow signing (check_selection here,
    # and sign_reviewed again).
    practice = ceremony.practice
    check = binding.compare(ceremony, prescriptions, reviewed)
    if check.reason is not None:
        raise _refuse("What you reviewed has changed.", check.reason, prescriptions=check.prescription_ids)
    permission = lock_epcs_permission(provider, practice)
    try:
        selection.check_selection(provider, practice, prescriptions, permission=permission)
    except selection.SelectionError as exc:
        raise _refuse(str(exc), CompletionStop.NOT_SIGNABLE) from exc
    # mfa wrote the approval's audit event in this transaction, and the signing writes its own
    # or signs nothing (DEA-16): the trail needs no extra read here.
    unavailable = selection.unavailable_reason(audit_written=True)
    if unavailable:
        raise _refuse(unavailable, CompletionStop.UNAVAILABLE)
    try:
        sign_reviewed(
            provider=provider,
            practice=practice,
            locked=prescriptions,
            reviewed_digests=reviewed,
            permission=permission,
            challenge=challenge,
            also_record=[binding.signed_event(ceremony, challenge.pk, reviewed)],
        )
    except ContentChanged as exc:
        raise _refused_signing(exc, CeremonyEnd.PRESCRIPTION_CHANGED, prescriptions=exc.prescription_ids) from exc
    except SigningRefused as exc:
        raise _refused_signing(exc, CompletionStop.REFUSED) from exc
    except PrescriptionError as exc:
        raise _refuse(str(exc), CompletionStop.REFUSED) from exc
    binding.set_signed(ceremony)


def record_refusal(challenge: VerificationChallenge, refusal: CompletionRefused) -> None:
    """After a refused completion: a change after the review ends the ceremony, naming it."""
    if refusal.code not in CeremonyEnd.values:
        return
    ceremony_id = binding.ceremony_id_of(challenge.subject)
    ceremony = (
        SigningCeremony.objects.filter(pk=ceremony_id, provider=challenge.provider).first() if ceremony_id else None
    )
    if ceremony is None:
        return
    changed = [int(pk) for pk in refusal.details.get("prescriptions", [])]
    binding.end(ceremony, CeremonyEnd(refusal.code), changed, actor=challenge.provider.user)


def register() -> None:
    register_completion(selection.PURPOSE, complete_signing, on_refused=record_refusal, sentences=SIGNING_SENTENCES)
