"""DEA-12 / DEA-17 in the database (PostgreSQL): once signed_at is set, the signed content
of a prescription cannot be updated and the row cannot be deleted. Other columns (state,
transmission status, cancellation) stay writable. SQLite relies on the service layer."""

from typing import Any

from django.db import migrations

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

_changed = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in LOCKED_COLUMNS)

CREATE = f"""
CREATE OR REPLACE FUNCTION eprescribe_refuse_signed_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'prescriptions are never deleted (DEA-17): cancel instead';
    END IF;
    IF OLD.signed_at IS NOT NULL AND ({_changed}) THEN
        RAISE EXCEPTION USING MESSAGE = 'signed prescription ' || OLD.id || ' cannot be altered (DEA-12)';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS eprescribe_prescription_signed_lock ON eprescribe_prescription;
CREATE TRIGGER eprescribe_prescription_signed_lock
    BEFORE UPDATE OR DELETE ON eprescribe_prescription
    FOR EACH ROW EXECUTE FUNCTION eprescribe_refuse_signed_change();
"""

DROP = """
DROP TRIGGER IF EXISTS eprescribe_prescription_signed_lock ON eprescribe_prescription;
DROP FUNCTION IF EXISTS eprescribe_refuse_signed_change();
"""


def create_trigger(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_trigger(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("eprescribe", "0001_initial")]

    operations = [migrations.RunPython(create_trigger, drop_trigger)]
