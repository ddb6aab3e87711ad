"""The one table of webhook event types and the audit actions they come from, and the payload.

The payload carries ids only: the event type, when it happened, the audit event's id, the
practice, the object's type and id and, where the audit event names one, the provider's id.
No patient name, drug, prescriber name, device name or free text (a permission request's
note) leaves the EHR by webhook: the receiver is a third party outside the EHR's access
control and audit, and with ids it fetches what it needs through the API, where access
control, scopes and the audit trail apply (docs/api.md "Webhooks").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from audit.models import AuditEvent


class EventType(StrEnum):
    PRESCRIPTION_SIGNED = "prescription.signed"
    PRESCRIPTION_TRANSMITTED = "prescription.transmitted"
    PRESCRIPTION_TRANSMISSION_FAILED = "prescription.transmission_failed"
    PRESCRIPTION_CANCELLED = "prescription.cancelled"
    EPCS_PERMISSION_REQUESTED = "epcs_permission.requested"
    EPCS_PERMISSION_GRANTED = "epcs_permission.granted"
    EPCS_PERMISSION_REVOKED = "epcs_permission.revoked"
    DEVICE_ADDED = "device.added"
    DEVICE_REMOVED = "device.removed"
    DEVICE_PRIMARY_CHANGED = "device.primary_changed"
    IDENTITY_CONFIRMED = "identity.confirmed"

    @property
    def label(self) -> str:
        return EVENT_LABELS[self]


EVENT_LABELS: dict[EventType, str] = {
    EventType.PRESCRIPTION_SIGNED: "Prescription signed",
    EventType.PRESCRIPTION_TRANSMITTED: "Prescription transmitted to the pharmacy",
    EventType.PRESCRIPTION_TRANSMISSION_FAILED: "Prescription transmission failed",
    EventType.PRESCRIPTION_CANCELLED: "Prescription cancelled",
    EventType.EPCS_PERMISSION_REQUESTED: "EPCS permission change requested (grant or revoke)",
    EventType.EPCS_PERMISSION_GRANTED: "EPCS permission granted",
    EventType.EPCS_PERMISSION_REVOKED: "EPCS permission revoked",
    EventType.DEVICE_ADDED: "MFA device added",
    EventType.DEVICE_REMOVED: "MFA device removed",
    EventType.DEVICE_PRIMARY_CHANGED: "Primary MFA device changed (chosen or cleared)",
    EventType.IDENTITY_CONFIRMED: "Identity confirmed at ID.me",
}

EVENT_CHOICES = [(event.value, event.label) for event in EventType]


@dataclass(frozen=True)
class Mapping:
    event: EventType
    # Keys of the audit event's details copied into the payload: ids and enum values only.
    detail_keys: tuple[str, ...] = ()


# The one table: audit action -> webhook event type. An action not listed is never delivered.
EVENT_FOR_ACTION: dict[str, Mapping] = {
    "eprescribe.signed": Mapping(EventType.PRESCRIPTION_SIGNED),
    "eprescribe.transmitted": Mapping(EventType.PRESCRIPTION_TRANSMITTED, ("attempt",)),
    "eprescribe.transmission_failed": Mapping(EventType.PRESCRIPTION_TRANSMISSION_FAILED, ("attempts",)),
    "eprescribe.cancelled": Mapping(EventType.PRESCRIPTION_CANCELLED),
    "epcs.permission_request_entered": Mapping(EventType.EPCS_PERMISSION_REQUESTED, ("action",)),
    "epcs.permission_granted": Mapping(EventType.EPCS_PERMISSION_GRANTED),
    "epcs.permission_revoked": Mapping(EventType.EPCS_PERMISSION_REVOKED),
    "mfa.device_added": Mapping(EventType.DEVICE_ADDED),
    "mfa.device_removed": Mapping(EventType.DEVICE_REMOVED),
    "mfa.primary_device_selected": Mapping(EventType.DEVICE_PRIMARY_CHANGED),
    "mfa.primary_device_cleared": Mapping(EventType.DEVICE_PRIMARY_CHANGED, ("reason",)),
    "identity.verified": Mapping(EventType.IDENTITY_CONFIRMED),
}


def utc_iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _id_value(value: Any) -> int | str | None:
    """Only a plain id or short enum value is copied; anything else (text, lists) is not."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and len(value) <= 40 and value.replace("_", "").replace("-", "").isalnum():
        return value
    return None


def payload_for(event: AuditEvent, mapping: Mapping) -> dict[str, Any]:
    """The JSON document delivered for one audit event (Standard Webhooks: type, timestamp, data)."""
    details = event.details or {}
    data: dict[str, Any] = {
        "audit_event_id": event.pk,
        "practice_id": event.chain_id,
        "object": {"type": event.target_type, "id": event.target_id},
        "outcome": event.outcome,
    }
    provider_id = _id_value(details.get("provider_id"))
    if isinstance(provider_id, int):
        data["provider_id"] = provider_id
    elif event.target_type == "providers.provider" and event.target_id.isdigit():
        data["provider_id"] = int(event.target_id)
    for key in mapping.detail_keys:
        value = _id_value(details.get(key))
        if value is not None:
            data[key] = value
    return {"type": mapping.event.value, "timestamp": utc_iso(event.occurred_at), "data": data}
