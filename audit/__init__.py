"""Append-only, hash-chained audit trail. Every app records through `audit.record(...)`."""

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
) -> AuditEvent:
    """Append one event to the trail: who (`actor`, else the request's user) did `action`
    to `target` (a model instance or a (type, id) pair), with what `outcome` (an
    audit.models.Outcome; success unless told) and `details`.

    The import is lazy so that `import audit` loads no model."""
    from audit.services import append_events, build_event

    event = build_event(action, actor=actor, target=target, outcome=outcome, request=request, details=details)
    return append_events([event])[0]


def record_many(entries: list[tuple[str, dict[str, Any]]]) -> list[AuditEvent]:
    """Append several events at once, in order: (action, arguments of record) pairs.

    One lock and one insert for a batch, e.g. every prescription of one signing.
    """
    from audit.services import append_events, build_event

    return append_events([build_event(action, **kwargs) for action, kwargs in entries])
