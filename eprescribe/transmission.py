"""Sending signed prescriptions to the pharmacy gateway (DEA-12, DEA-15).

The Celery task (eprescribe.tasks) calls `transmit`; transient failures raise
`TransmissionRetryable` for Celery's retry with exponential backoff, and the last failure
marks the prescription "transmission failed" (shown to the prescriber with Retry).
"""

from __future__ import annotations

import logging

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone

import audit
from audit import keys
from audit.models import Outcome
from eprescribe import ncpdp, signing
from eprescribe.models import Prescription, PrescriptionState
from providers.models import User

logger = logging.getLogger(__name__)


class TransmissionRetryable(Exception):
    """The gateway could not take the message now; try again later."""


def gateway_url() -> str:
    return str(settings.PHARMACY_GATEWAY_URL)


def _system_actor(rx: Prescription) -> User:
    # Transmission acts for the prescriber who signed.
    return rx.prescriber.user


def stored_signature_valid(rx: Prescription) -> bool:
    payload = rx.canonical_payload.encode()
    if signing.digest(payload) != rx.digest_sha256:
        return False
    public = keys.trusted_public_keys().get(rx.signing_key_id)
    return public is not None and keys.verify(public, payload, rx.signature)


def transmit(prescription_id: int, attempt: int = 1) -> str:
    """Send one signed prescription. Returns what happened: sent | skipped | refused | failed."""
    rx = (
        Prescription.objects.select_related("practice", "patient", "prescriber__user", "pharmacy", "medication")
        .filter(pk=prescription_id)
        .first()
    )
    if rx is None:
        return "skipped"
    if not rx.is_signed:
        # DEA-12: never send an unsigned prescription, whatever queued it.
        audit.record(
            "eprescribe.transmission_refused",
            actor=_system_actor(rx),
            target=rx,
            chain=rx.practice_id,
            outcome=Outcome.DENIED,
            details={"reason": "not signed", "state": rx.state},
        )
        return "refused"
    if rx.state != PrescriptionState.SIGNED:
        return "skipped"  # already sent, cancelled, or waiting for the prescriber's Retry
    if not stored_signature_valid(rx):
        record_final_failure(rx.pk, "The prescription's digital signature does not verify; it was not sent.")
        audit.record(
            "eprescribe.signature_tamper_detected",
            actor=_system_actor(rx),
            target=rx,
            chain=rx.practice_id,
            outcome=Outcome.FAILURE,
        )
        return "failed"
    Prescription.objects.filter(pk=rx.pk).update(transmission_attempts=attempt)
    if not gateway_url():
        record_final_failure(rx.pk, "No pharmacy gateway is configured (PHARMACY_GATEWAY_URL); nothing was sent.")
        return "failed"
    message = ncpdp.build_new_rx(rx)
    try:
        response = requests.post(
            gateway_url(),
            data=message,
            headers={"Content-Type": "application/xml", "Accept": "application/json"},
            timeout=float(settings.PHARMACY_GATEWAY_TIMEOUT_SECONDS),
        )
    except requests.RequestException as exc:
        reason = f"The pharmacy network could not be reached ({type(exc).__name__})."
        _attempt_failed(rx, attempt, reason)
        raise TransmissionRetryable(reason) from exc
    if response.status_code in (200, 201, 202):
        _record_sent(rx, _message_id(response) or ncpdp.message_id_for(rx), attempt)
        return "sent"
    reason = f"The pharmacy network answered {response.status_code}."
    if response.status_code == 429 or response.status_code >= 500:
        _attempt_failed(rx, attempt, reason)
        raise TransmissionRetryable(reason)
    # Any other 4xx: the message itself was refused; retrying the same message will not help.
    record_final_failure(rx.pk, f"{reason} The message was refused.")
    return "failed"


def _message_id(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("message_id", ""))[:100] if isinstance(body, dict) else ""


def _attempt_failed(rx: Prescription, attempt: int, reason: str) -> None:
    Prescription.objects.filter(pk=rx.pk).update(transmission_error=reason[:500])
    audit.record(
        "eprescribe.transmission_attempt_failed",
        actor=_system_actor(rx),
        target=rx,
        outcome=Outcome.FAILURE,
        details={"attempt": attempt, "reason": reason, "gateway": gateway_url()},
    )


def _record_sent(rx: Prescription, message_id: str, attempt: int) -> None:
    with transaction.atomic():
        locked = Prescription.objects.select_for_update().get(pk=rx.pk)
        if locked.transmitted_at is not None:
            return  # a concurrent send of the same message was recorded already
        if locked.state in (PrescriptionState.SIGNED, PrescriptionState.TRANSMISSION_FAILED):
            locked.state = PrescriptionState.TRANSMITTED
        locked.transmitted_at = timezone.now()
        locked.pharmacy_message_id = message_id
        locked.transmission_error = ""
        locked.save(
            update_fields=["state", "transmitted_at", "pharmacy_message_id", "transmission_error", "updated_at"]
        )
        audit.record(
            "eprescribe.transmitted",
            actor=_system_actor(rx),
            target=rx,
            chain=rx.practice_id,
            details={"message_id": message_id, "attempt": attempt, "pharmacy_ncpdp_id": rx.pharmacy.ncpdp_id},
        )


def record_final_failure(prescription_id: int, reason: str) -> None:
    """Mark a signed prescription's transmission failed (DEA-15: reported to the prescriber)."""
    with transaction.atomic():
        rx = (
            Prescription.objects.select_for_update(of=("self",))
            .select_related("prescriber__user")
            .filter(pk=prescription_id)
            .first()
        )
        if rx is None or rx.state != PrescriptionState.SIGNED:
            return
        rx.state = PrescriptionState.TRANSMISSION_FAILED
        rx.transmission_error = reason[:500]
        rx.save(update_fields=["state", "transmission_error", "updated_at"])
        audit.record(
            "eprescribe.transmission_failed",
            actor=_system_actor(rx),
            target=rx,
            chain=rx.practice_id,
            outcome=Outcome.FAILURE,
            details={"reason": reason, "attempts": rx.transmission_attempts},
        )
