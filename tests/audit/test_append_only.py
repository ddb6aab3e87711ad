"""Audit rows stay append-only in the database on PostgreSQL and SQLite: an event may be sealed
once by the sequencer (position, previous_hash, hash from NULL) and nothing else (DEA-13, DEA-17)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction

import audit
from audit.models import AppendOnlyError, AuditCheckpoint, AuditEvent, IncidentReport
from audit.sequencer import sweep
from audit.services import generate_incident_report, verify_chain

pytestmark = [pytest.mark.django_db, pytest.mark.req("DEA-13"), pytest.mark.req("DEA-17")]

H1, H2 = "1" * 64, "2" * 64


def refused(sql: str, params: list[Any]) -> bool:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    except DatabaseError:
        return True
    return False


def test_the_database_allows_exactly_one_seal_of_an_event() -> None:
    event = audit.record("test.waiting")
    table = "audit_auditevent"
    # A "seal" that changes anything else is refused.
    assert refused(
        f"UPDATE {table} SET position = 1, previous_hash = %s, hash = %s, action = 'forged' WHERE id = %s",
        [H1, H2, event.pk],
    )
    assert refused(
        f"UPDATE {table} SET position = 1, previous_hash = %s, hash = %s, chain_id = 3 WHERE id = %s",
        [
            H1,
            H2,
            event.pk,
        ],
    )
    # Content of an unsequenced event cannot change either, nor can a half seal happen.
    assert refused(f"UPDATE {table} SET action = 'forged' WHERE id = %s", [event.pk])
    assert refused(f"UPDATE {table} SET position = 1 WHERE id = %s", [event.pk])
    # The one allowed update, then never again.
    assert not refused(
        f"UPDATE {table} SET position = 1, previous_hash = %s, hash = %s WHERE id = %s",
        [
            H1,
            H2,
            event.pk,
        ],
    )
    assert refused(f"UPDATE {table} SET position = 2, previous_hash = %s, hash = %s WHERE id = %s", [H1, H1, event.pk])
    assert refused(f"UPDATE {table} SET position = NULL, previous_hash = NULL, hash = NULL WHERE id = %s", [event.pk])
    assert refused(f"DELETE FROM {table} WHERE id = %s", [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).position == 1


def test_the_orm_seals_only_once_and_refuses_the_rest() -> None:
    event = audit.record("test.waiting")
    AuditEvent.objects.seal([(1, H1, H2, event.pk)])
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.seal([(2, H2, H1, event.pk)])
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(position=3)
    stored = AuditEvent.objects.get(pk=event.pk)
    stored.action = "forged"
    with pytest.raises(AppendOnlyError):
        stored.save()
    with pytest.raises(AppendOnlyError):
        stored.delete()


def test_checkpoints_and_reports_refuse_update_and_delete() -> None:
    audit.record("test.event")
    sweep()
    report = generate_incident_report(dt.date(2026, 3, 3))
    checkpoint = AuditCheckpoint.objects.latest("id")
    for table, pk in (("audit_auditcheckpoint", checkpoint.pk), ("audit_incidentreport", report.pk)):
        assert refused(
            f"UPDATE {table} SET position = 0 WHERE id = %s"
            if "checkpoint" in table
            else f"UPDATE {table} SET event_count = 0 WHERE id = %s",
            [pk],
        )
        assert refused(f"DELETE FROM {table} WHERE id = %s", [pk])
    with pytest.raises(AppendOnlyError):
        AuditCheckpoint.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        IncidentReport.objects.filter(pk=report.pk).update(event_count=0)
    assert verify_chain().intact
