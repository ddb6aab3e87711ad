"""DEA-12 / DEA-17 in the database on SQLite too: the same rules as the PostgreSQL trigger of
0002_signed_prescription_lock. No prescription row can be deleted; once signed_at is set, the
signed content (the same columns as on PostgreSQL) cannot be updated, while state,
transmission and cancellation columns stay writable.

`manage.py flush` (which empties every table; the test run uses it between transactional
tests) lifts these triggers while it runs, as TRUNCATE passes PostgreSQL's row triggers: see
eprescribe/management/commands/flush.py. A later migration that makes SQLite rebuild the
table must create them again (tests/eprescribe/test_signed_lock.py fails otherwise).
"""

from typing import Any

from django.db import migrations

# Exactly 0002's LOCKED_COLUMNS (tests/eprescribe/test_signed_lock.py compares them).
LOCKED_COLUMNS = (
    "patient_id",
    "prescriber_id",
    "dea_registration_id",
    "medication_id",
    "quantity",
    "quantity_unit",
    "directions",
    "refills",
    "earliest_fill_date",
    "pharmacy_id",
    "written_date",
    "created_by_id",
    "uuid",
    "signed_at",
    "canonical_payload",
    "digest_sha256",
    "signature",
    "signing_key_id",
    "device_label",
    "challenge_id",
)

TRIGGER_NAMES = ("eprescribe_prescription_no_delete", "eprescribe_prescription_signed_lock")

_changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in LOCKED_COLUMNS)

CREATE_STATEMENTS = (
    """
CREATE TRIGGER IF NOT EXISTS eprescribe_prescription_no_delete
BEFORE DELETE ON eprescribe_prescription
BEGIN
    SELECT RAISE(ABORT, 'prescriptions are never deleted (DEA-17): cancel instead');
END
""",
    f"""
CREATE TRIGGER IF NOT EXISTS eprescribe_prescription_signed_lock
BEFORE UPDATE ON eprescribe_prescription
WHEN OLD.signed_at IS NOT NULL AND ({_changed})
BEGIN
    SELECT RAISE(ABORT, 'signed prescription cannot be altered (DEA-12)');
END
""",
)
DROP_STATEMENTS = tuple(f"DROP TRIGGER IF EXISTS {name}" for name in TRIGGER_NAMES)


def create_triggers(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "sqlite":
        for statement in CREATE_STATEMENTS:
            schema_editor.execute(statement, params=None)


def drop_triggers(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "sqlite":
        for statement in DROP_STATEMENTS:
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("eprescribe", "0003_signing_ceremony_binding")]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
