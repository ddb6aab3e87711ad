"""One hash chain per practice, sealed by the sequencer; signed checkpoints; a report per chain.

Events already recorded form the chain of no practice (chain_id NULL): they get positions
1, 2, 3, ... in id order and are re-hashed with the new formula, which also covers the chain
and the position (audit.verify_export). First the old chain is verified with the old formula:
a trail that was tampered with stops the migration rather than being re-hashed into a
consistent one. On PostgreSQL the old refuse-everything trigger of audit_auditevent is
dropped here; 0004 installs the triggers that allow exactly the sequencer's one update.
"""

import hashlib
import json
from typing import Any

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from audit.verify_export import GENESIS_HASH, event_hash


def _old_hash(event: Any, previous: str) -> str:
    payload = {
        "occurred_at": event.occurred_at.isoformat(),
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "outcome": event.outcome,
        "ip_address": event.ip_address,
        "user_agent": event.user_agent,
        "details": event.details,
        "previous_hash": previous,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def rechain_existing(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        schema_editor.execute("DROP TRIGGER IF EXISTS audit_auditevent_append_only ON audit_auditevent;")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    old_previous, previous, position, last_id = GENESIS_HASH, GENESIS_HASH, 0, 0
    while True:
        batch = list(AuditEvent.objects.filter(id__gt=last_id).order_by("id")[:2000])
        if not batch:
            return
        seals = []
        for event in batch:
            if event.previous_hash != old_previous or _old_hash(event, old_previous) != event.hash:
                raise RuntimeError(
                    f"The audit chain is broken at event {event.pk}: investigate (verify_audit_chain of the "
                    "previous release) before migrating; the migration does not re-hash a tampered trail."
                )
            old_previous, position, last_id = event.hash, position + 1, event.pk
            record = {
                "chain_id": None,
                "position": position,
                "occurred_at": event.occurred_at.isoformat(),
                "actor_id": event.actor_id,
                "actor_label": event.actor_label,
                "action": event.action,
                "target_type": event.target_type,
                "target_id": event.target_id,
                "outcome": event.outcome,
                "ip_address": None if event.ip_address is None else str(event.ip_address),
                "user_agent": event.user_agent,
                "details": event.details,
                "previous_hash": previous,
            }
            previous = event_hash(record)
            seals.append((position, record["previous_hash"], previous, event.pk))
        with connection.cursor() as cursor:
            cursor.executemany(
                "UPDATE audit_auditevent SET position = %s, previous_hash = %s, hash = %s WHERE id = %s", seals
            )


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_append_only_trigger"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditCheckpoint",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "chain_id",
                    models.BigIntegerField(
                        blank=True,
                        help_text="The practice id; empty (NULL) = the chain of events of no practice",
                        null=True,
                    ),
                ),
                ("position", models.BigIntegerField(help_text="Events in the chain when signed (0: none yet)")),
                ("head_hash", models.CharField(max_length=64)),
                ("signed_at", models.DateTimeField()),
                ("key_id", models.CharField(max_length=16)),
                (
                    "signature",
                    models.TextField(help_text="Ed25519 over the checkpoint message (audit.verify_export), base64"),
                ),
                (
                    "reason",
                    models.CharField(
                        choices=[("sequencer", "Sequencer"), ("incident_report", "Daily incident report")],
                        max_length=32,
                    ),
                ),
            ],
            options={
                "ordering": ["id"],
            },
        ),
        migrations.AddField(
            model_name="auditevent",
            name="chain_id",
            field=models.BigIntegerField(
                blank=True,
                help_text="The chain: the practice id; empty (NULL) = the chain of events that belong to no practice",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="position",
            field=models.BigIntegerField(
                blank=True, help_text="1, 2, 3, ... in its chain; empty until sequenced", null=True
            ),
        ),
        migrations.AddField(
            model_name="incidentreport",
            name="chain_id",
            field=models.BigIntegerField(
                blank=True, help_text="The practice id; empty (NULL) = the chain of events of no practice", null=True
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(blank=True, max_length=64, null=True, unique=True),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="previous_hash",
            field=models.CharField(blank=True, max_length=64, null=True),
        ),
        migrations.AlterField(
            model_name="incidentreport",
            name="day",
            field=models.DateField(),
        ),
        # Irreversible: the old hashes are gone.
        migrations.RunPython(rechain_existing),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                condition=models.Q(("position__isnull", True)),
                fields=["chain_id", "id"],
                name="audit_event_unsequenced",
            ),
        ),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(
                condition=models.Q(("chain_id__isnull", False), ("position__isnull", False)),
                fields=("chain_id", "position"),
                name="audit_event_chain_position",
            ),
        ),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(
                condition=models.Q(("chain_id__isnull", True), ("position__isnull", False)),
                fields=("position",),
                name="audit_event_no_chain_position",
            ),
        ),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("hash__isnull", True), ("position__isnull", True), ("previous_hash__isnull", True)),
                    models.Q(("hash__isnull", False), ("position__gte", 1), ("previous_hash__isnull", False)),
                    _connector="OR",
                ),
                name="audit_event_sealed_whole",
            ),
        ),
        migrations.AddIndex(
            model_name="auditcheckpoint",
            index=models.Index(fields=["chain_id", "id"], name="audit_checkpoint_chain"),
        ),
        migrations.AddField(
            model_name="incidentreport",
            name="checkpoint",
            field=models.ForeignKey(
                blank=True,
                help_text="The signed checkpoint taken with the report",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="audit.auditcheckpoint",
            ),
        ),
        migrations.AddConstraint(
            model_name="incidentreport",
            constraint=models.UniqueConstraint(
                condition=models.Q(("chain_id__isnull", False)),
                fields=("chain_id", "day"),
                name="audit_report_chain_day",
            ),
        ),
        migrations.AddConstraint(
            model_name="incidentreport",
            constraint=models.UniqueConstraint(
                condition=models.Q(("chain_id__isnull", True)), fields=("day",), name="audit_report_no_chain_day"
            ),
        ),
    ]
