"""DEA-12/DEA-17 in the database on both SQLite and PostgreSQL, and `verify_signatures` over every
row that was, or claims to be, signed (DEA-11, DEA-19)."""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from eprescribe import services
from eprescribe.models import Prescription, PrescriptionState
from providers.models import Provider, User
from tests.eprescribe.conftest import RxWorld, behind_the_triggers, raw_update

pytestmark = pytest.mark.django_db

PG_LOCK = importlib.import_module("eprescribe.migrations.0002_signed_prescription_lock")
SQLITE_LOCK = importlib.import_module("eprescribe.migrations.0004_sqlite_signed_prescription_lock")


def verify(capsys: Any) -> str:
    """Run verify_signatures expecting a failure (exit 1); its report."""
    capsys.readouterr()
    with pytest.raises(CommandError, match="failed verification"):
        call_command("verify_signatures")
    return str(capsys.readouterr().out)


# --- the database refuses -------------------------------------------------------------------------
def test_sqlite_triggers_lock_exactly_the_columns_the_postgresql_trigger_locks() -> None:
    assert SQLITE_LOCK.LOCKED_COLUMNS == PG_LOCK.LOCKED_COLUMNS


def _new_value(rx: RxWorld, column: str, other_user: User) -> Any:
    """A value that surely changes `column` (a foreign key points at another existing row)."""
    values: dict[str, Any] = {
        "patient_id": rx.other_patient.pk,
        "prescriber_id": Provider.objects.get(user=other_user).pk,
        "dea_registration_id": None,
        "medication_id": rx.alprazolam.pk,
        "pharmacy_id": rx.non_epcs_pharmacy.pk,
        "created_by_id": other_user.pk,
        "quantity": 999,
        "refills": 3,
        "signed_at": "2001-01-01 00:00:00",
        "earliest_fill_date": "2001-01-01",
        "written_date": "2001-01-01",
        "uuid": uuid.uuid4().hex,
    }
    return values.get(column, "x")


@pytest.mark.req("DEA-12")
@pytest.mark.parametrize("column", SQLITE_LOCK.LOCKED_COLUMNS)
def test_the_database_refuses_to_update_any_signed_column(
    rx: RxWorld, column: str, make_person: Callable[..., User]
) -> None:
    [signed] = rx.sign(rx.ready())
    before = Prescription.objects.filter(pk=signed.pk).values()[0]
    sql = f"UPDATE eprescribe_prescription SET {column} = %s WHERE id = %s"
    params = [_new_value(rx, column, make_person("dr.other", last_name="Other")), signed.pk]
    assert raw_update(sql, params) is False, column
    assert Prescription.objects.filter(pk=signed.pk).values()[0] == before
    with behind_the_triggers():  # it was the trigger that refused, nothing else
        assert raw_update(sql, params), column


@pytest.mark.req("DEA-12")
def test_the_database_lets_transmission_and_cancellation_columns_of_a_signed_row_change(rx: RxWorld) -> None:
    [signed] = rx.sign(rx.ready())
    assert raw_update(
        "UPDATE eprescribe_prescription SET state = %s, transmission_attempts = 2, transmission_error = %s "
        "WHERE id = %s",
        [PrescriptionState.TRANSMISSION_FAILED, "pharmacy offline", signed.pk],
    )
    cancelled = services.cancel_prescription(signed, practice=signed.practice, actor=rx.user, reason="Re-prescribing")
    assert cancelled.state == PrescriptionState.CANCELLED
    call_command("verify_signatures")


@pytest.mark.req("DEA-17")
def test_the_database_refuses_to_delete_a_prescription(rx: RxWorld) -> None:
    [signed] = rx.sign(rx.ready())
    draft = rx.draft()
    for prescription in (signed, draft):
        assert raw_update("DELETE FROM eprescribe_prescription WHERE id = %s", [prescription.pk]) is False
    assert Prescription.objects.count() == 2
    # An unsigned row changes freely through the service (only signed content is locked).
    services.update_prescription(draft, practice=draft.practice, actor=rx.user, changes={"quantity": 11})


# --- verify_signatures over every row that claims to be signed --------------------------------------
@pytest.mark.req("DEA-11")
@pytest.mark.req("DEA-19")
def test_verify_signatures_checks_a_signed_row_whose_signed_at_was_cleared(rx: RxWorld, capsys: Any) -> None:
    [signed] = rx.sign(rx.ready())
    rx.sign(rx.ready(quantity=3))
    call_command("verify_signatures")
    with behind_the_triggers():
        assert raw_update("UPDATE eprescribe_prescription SET signed_at = NULL WHERE id = %s", [signed.pk])
    report = verify(capsys)
    assert f"MISMATCH prescription {signed.pk}: it carries a signature but signed_at is empty" in report
    # With the data also changed, the verifier still names it (signing time taken from the payload).
    with behind_the_triggers():
        assert raw_update("UPDATE eprescribe_prescription SET quantity = 99 WHERE id = %s", [signed.pk])
    assert "differs from what was signed (quantity)" in verify(capsys)


@pytest.mark.req("DEA-11")
@pytest.mark.req("DEA-12")
def test_verify_signatures_reports_a_state_that_disagrees_with_the_signature(rx: RxWorld, capsys: Any) -> None:
    [signed] = rx.sign(rx.ready())
    unsigned = rx.ready(quantity=4)
    # The state column is not locked: a signed row put back to "ready", an unsigned one called "signed".
    assert raw_update("UPDATE eprescribe_prescription SET state = 'ready' WHERE id = %s", [signed.pk])
    assert raw_update("UPDATE eprescribe_prescription SET state = 'transmitted' WHERE id = %s", [unsigned.pk])
    report = verify(capsys)
    assert f"MISMATCH prescription {signed.pk}: it carries a signature but its state is ready" in report
    assert f"MISMATCH prescription {unsigned.pk}: its state is transmitted but it carries no signature" in report


@pytest.mark.req("DEA-11")
@pytest.mark.req("DEA-13")
def test_verify_signatures_finds_a_cancelled_signed_row_whose_signature_was_wiped(rx: RxWorld, capsys: Any) -> None:
    [signed] = rx.sign(rx.ready())
    services.cancel_prescription(signed, practice=signed.practice, actor=rx.user, reason="Re-prescribing")
    call_command("verify_signatures")
    with behind_the_triggers():
        assert raw_update(
            "UPDATE eprescribe_prescription SET signed_at = NULL, canonical_payload = '', digest_sha256 = '', "
            "signature = '', signing_key_id = '', device_label = '', challenge_id = '' WHERE id = %s",
            [signed.pk],
        )
    report = verify(capsys)
    assert (
        f"MISMATCH prescription {signed.pk}: the audit trail records its signing but it carries no signature" in report
    )


def test_verify_signatures_passes_cancelled_unsigned_and_draft_rows(rx: RxWorld) -> None:
    services.cancel_prescription(rx.ready(), practice=rx.practice, actor=rx.user)
    rx.draft()
    [signed] = rx.sign(rx.ready(quantity=2))
    assert signed.signed_at is not None and signed.signed_at <= timezone.now()
    call_command("verify_signatures")
