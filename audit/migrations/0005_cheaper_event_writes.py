"""Fewer indexes on audit events: each one is written twice per event, at the insert in the
business transaction and again when the sequencer seals the row (docs/performance.md).

Dropped: the index on `action` (the queries that filter by action also filter by actor or by
target type, which have their own indexes) and the unique index on `hash` (nothing looks an
event up by its hash; fork-freedom is the unique (chain, position) index). On PostgreSQL the
B-tree on `occurred_at` becomes a BRIN index: events are appended in time order, so a BRIN
index serves the time-range queries (incident report, lockout) at a fraction of the cost of
keeping a B-tree. The BRIN index is PostgreSQL's only and is kept outside the model state,
like the triggers. SQLite keeps its B-tree on `occurred_at` and the unique constraint on
`hash` that its CREATE TABLE holds (dropping it would rebuild the table); it runs one writer
at a time anyway. No table is rebuilt here, so 0004's SQLite triggers stay in place.

The PostgreSQL trigger that allows exactly one seal of an event compared the rows through
`to_jsonb` (about 140 us an event, more than the seal itself); it now compares the whole row
as a record, with the three sealed columns blanked in a copy of the new row: the same rule,
still covering every column including ones added later, at about a tenth of the cost.
"""

from typing import Any

from django.db import migrations, models

SEAL_ONCE = """
CREATE OR REPLACE FUNCTION audit_event_seal_once() RETURNS trigger AS $$
DECLARE
    unsealed audit_auditevent;
BEGIN
    IF TG_OP = 'UPDATE'
       AND OLD.position IS NULL AND OLD.previous_hash IS NULL AND OLD.hash IS NULL
       AND NEW.position IS NOT NULL AND NEW.previous_hash IS NOT NULL AND NEW.hash IS NOT NULL
    THEN
        unsealed := NEW;
        unsealed.position := NULL;
        unsealed.previous_hash := NULL;
        unsealed.hash := NULL;
        IF unsealed IS NOT DISTINCT FROM OLD THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION USING MESSAGE = 'audit records are append-only: ' || TG_OP || ' on ' || TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
"""

SEAL_ONCE_JSONB = """
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
"""

POSTGRESQL_FORWARDS = """
DROP INDEX IF EXISTS audit_auditevent_action_2131bb77;
DROP INDEX IF EXISTS audit_auditevent_action_2131bb77_like;
DROP INDEX IF EXISTS audit_auditevent_hash_d0c402da_like;
ALTER TABLE audit_auditevent DROP CONSTRAINT IF EXISTS audit_auditevent_hash_key;
DROP INDEX IF EXISTS audit_auditevent_occurred_at_1f007848;
CREATE INDEX IF NOT EXISTS audit_event_occurred_brin ON audit_auditevent USING brin (occurred_at);
"""

POSTGRESQL_BACKWARDS = """
DROP INDEX IF EXISTS audit_event_occurred_brin;
CREATE INDEX IF NOT EXISTS audit_auditevent_occurred_at_1f007848 ON audit_auditevent (occurred_at);
ALTER TABLE audit_auditevent ADD CONSTRAINT audit_auditevent_hash_key UNIQUE (hash);
CREATE INDEX IF NOT EXISTS audit_auditevent_hash_d0c402da_like ON audit_auditevent (hash varchar_pattern_ops);
CREATE INDEX IF NOT EXISTS audit_auditevent_action_2131bb77 ON audit_auditevent (action);
CREATE INDEX IF NOT EXISTS audit_auditevent_action_2131bb77_like ON audit_auditevent (action varchar_pattern_ops);
"""


def forwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_FORWARDS, params=None)
        schema_editor.execute(SEAL_ONCE, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("DROP INDEX IF EXISTS audit_auditevent_action_2131bb77")


def backwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_BACKWARDS, params=None)
        schema_editor.execute(SEAL_ONCE_JSONB, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("CREATE INDEX IF NOT EXISTS audit_auditevent_action_2131bb77 ON audit_auditevent (action)")


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_seal_once_triggers")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forwards, backwards)],
            state_operations=[
                migrations.AlterField(
                    model_name="auditevent", name="action", field=models.CharField(max_length=64)
                ),
                migrations.AlterField(
                    model_name="auditevent",
                    name="hash",
                    field=models.CharField(blank=True, max_length=64, null=True),
                ),
            ],
        ),
    ]
