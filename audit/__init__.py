"""Append-only audit trail, one hash chain per practice. Every app records through `audit.record(...)`.

`chain=` names the practice (or its id) an event belongs to; the default, None, is the chain
of events that belong to no practice. Events are written in the caller's transaction and get
their place in the chain from the sequencer after commit (docs/audit.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.http import HttpRequest

    from audit.models import AuditEvent


def record(
    action: str,
    *,
    actor: Any = None,
    target: Any = None,
    outcome: str | None = None,
    request: HttpRequest | None = None,
    details: dict[str, Any] | None = None,
    chain: Any = None,
) -> AuditEvent:
    """Append one event to the trail: who (`actor`, else the request's user) did `action`
    to `target` (a model instance or a (type, id) pair), with what `outcome` (an
    audit.models.Outcome; success unless told) and `details`, in the hash chain of `chain`
    (a practice or its id; None: the chain of events that belong to no practice).

    The import is lazy so that `import audit` loads no model."""
    from audit.services import append_events, build_event

    event = build_event(
        action, actor=actor, target=target, outcome=outcome, request=request, details=details, chain=chain
    )
    return append_events([event])[0]


def record_many(entries: list[tuple[str, dict[str, Any]]]) -> list[AuditEvent]:
    """Append several events at once, in order: (action, arguments of record) pairs.

    One insert for a batch, e.g. every prescription of one signing; no lock is taken.
    """
    from audit.services import append_events, build_event

    return append_events([build_event(action, **kwargs) for action, kwargs in entries])
