"""Completion of the "epcs_sign" purpose: an approved 2FA challenge signs the ceremony's
prescriptions, in the same transaction that marks the challenge approved (DEA-11).

Registered in EprescribeConfig.ready(). Raising CompletionRefused rolls the approval back
and marks the challenge failed: nothing is signed.
"""

from __future__ import annotations

from eprescribe import ceremony_selection as selection
from mfa.challenges import CompletionRefused
from mfa.models import VerificationChallenge


def complete_signing(challenge: VerificationChallenge) -> None:
    from eprescribe.services import PrescriptionError, sign_prescriptions

    provider = challenge.provider
    ids = [int(i) for i in challenge.context.get("prescription_ids", [])]
    if not ids:
        raise CompletionRefused("This signing has no prescriptions.")
    try:
        prescriptions = selection.load_selection(provider, ids, for_update=True)
    except selection.SelectionError as exc:
        raise CompletionRefused(f"{exc} Nothing was signed.") from exc
    unavailable = selection.unavailable_reason()
    if unavailable:
        raise CompletionRefused(unavailable)
    try:
        sign_prescriptions(
            provider=provider,
            prescriptions=prescriptions,
            device_label=challenge.device_label,
            challenge_id=challenge.pk,
        )
    except PrescriptionError as exc:
        message = str(exc)
        raise CompletionRefused(
            message if "nothing was signed" in message.lower() else f"{message} Nothing was signed."
        ) from exc


def register() -> None:
    from mfa.challenges import register_completion

    register_completion(selection.PURPOSE, complete_signing)
