"""The audit trail chains, refuses change, and is analysed daily."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

import audit
from audit.models import AppendOnlyError, AuditEvent, IncidentReport, Outcome
from audit.services import generate_incident_report, verify_chain
from audit.verify_export import GENESIS_HASH

pytestmark = pytest.mark.django_db


@pytest.mark.req("DEA-13")
@pytest.mark.req("ASVS-09")
def test_events_chain_each_onto_the_previous(django_capture_on_commit_callbacks: Callable[..., Any]) -> None:
    # Chained by the sequencer right after commit.
    with django_capture_on_commit_callbacks(execute=True):
        first = audit.record("test.first", target=("thing", 1), details={"a": 1})
        second = audit.record("test.second", outcome=Outcome.FAILURE)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.previous_hash == GENESIS_HASH
    assert second.previous_hash == first.hash
    assert first.hash and len(first.hash) == 64 and first.hash != second.hash
    assert verify_chain().intact


@pytest.mark.req("DEA-13")
def test_events_refuse_update_and_delete() -> None:
    event = audit.record("test.event")
    event.action = "changed"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="changed")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()


@pytest.mark.req("DEA-13")
@pytest.mark.req("ASVS-09")
def test_tampering_below_the_orm_is_refused_or_detected(django_capture_on_commit_callbacks: Callable[..., Any]) -> None:
    # Refused by the database on SQLite too now; detection: tests/audit/test_tampering.py.
    with django_capture_on_commit_callbacks(execute=True):
        audit.record("test.one")
        target = audit.record("test.two")
        audit.record("test.three")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET action = 'forged' WHERE id = %s", [target.pk])
    assert verify_chain().intact


@pytest.mark.req("DEA-14")
def test_incident_report_on_a_day_without_events() -> None:
    report = generate_incident_report(dt.date(2026, 1, 1))
    assert report.event_count == 0
    assert report.security_event_count == 0
    assert report.chain_intact
    # Producing it again is idempotent.
    assert generate_incident_report(dt.date(2026, 1, 1)).pk == report.pk


@pytest.mark.req("DEA-14")
def test_incident_report_counts_security_events() -> None:
    audit.record("auth.login")
    audit.record("auth.login_failed", outcome=Outcome.FAILURE)
    audit.record("mfa.code_replay", outcome=Outcome.DENIED)
    report = generate_incident_report(timezone.localdate())
    assert report.event_count == 3
    assert report.security_event_count == 2
    assert {f["action"] for f in report.findings} == {"auth.login_failed", "mfa.code_replay"}


@pytest.mark.req("DEA-17")
def test_reports_are_append_only_too() -> None:
    report = generate_incident_report(dt.date(2026, 2, 2))
    with pytest.raises(AppendOnlyError):
        report.delete()
    with pytest.raises(AppendOnlyError):
        IncidentReport.objects.all().delete()


@pytest.mark.req("DEA-13")
def test_a_batch_of_events_chains_in_order_after_the_existing_trail(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        first = audit.record("test.before")
    with django_capture_on_commit_callbacks(execute=True):
        batch = audit.record_many([("test.batch", {"target": ("thing", n), "details": {"n": n}}) for n in range(3)])
    first.refresh_from_db()
    for event in batch:
        event.refresh_from_db()
    assert [e.previous_hash for e in batch] == [first.hash, batch[0].hash, batch[1].hash]
    assert (
        list(AuditEvent.objects.order_by("id").values_list("action", flat=True)) == ["test.before"] + ["test.batch"] * 3
    )
    assert verify_chain().intact
