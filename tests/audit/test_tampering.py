"""The chain proves itself: signed checkpoints, and the verifier finds every kind of tampering
(DEA-13, ASVS-09). The attacker here has lifted the database triggers."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from django.core.management import CommandError, call_command
from django.db import connection

import audit
from audit.models import AuditCheckpoint, AuditEvent
from audit.sequencer import checkpoint_record, event_record, sweep
from audit.services import verify_chain
from audit.verify_export import Problem, checkpoint_message, event_hash
from tests.audit.conftest import behind_the_audit_triggers

pytestmark = [pytest.mark.django_db, pytest.mark.req("DEA-13"), pytest.mark.req("ASVS-09")]

CHAIN = 9


@pytest.fixture
def trail(settings: Any) -> list[AuditEvent]:
    """Six events in chain 9, sequenced, and a checkpoint signed over all six."""
    settings.AUDIT_CHECKPOINT_INTERVAL_SECONDS = 0
    for n in range(6):
        audit.record("test.event", chain=CHAIN, target=("thing", n), details={"n": n})
    audit.record("test.other_chain")
    sweep()
    events = list(AuditEvent.objects.filter(chain_id=CHAIN).order_by("position"))
    assert [e.position for e in events] == [1, 2, 3, 4, 5, 6]
    assert AuditCheckpoint.objects.filter(chain_id=CHAIN).latest("id").position == 6
    assert verify_chain(CHAIN).intact
    return events


def problems(chain: int | None = CHAIN) -> set[Problem]:
    return {finding.problem for finding in verify_chain(chain).findings}


def execute(sql: str, params: list[Any]) -> None:
    with behind_the_audit_triggers(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_checkpoints_are_signed_with_the_application_key(trail: list[AuditEvent], public_key_pem: str) -> None:
    public_key = serialization.load_pem_public_key(public_key_pem.encode())
    checkpoints = list(AuditCheckpoint.objects.filter(chain_id=CHAIN))
    assert checkpoints
    for checkpoint in checkpoints:
        record = checkpoint_record(checkpoint)
        public_key.verify(base64.b64decode(checkpoint.signature), checkpoint_message(record))  # type: ignore[union-attr,call-arg]
    latest = checkpoints[-1]
    assert (latest.position, latest.head_hash) == (6, trail[-1].hash)
    check = verify_chain(CHAIN)
    assert check.intact and check.checkpoints_checked == len(checkpoints)
    call_command("verify_audit_chain", chain=CHAIN)


def test_an_edited_event_is_found(trail: list[AuditEvent]) -> None:
    execute("UPDATE audit_auditevent SET action = 'forged' WHERE id = %s", [trail[2].pk])
    check = verify_chain(CHAIN)
    assert check.first_broken_id == trail[2].pk
    assert Problem.EVENT_ALTERED in problems()
    assert verify_chain(None).intact  # the other chain is untouched
    with pytest.raises(CommandError, match="broken"):
        call_command("verify_audit_chain")


def test_a_deleted_event_is_found(trail: list[AuditEvent]) -> None:
    execute("DELETE FROM audit_auditevent WHERE id = %s", [trail[2].pk])
    assert {Problem.POSITION_MISSING, Problem.LINK_BROKEN} <= problems()


def test_reordered_events_are_found(trail: list[AuditEvent]) -> None:
    second, third = trail[1], trail[2]
    execute("UPDATE audit_auditevent SET position = 1000 WHERE id = %s", [second.pk])
    execute("UPDATE audit_auditevent SET position = 2 WHERE id = %s", [third.pk])
    execute("UPDATE audit_auditevent SET position = 3 WHERE id = %s", [second.pk])
    assert {Problem.LINK_BROKEN, Problem.EVENT_ALTERED} <= problems()


def test_a_consistently_rehashed_chain_is_found_by_its_checkpoint(trail: list[AuditEvent]) -> None:
    # Edit event 3 and recompute every hash from there with the application's own formula:
    # the chain is consistent again, but no longer the one the key signed.
    previous = trail[1].hash
    for event in trail[2:]:
        record = event_record(event)
        if event.position == 3:
            record["action"] = "forged"
        record["previous_hash"] = previous
        previous = event_hash(record)
        execute(
            "UPDATE audit_auditevent SET action = %s, previous_hash = %s, hash = %s WHERE id = %s",
            [record["action"], record["previous_hash"], previous, event.pk],
        )
    found = problems()
    assert Problem.EVENT_ALTERED not in found and Problem.LINK_BROKEN not in found
    assert Problem.CHECKPOINT_MISMATCH in found


def test_a_deleted_tail_is_found_by_the_latest_checkpoint(trail: list[AuditEvent]) -> None:
    execute("DELETE FROM audit_auditevent WHERE chain_id = %s AND position >= 5", [CHAIN])
    assert problems() == {Problem.CHECKPOINT_BEYOND_END}


def test_a_forged_checkpoint_is_found(trail: list[AuditEvent]) -> None:
    latest = AuditCheckpoint.objects.filter(chain_id=CHAIN).latest("id")
    execute("UPDATE audit_auditcheckpoint SET head_hash = %s WHERE id = %s", [trail[3].hash, latest.pk])
    assert Problem.CHECKPOINT_SIGNATURE_INVALID in problems()


def test_an_event_moved_to_another_chain_is_found(trail: list[AuditEvent]) -> None:
    execute("UPDATE audit_auditevent SET chain_id = NULL, position = 99 WHERE id = %s", [trail[5].pk])
    assert Problem.CHECKPOINT_BEYOND_END in problems()
    assert Problem.EVENT_ALTERED in problems(None)
