"""Append-only, hash-chained audit trail. Every app records through `audit.record(...)`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from audit.models import AuditEvent


def record(action: str, **kwargs: Any) -> AuditEvent:
    """Append one event to the trail; see audit.services.build_event for the arguments."""
    from audit.services import record_event

    return record_event(action, **kwargs)


def record_many(entries: list[tuple[str, dict[str, Any]]]) -> list[AuditEvent]:
    """Append several events at once, in order: (action, arguments of record) pairs.

    One lock and one insert for a batch, e.g. every prescription of one signing.
    """
    from audit.services import append_events, build_event

    return append_events([build_event(action, **kwargs) for action, kwargs in entries])
