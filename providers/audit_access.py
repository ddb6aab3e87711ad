"""Who reads a practice's audit trail (DEA-13, DEA-14, ASVS-09, ASVS-11; docs/audit.md).

The access managers and auditors of a practice read its daily incident reports and its audit
events (the practice's chain), read-only, and nothing of another practice: a report of another
chain is "not found". Prescribers, agents and practice admins (who have the Django admin) do not
use this page. Auditors have no other power.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from audit.models import AuditEvent, IncidentReport
from providers.models import Practice, PracticeRole
from providers.roles import has_role

AUDIT_READERS = (PracticeRole.ACCESS_MANAGER, PracticeRole.AUDITOR)
REPORTS_SHOWN = 60  # about two months of daily reports
EVENTS_PER_PAGE = 50


class AuditRefusal(StrEnum):
    NOT_AUDIT_READER = "not_audit_reader"


REFUSAL_MESSAGES = {
    AuditRefusal.NOT_AUDIT_READER: (
        "Only the access managers and auditors of this practice can read its audit trail and incident reports."
    ),
}


def may_read_audit(user: Any, practice: Practice | None) -> bool:
    return has_role(user, practice, *AUDIT_READERS)


def incident_reports(practice: Practice) -> QuerySet[IncidentReport]:
    """The practice's daily incident reports, newest day first."""
    return (
        IncidentReport.objects.filter(chain_id=practice.pk)
        .select_related("checkpoint")
        .order_by("-day")[:REPORTS_SHOWN]
    )


def incident_report(practice: Practice, report_id: int) -> IncidentReport:
    """One report of the practice's chain; IncidentReport.DoesNotExist for any other."""
    return IncidentReport.objects.select_related("checkpoint").get(pk=report_id, chain_id=practice.pk)


@dataclass(frozen=True)
class EventFilter:
    """What the reader narrows the events to (every field optional)."""

    since: dt.date | None = None
    until: dt.date | None = None  # inclusive
    actor: str = ""  # username at the time of the event
    action: str = ""  # an action, or the start of one ("epcs." for every EPCS action)
    outcome: str = ""


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_current_timezone())


def events(practice: Practice, chosen: EventFilter) -> QuerySet[AuditEvent]:
    """The practice's audit events matching the filter, newest first."""
    queryset = AuditEvent.objects.filter(chain_id=practice.pk)
    if chosen.since:
        queryset = queryset.filter(occurred_at__gte=_day_start(chosen.since))
    if chosen.until:
        queryset = queryset.filter(occurred_at__lt=_day_start(chosen.until + dt.timedelta(days=1)))
    if chosen.actor:
        queryset = queryset.filter(actor_label__iexact=chosen.actor)
    if chosen.action:
        queryset = queryset.filter(action__startswith=chosen.action)
    if chosen.outcome:
        queryset = queryset.filter(outcome=chosen.outcome)
    return queryset.order_by("-occurred_at", "-id")
