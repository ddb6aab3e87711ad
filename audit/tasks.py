from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.utils import timezone

from audit.services import generate_incident_report


@shared_task(name="audit.daily_incident_report")
def daily_incident_report(day: str | None = None) -> int:
    """Beat runs this just after midnight for the day that ended (DEA-14)."""
    report_day = dt.date.fromisoformat(day) if day else timezone.localdate() - dt.timedelta(days=1)
    return generate_incident_report(report_day).pk
