from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.utils import timezone

from audit import sequencer
from audit.services import generate_incident_report, known_chains


@shared_task(name="audit.daily_incident_report")
def daily_incident_report(day: str | None = None) -> list[int]:
    """Beat runs this just after midnight for the day that ended: one report per chain (DEA-14)."""
    report_day = dt.date.fromisoformat(day) if day else timezone.localdate() - dt.timedelta(days=1)
    return [generate_incident_report(report_day, chain).pk for chain in known_chains()]


@shared_task(name="audit.sequence_audit_trail")
def sequence_audit_trail() -> dict[str, int]:
    """Beat runs this every AUDIT_SWEEP_SECONDS: nothing committed stays unsequenced after a
    crash between commit and the after-commit hook, and quiet chains get their checkpoint."""
    result = sequencer.sweep()
    return {"sequenced": result.sequenced, "checkpoints": result.checkpoints}
