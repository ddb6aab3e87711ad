"""Writing, verifying and analysing the audit trail."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.models import AuditEvent, IncidentReport, Outcome

GENESIS_HASH = "0" * 64
# Serialises appends on PostgreSQL so each event chains onto the true previous one. Our
# PostgreSQL backend already takes this lock when a transaction begins (ehr.db.postgresql),
# and SQLite's IMMEDIATE transactions serialise writers; taking it here again is re-entrant
# and keeps the rule true for any other connection.
_CHAIN_LOCK_ID = 7_311_150
# Actions that count as security events in the daily incident report.
SECURITY_ACTION_MARKERS = ("fail", "lock", "denied", "replay", "forged", "lost", "tamper", "rate_limit")


def _event_hash(event: AuditEvent) -> str:
    payload = {
        "occurred_at": event.occurred_at.isoformat(),
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "outcome": event.outcome,
        "ip_address": event.ip_address,
        "user_agent": event.user_agent,
        "details": event.details,
        "previous_hash": event.previous_hash,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _client_ip(request: HttpRequest) -> str | None:
    # REMOTE_ADDR only: a forwarded header is trusted only by a proxy-aware deployment.
    return request.META.get("REMOTE_ADDR") or None


def build_event(
    action: str,
    *,
    actor: Any = None,
    target: Any = None,
    outcome: str | None = None,
    request: HttpRequest | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """An unsaved event; `target` is a model instance or a (type, id) pair."""
    if actor is None and request is not None and request.user.is_authenticated:
        actor = request.user
    if target is None:
        target_type, target_id = "", ""
    elif isinstance(target, tuple):
        target_type, target_id = str(target[0]), str(target[1])
    else:
        target_type, target_id = target._meta.label_lower, str(target.pk)
    return AuditEvent(
        occurred_at=timezone.now(),
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=getattr(actor, "username", "") or "",
        action=action,
        target_type=target_type,
        target_id=target_id,
        outcome=str(outcome or Outcome.SUCCESS),
        ip_address=_client_ip(request) if request else None,
        user_agent=(request.META.get("HTTP_USER_AGENT", "")[:512] if request else ""),
        details=json.loads(json.dumps(details or {}, default=str)),
    )


def append_events(events: list[AuditEvent]) -> list[AuditEvent]:
    """Chain and insert events in order: one lock, one read of the head, one INSERT."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_ID])
        previous = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first() or GENESIS_HASH
        for event in events:
            event.previous_hash = previous
            event.hash = previous = _event_hash(event)
        AuditEvent.objects.bulk_create(events)
    return events


@dataclass(frozen=True)
class ChainCheck:
    events_checked: int
    first_broken_id: int | None

    @property
    def intact(self) -> bool:
        return self.first_broken_id is None


def verify_chain() -> ChainCheck:
    """Recompute every hash in order; report the first event that does not match."""
    previous = GENESIS_HASH
    count = 0
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        count += 1
        if event.previous_hash != previous or _event_hash(event) != event.hash:
            return ChainCheck(count, event.id)
        previous = event.hash
    return ChainCheck(count, None)


def _is_security_event(event: AuditEvent) -> bool:
    return event.outcome != Outcome.SUCCESS or any(m in event.action for m in SECURITY_ACTION_MARKERS)


def generate_incident_report(day: dt.date) -> IncidentReport:
    """Analyse one calendar day of the trail (DEA-14); idempotent per day."""
    existing = IncidentReport.objects.filter(day=day).first()
    if existing:
        return existing
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    events = list(AuditEvent.objects.filter(occurred_at__gte=start, occurred_at__lt=start + dt.timedelta(days=1)))
    security = [e for e in events if _is_security_event(e)]
    by_action: dict[str, int] = {}
    for event in security:
        by_action[event.action] = by_action.get(event.action, 0) + 1
    chain = verify_chain()
    findings: list[dict[str, Any]] = [{"action": action, "count": count} for action, count in sorted(by_action.items())]
    if not chain.intact:
        findings.insert(0, {"action": "audit_chain_broken", "first_broken_id": chain.first_broken_id})
    report = IncidentReport.objects.create(
        day=day,
        generated_at=timezone.now(),
        event_count=len(events),
        security_event_count=len(security),
        chain_intact=chain.intact,
        findings=findings,
    )
    append_events(
        [
            build_event(
                "audit.incident_report",
                target=report,
                outcome=Outcome.SUCCESS if chain.intact and not security else Outcome.FAILURE,
                details={"day": day.isoformat(), "security_events": len(security), "chain_intact": chain.intact},
            )
        ]
    )
    return report
