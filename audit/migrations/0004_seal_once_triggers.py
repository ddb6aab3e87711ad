"""Audit rows stay append-only in the database, on PostgreSQL and SQLite (DEA-13, DEA-17).

An event may be updated exactly once: the sequencer sets position, previous_hash and hash
from NULL, changing nothing else. Every other UPDATE and every DELETE of an event, a
checkpoint or an incident report is refused. PostgreSQL compares the whole row except those
three columns (to_jsonb), so a column added later is covered too. SQLite compares the
columns the table has when this runs: a later migration that makes SQLite rebuild one of
these tables drops its triggers and must create them again (`sqlite_statements`);
tests/audit/test_append_only.py fails otherwise. `manage.py flush` lifts the SQLite triggers
while it empties the tables (eprescribe/management/commands/flush.py), as TRUNCATE passes
PostgreSQL's row triggers.
"""

from typing import Any

from django.db import migrations

SEALED = ("position", "previous_hash", "hash")
REFUSE_ONLY = ("audit_auditcheckpoint", "audit_incidentreport")

POSTGRESQL_CREATE = """
CREATE OR REPLACE FUNCTION audit_event_seal_once() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND OLD.position IS NULL AND OLD.previous_hash IS NULL AND OLD.hash IS NULL
       AND NEW.position IS NOT NULL AND NEW.previous_hash IS NOT NULL AND NEW.hash IS NOT NULL
       AND (to_jsonb(NEW) - 'position' - 'previous_hash' - 'hash')
           = (to_jsonb(OLD) - 'position' - 'previous_hash' - 'hash')
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION USING MESSAGE = 'audit records are append-only: ' || TG_OP || ' on ' || TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS audit_auditevent_append_only ON audit_auditevent;
CREATE TRIGGER audit_auditevent_append_only BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_event_seal_once();
DROP TRIGGER IF EXISTS audit_auditcheckpoint_append_only ON audit_auditcheckpoint;
CREATE TRIGGER audit_auditcheckpoint_append_only BEFORE UPDATE OR DELETE ON audit_auditcheckpoint
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
"""

POSTGRESQL_DROP = """
DROP TRIGGER IF EXISTS audit_auditcheckpoint_append_only ON audit_auditcheckpoint;
DROP TRIGGER IF EXISTS audit_auditevent_append_only ON audit_auditevent;
CREATE TRIGGER audit_auditevent_append_only BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
DROP FUNCTION IF EXISTS audit_event_seal_once();
"""


def _refuse(name: str, when: str, table: str, condition: str = "") -> str:
    return (
        f"CREATE TRIGGER IF NOT EXISTS {name} BEFORE {when} ON {table} {condition}\n"
        f"BEGIN SELECT RAISE(ABORT, 'audit records are append-only: {when} on {table}'); END"
    )


def sqlite_statements(cursor: Any) -> list[str]:
    """The SQLite triggers, for the columns the tables have now."""
    cursor.execute("SELECT name FROM pragma_table_info('audit_auditevent')")
    kept = [row[0] for row in cursor.fetchall() if row[0] not in SEALED]
    sealing = " AND ".join(
        [f"OLD.{c} IS NULL" for c in SEALED]
        + [f"NEW.{c} IS NOT NULL" for c in SEALED]
        + [f'NEW."{c}" IS OLD."{c}"' for c in kept]
    )
    statements = [
        _refuse("audit_auditevent_no_delete", "DELETE", "audit_auditevent"),
        _refuse("audit_auditevent_seal_once", "UPDATE", "audit_auditevent", f"WHEN NOT ({sealing})"),
    ]
    for table in REFUSE_ONLY:
        statements += [_refuse(f"{table}_no_delete", "DELETE", table), _refuse(f"{table}_no_update", "UPDATE", table)]
    return statements


SQLITE_TRIGGERS = (
    "audit_auditevent_no_delete",
    "audit_auditevent_seal_once",
    *(f"{table}_no_{op}" for table in REFUSE_ONLY for op in ("delete", "update")),
)


def create_triggers(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_CREATE, params=None)
    elif connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            for statement in sqlite_statements(cursor):
                cursor.execute(statement)


def drop_triggers(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_DROP, params=None)
    elif connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            for name in SQLITE_TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_chains_and_checkpoints")]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
