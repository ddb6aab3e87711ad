"""Append-only audit trail, one hash chain per practice. Every app records through `audit.record(...)`.

`chain=` names the practice (or its id) an event belongs to; the default, None, is the chain
of events that belong to no practice. Events are written in the caller's transaction and get
their place in the chain from the sequencer after commit (docs/audit.md)."""

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

    One insert for a batch, e.g. every prescription of one signing; no lock is taken.
    """
    from audit.services import append_events, build_event

    return append_events([build_event(action, **kwargs) for action, kwargs in entries])
