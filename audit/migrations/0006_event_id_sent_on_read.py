"""The event id field becomes `audit.models.EventIdField`: the same bigint identity column,
read through a descriptor that sends a queued insert first (audit.services). State only: the
column does not change, and an AlterField would make SQLite rebuild the table and lose the
append-only triggers of 0004."""

from django.db import migrations

import audit.models


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0005_cheaper_event_writes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="auditevent",
                    name="id",
                    field=audit.models.EventIdField(primary_key=True, serialize=False, verbose_name="ID"),
                ),
            ],
            database_operations=[],
        ),
    ]
