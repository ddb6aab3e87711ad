"""Writing, verifying and analysing the audit trail."""

from __future__ import annotations

import datetime as dt
import functools
import json
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.http import HttpRequest
from django.utils import timezone

import audit
from audit import sequencer
from audit.keys import SigningKeyUnavailable, trusted_public_keys
from audit.models import EVENT_CONTENT_COLUMNS, AuditCheckpoint, AuditEvent, CheckpointReason, IncidentReport, Outcome
from audit.sequencer import chain_filter, checkpoint_record, event_record
from audit.verify_export import Finding
from audit.verify_export import verify_chain as verify_records

# Actions that count as security events in the daily incident report.
SECURITY_ACTION_MARKERS = ("fail", "lock", "denied", "replay", "forged", "lost", "tamper", "rate_limit")


def chain_key(chain: Any) -> int | None:
    """A chain is named by a practice (or its id); None is the chain of events of no practice."""
    if chain is None:
        return None
    return int(getattr(chain, "pk", chain))


def _client_ip(request: HttpRequest) -> str | None:
    # REMOTE_ADDR only: a forwarded header is trusted only by a proxy-aware deployment.
    return request.META.get("REMOTE_ADDR") or None


# The details as JSON, anything JSON has no type for as its text (one encoder, made once).
_to_json = json.JSONEncoder(default=str).encode


def build_event(
    action: str,
    *,
    actor: Any = None,
    target: Any = None,
    outcome: str | None = None,
    request: HttpRequest | None = None,
    details: dict[str, Any] | None = None,
    chain: Any = None,
) -> AuditEvent:
    """An unsaved event; `target` is a model instance or a (type, id) pair; `chain` the
    practice (or its id) the event belongs to, None for events of no practice."""
    if actor is None and request is not None and request.user.is_authenticated:
        actor = request.user
    if target is None:
        target_type, target_id = "", ""
    elif isinstance(target, tuple):
        target_type, target_id = str(target[0]), str(target[1])
    else:
        target_type, target_id = target._meta.label_lower, str(target.pk)
    return AuditEvent.unsaved(
        None,  # id: given by the insert
        chain_key(chain),
        None,  # position: given by the sequencer
        timezone.now(),
        actor.pk if getattr(actor, "pk", None) else None,
        getattr(actor, "username", "") or "",
        action,
        target_type,
        target_id,
        str(outcome or Outcome.SUCCESS),
        _client_ip(request) if request else None,
        request.META.get("HTTP_USER_AGENT", "")[:512] if request else "",
        json.loads(_to_json(details or {})),
        None,  # previous_hash
        None,  # hash
    )


_IP_FIELD = AuditEvent._meta.get_field("ip_address")


@functools.cache
def _insert_sql(rows: int) -> str:
    """INSERT ... RETURNING id for `rows` events (built once per batch size)."""
    table = AuditEvent._meta.db_table
    columns = ", ".join(f'"{column}"' for column in EVENT_CONTENT_COLUMNS)
    one_row = "(" + ", ".join(["%s"] * len(EVENT_CONTENT_COLUMNS)) + ")"
    values = ", ".join([one_row] * rows)
    return f'INSERT INTO "{table}" ({columns}) VALUES {values} RETURNING "id"'  # noqa: S608  # our names


_CONTENT = operator.attrgetter(*EVENT_CONTENT_COLUMNS)
_OCCURRED_AT, _IP_ADDRESS, _DETAILS = (
    EVENT_CONTENT_COLUMNS.index(column) for column in ("occurred_at", "ip_address", "details")
)


def _row(event: AuditEvent, connection: BaseDatabaseWrapper) -> list[Any]:
    """The values of `EVENT_CONTENT_COLUMNS` (column names are the attribute names), as the
    backend stores them: the details as JSON text (PostgreSQL casts it to jsonb), the address
    normalised as the field would."""
    values = list(_CONTENT(event))
    values[_OCCURRED_AT] = connection.ops.adapt_datetimefield_value(event.occurred_at)
    values[_IP_ADDRESS] = _IP_FIELD.get_prep_value(event.ip_address)
    values[_DETAILS] = json.dumps(event.details)
    return values


def _insert(events: list[AuditEvent], at_once: bool) -> None:
    """One INSERT ... RETURNING id for the batch, in the caller's transaction, built once
    per batch size with nothing of the ORM's machinery. Where the database can (PostgreSQL
    inside a transaction: ehr/db/postgresql) the insert travels with the next statement or
    with the COMMIT instead of costing a round trip of its own (docs/performance.md); the
    events' ids are set once it is sent."""
    connection = connections[router.db_for_write(AuditEvent)]
    sql = _insert_sql(len(events))
    params = [value for event in events for value in _row(event, connection)]
    on_rows = functools.partial(_set_ids, events, connection.alias)
    if not at_once and getattr(connection, "can_send_with_commit", bool)():
        connection.send_with_commit(sql, params, on_rows)  # type: ignore[attr-defined]
        for event in events:
            event.mark_queued(connection.alias, connection.send_queued)  # type: ignore[attr-defined]
        return
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        on_rows(cursor.fetchall())


def _set_ids(events: list[AuditEvent], alias: str, rows: list[tuple[Any, ...]]) -> None:
    for event, (pk,) in zip(events, rows, strict=True):
        event.mark_stored(alias, pk)


def append_events(events: list[AuditEvent], *, at_once: bool = False) -> list[AuditEvent]:
    """Insert events in order, in the caller's transaction, without their place in the chain:
    no lock is taken (`at_once`: audit.record). Each chain involved is sequenced right after commit (audit.sequencer);
    rolled back, the events are gone and no position was used."""
    if not events:
        return events
    _insert(events, at_once)
    if settings.AUDIT_SEQUENCER_FOLLOWS:
        return events  # the dedicated sequencer finds them (audit.sequencer.follow)
    for chain_id in dict.fromkeys(event.chain_id for event in events):
        transaction.on_commit(functools.partial(sequencer.sequence_after_commit, chain_id), robust=True)
    if audit.has_subscribers():
        # Subscribers (audit.subscribe) hear of the events once they are committed.
        transaction.on_commit(functools.partial(audit.notify_subscribers, list(events)), robust=True)
    return events


@dataclass(frozen=True)
class ChainCheck:
    chain_id: int | None
    events_checked: int
    checkpoints_checked: int
    findings: list[Finding]
    waiting: int = 0  # committed events not sequenced yet (not part of the check)

    @property
    def intact(self) -> bool:
        return not self.findings

    @property
    def first_broken_id(self) -> int | None:
        return next((f.event_id for f in self.findings if f.event_id is not None), None)


def verify_chain(chain: Any = None) -> ChainCheck:
    """Recompute one chain in position order and check every signed checkpoint against it:
    an edited, deleted, reordered or re-hashed event and a deleted tail are found."""
    chain_id = chain_key(chain)
    checkpoints = [checkpoint_record(c) for c in AuditCheckpoint.objects.filter(chain_filter(chain_id))]
    sequenced = AuditEvent.objects.filter(chain_filter(chain_id), position__isnull=False).order_by("position", "id")
    events = (event_record(event) for event in sequenced.iterator(chunk_size=2000))
    count, findings = verify_records(chain_id, events, checkpoints, trusted_public_keys())
    waiting = AuditEvent.objects.filter(chain_filter(chain_id), position__isnull=True).count()
    return ChainCheck(chain_id, count, len(checkpoints), findings, waiting)


# Sources of chains that exist even before their first event: providers registers "every
# practice" (audit imports no providers code), so each practice gets its daily report.
_CHAIN_SOURCES: dict[str, Callable[[], Iterable[int]]] = {}


def register_chain_source(name: str, source: Callable[[], Iterable[int]]) -> None:
    """Name a callable returning chain ids that must be reported daily. Call from AppConfig.ready()."""
    _CHAIN_SOURCES[name] = source


def known_chains() -> list[int | None]:
    """Every chain with events or reports, every chain a registered source names (every
    practice), and always the chain of no practice."""
    chains: set[int | None] = {None}
    for source in _CHAIN_SOURCES.values():
        chains |= {int(chain) for chain in source()}
    chains |= set(AuditEvent.objects.order_by().values_list("chain_id", flat=True).distinct())
    chains |= set(IncidentReport.objects.order_by().values_list("chain_id", flat=True).distinct())
    return sorted(chains, key=lambda c: -1 if c is None else c)


def _is_security_event(event: AuditEvent) -> bool:
    return event.outcome != Outcome.SUCCESS or any(m in event.action for m in SECURITY_ACTION_MARKERS)


def generate_incident_report(day: dt.date, chain: Any = None) -> IncidentReport:
    """Analyse one calendar day of one chain (DEA-14); idempotent per chain and day. The
    report references a checkpoint signed with it."""
    chain_id = chain_key(chain)
    existing = IncidentReport.objects.filter(chain_filter(chain_id), day=day).first()
    if existing:
        return existing
    sequencer.sequence_chain(chain_id)
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    events = list(
        AuditEvent.objects.filter(
            chain_filter(chain_id), occurred_at__gte=start, occurred_at__lt=start + dt.timedelta(days=1)
        )
    )
    security = [e for e in events if _is_security_event(e)]
    by_action: dict[str, int] = {}
    for event in security:
        by_action[event.action] = by_action.get(event.action, 0) + 1
    check = verify_chain(chain_id)
    findings: list[dict[str, Any]] = [{"action": action, "count": count} for action, count in sorted(by_action.items())]
    if not check.intact:
        findings.insert(
            0,
            {
                "action": "audit_chain_broken",
                "first_broken_id": check.first_broken_id,
                "problems": [str(f) for f in check.findings[:20]],
            },
        )
    with transaction.atomic():
        try:
            signed: AuditCheckpoint | None = sequencer.checkpoint(chain_id, CheckpointReason.INCIDENT_REPORT)
        except SigningKeyUnavailable:
            signed = None
            findings.insert(0, {"action": "audit_checkpoint_unavailable"})
        report = IncidentReport.objects.create(
            chain_id=chain_id,
            day=day,
            generated_at=timezone.now(),
            event_count=len(events),
            security_event_count=len(security),
            chain_intact=check.intact,
            findings=findings,
            checkpoint=signed,
        )
    event = build_event(
        "audit.incident_report",
        chain=chain_id,
        target=report,
        outcome=Outcome.SUCCESS if check.intact and not security else Outcome.FAILURE,
        details={
            "day": day.isoformat(),
            "security_events": len(security),
            "chain_intact": check.intact,
            "checkpoint_id": signed.pk if signed else None,
            "checkpoint_position": signed.position if signed else None,
        },
    )
    append_events([event])
    return report
