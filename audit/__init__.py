"""Append-only, hash-chained audit trail. Every app records through `audit.record(...)`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from audit.models import AuditEvent


def record(action: str, **kwargs: Any) -> AuditEvent:
    """Append one event to the trail; see audit.services.record_event for the arguments."""
    from audit.services import record_event

    return record_event(action, **kwargs)
