"""The daily incident report, per chain (practice), referencing a signed checkpoint (DEA-14)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone

import audit
from audit.keys import trusted_public_keys
from audit.models import AuditEvent, IncidentReport, Outcome
from audit.sequencer import checkpoint_record
from audit.services import generate_incident_report
from audit.tasks import daily_incident_report
from audit.verify_export import signature_valid

pytestmark = [pytest.mark.django_db, pytest.mark.req("DEA-14")]


def test_each_chain_gets_its_own_report_with_a_signed_checkpoint() -> None:
    audit.record("auth.login_failed", outcome=Outcome.FAILURE)
    audit.record("auth.login", chain=21)
    audit.record("mfa.code_replay", chain=21, outcome=Outcome.DENIED)
    audit.record("auth.login", chain=22)
    today = timezone.localdate()
    report = generate_incident_report(today, 21)
    assert (report.chain_id, report.event_count, report.security_event_count) == (21, 2, 1)
    assert report.findings == [{"action": "mfa.code_replay", "count": 1}]
    assert report.chain_intact
    # The report references a checkpoint of its chain that verifies and names the head.
    checkpoint = report.checkpoint
    assert checkpoint is not None and checkpoint.chain_id == 21 and checkpoint.reason == "incident_report"
    assert checkpoint.position == 2
    assert signature_valid(checkpoint_record(checkpoint), trusted_public_keys()) is None
    recorded = AuditEvent.objects.get(action="audit.incident_report", chain_id=21)
    assert recorded.details["checkpoint_position"] == 2
    # Other chains are reported on their own; the same day twice is the same report.
    other = generate_incident_report(today, 22)
    assert (other.event_count, other.security_event_count) == (1, 0)
    assert generate_incident_report(today, 21).pk == report.pk


def test_the_daily_task_reports_every_chain_also_without_events() -> None:
    audit.record("auth.login", chain=31)
    day = dt.date(2026, 4, 4)
    pks = daily_incident_report(day.isoformat())
    reports = IncidentReport.objects.filter(pk__in=pks)
    assert sorted((r.chain_id or 0, r.event_count) for r in reports) == [(0, 0), (31, 0)]
    assert all(r.checkpoint_id for r in reports)
    call_command("incident_report", "--day", "2026-04-05", "--chain", "31")
    assert IncidentReport.objects.filter(chain_id=31, day=dt.date(2026, 4, 5)).exists()
