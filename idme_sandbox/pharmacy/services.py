"""Receiving NewRx messages and the simulator's failure mode."""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from idme_sandbox.models import PharmacyMessage, PharmacyNetworkMode

MAX_MESSAGE_BYTES = 64 * 1024


class MessageRejected(Exception):
    """The message is not a NewRx the network can route; the text says why."""


@dataclass(frozen=True)
class Refusal:
    status: int


def network_mode() -> PharmacyNetworkMode:
    mode, _ = PharmacyNetworkMode.objects.get_or_create(pk=1)
    return mode


def set_failure_mode(*, failing: bool, status: int = 503, count: int = 0) -> PharmacyNetworkMode:
    with transaction.atomic():
        mode = PharmacyNetworkMode.objects.select_for_update().filter(pk=1).first() or network_mode()
        mode.failing = failing
        mode.failure_status = status
        mode.failures_left = count if failing else 0
        mode.updated_at = timezone.now()
        mode.save()
    return mode


def take_refusal() -> Refusal | None:
    """Whether to refuse the next message (and count it down)."""
    with transaction.atomic():
        mode = PharmacyNetworkMode.objects.select_for_update().filter(pk=1).first()
        if mode is None or not mode.failing:
            return None
        status = mode.failure_status
        if mode.failures_left:
            mode.failures_left -= 1
            if mode.failures_left == 0:
                mode.failing = False
            mode.save(update_fields=["failures_left", "failing"])
        return Refusal(status)


def _find(root: ET.Element, path: str) -> str:
    node = root.find(path)
    return (node.text or "").strip() if node is not None else ""


def receive_new_rx(body: bytes) -> PharmacyMessage:
    """Store one NewRx; the same MessageID twice is stored once (a resend)."""
    if len(body) > MAX_MESSAGE_BYTES:
        raise MessageRejected("The message is too large.")
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise MessageRejected("Document type declarations are not accepted.")
    try:
        # DTDs are refused above, so entity expansion (the XML bombs) cannot happen.
        root = ET.fromstring(body)  # noqa: S314
    except ET.ParseError as exc:
        raise MessageRejected(f"The message is not well-formed XML ({exc}).") from None
    if root.tag != "Message" or root.find("Body/NewRx") is None:
        raise MessageRejected("Only NewRx messages are accepted.")
    message_id = _find(root, "Header/MessageID")
    ncpdp_id = _find(root, "Header/To")
    if not message_id or not (ncpdp_id.isdigit() and len(ncpdp_id) == 7):
        raise MessageRejected("The header needs a MessageID and a 7-digit NCPDP id in To.")
    signature = root.find("Header/DigitalSignature")
    existing = PharmacyMessage.objects.filter(message_id=message_id[:100]).first()
    if existing:
        return existing
    name = "Body/NewRx/Patient/HumanPatient/Name/"
    patient = f"{_find(root, name + 'FirstName')} {_find(root, name + 'LastName')}"
    try:
        return PharmacyMessage.objects.create(
            ack_id=f"PN-{secrets.token_hex(8)}",
            message_id=message_id[:100],
            pharmacy_ncpdp_id=ncpdp_id,
            patient_name=patient.strip()[:200],
            prescriber_dea_number=_find(root, "Body/NewRx/Prescriber/NonVeterinarian/Identification/DEANumber")[:9],
            drug_description=_find(root, "Body/NewRx/MedicationPrescribed/DrugDescription")[:300],
            dea_schedule_code=_find(root, "Body/NewRx/MedicationPrescribed/DrugCoded/DEASchedule/Code")[:10],
            digitally_signed=signature is not None and signature.get("Indicator") == "true",
            body=body.decode("utf-8", errors="replace"),
        )
    except IntegrityError:
        return PharmacyMessage.objects.get(message_id=message_id[:100])
