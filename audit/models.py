"""Audit events, signed checkpoints and daily incident reports: append-only (DEA-13, DEA-14,
DEA-17). docs/audit.md describes the chains and the sequencer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from django.conf import settings
from django.db import connections, models
from django.db.models import Q
from django.db.models.base import ModelState
from django.db.models.query_utils import DeferredAttribute

from audit.verify_export import HASHED_FIELDS


class AppendOnlyError(Exception):
    """Raised on any attempt to change or delete an audit record."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError(f"{self.model.__name__} rows cannot be updated")

    def delete(self) -> NoReturn:
        raise AppendOnlyError(f"{self.model.__name__} rows cannot be deleted")


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError(f"{type(self).__name__} rows cannot be updated")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError(f"{type(self).__name__} rows cannot be deleted")


class Outcome(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"
    DENIED = "denied", "Denied"
    ERROR = "error", "Error"


class AuditEventQuerySet(AppendOnlyQuerySet):
    def seal(self, seals: list[tuple[int, str, str, int]]) -> None:
        """The one update an event ever gets: (position, previous_hash, hash, id), set once
        from NULL by the sequencer. The database triggers allow exactly this and nothing else."""
        if not seals:
            return
        table = self.model._meta.db_table
        connection = connections[self.db]
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # One statement for the whole batch, its values as four arrays: a round trip
                # per event cost more than the seal, and a parameter per value cost the
                # client more than the hashing (docs/performance.md).
                positions, previous, digests, ids = (list(column) for column in zip(*seals, strict=True))
                cursor.execute(
                    f"UPDATE {table} AS e SET position = v.position, previous_hash = v.previous_hash, "  # noqa: S608
                    "hash = v.hash FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[]) "
                    "AS v(id, position, previous_hash, hash) "
                    "WHERE e.id = v.id AND e.position IS NULL AND e.hash IS NULL AND e.previous_hash IS NULL",
                    [ids, positions, previous, digests],
                )
            else:
                cursor.executemany(
                    f"UPDATE {table} SET position = %s, previous_hash = %s, hash = %s "  # noqa: S608  # our table name
                    "WHERE id = %s AND position IS NULL AND hash IS NULL AND previous_hash IS NULL",
                    seals,
                )
            sealed = cursor.rowcount
        if sealed != len(seals):
            raise AppendOnlyError(f"{len(seals) - sealed} audit events were sealed already")


_SEND = "_send_queued"  # on an event whose insert is queued: the callable that sends it


class _EventIdAttribute(DeferredAttribute):
    """An event's id while its insert is still queued to travel with the transaction's next
    statement or COMMIT (audit.services, ehr/db/postgresql): reading it sends the insert
    first, so `record(...).pk` is the id as ever. None once the queue is gone unsent
    (rolled back)."""

    def __get__(self, instance: Any, cls: Any = None) -> Any:
        if instance is None or self.field.attname in instance.__dict__:
            return super().__get__(instance, cls)
        send = instance.__dict__.pop(_SEND, None)
        if send is not None:
            send()
        return instance.__dict__.get(self.field.attname)


class EventIdField(models.BigAutoField):
    descriptor_class = _EventIdAttribute


class AuditEvent(AppendOnlyModel):
    """One event. Recorded inside the business transaction without its place in the chain;
    the sequencer (audit.sequencer) gives it `position`, `previous_hash` and `hash` after commit."""

    id = EventIdField(primary_key=True, serialize=False, verbose_name="ID")

    chain_id = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="The chain: the practice id; empty (NULL) = the chain of events that belong to no practice",
    )
    position = models.BigIntegerField(
        null=True, blank=True, help_text="1, 2, 3, ... in its chain; empty until sequenced"
    )
    # Indexed: a B-tree on SQLite, a BRIN index on PostgreSQL (migration 0005, outside the state).
    occurred_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True, help_text="Username at the time of the event")
    action = models.CharField(max_length=64)  # no index of its own (migration 0005)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.SUCCESS)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    details = models.JSONField(default=dict, blank=True)
    previous_hash = models.CharField(max_length=64, null=True, blank=True)
    hash = models.CharField(max_length=64, null=True, blank=True)

    objects = AuditEventQuerySet.as_manager()  # type: ignore[misc]  # the base manager, plus seal()

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["target_type", "target_id"], name="audit_audit_target__59bbff_idx"),
            # Small: only the events still waiting for the sequencer.
            models.Index(fields=["chain_id", "id"], condition=Q(position__isnull=True), name="audit_event_unsequenced"),
        ]
        constraints = [
            # Fork-free: one event per position in each chain (NULL chain_id is a chain too).
            # Only sealed events are indexed (a NULL position is never a duplicate).
            models.UniqueConstraint(
                fields=["chain_id", "position"],
                condition=Q(chain_id__isnull=False, position__isnull=False),
                name="audit_event_chain_position",
            ),
            models.UniqueConstraint(
                fields=["position"],
                condition=Q(chain_id__isnull=True, position__isnull=False),
                name="audit_event_no_chain_position",
            ),
            models.CheckConstraint(
                condition=Q(position__isnull=True, previous_hash__isnull=True, hash__isnull=True)
                | Q(position__gte=1, previous_hash__isnull=False, hash__isnull=False),
                name="audit_event_sealed_whole",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.action} {self.outcome}"

    @classmethod
    def unsaved(cls, *values: Any) -> AuditEvent:
        """A new event, not saved, from the values of its concrete fields in their order
        (`actor_id` for the actor): what `AuditEvent(*values)` makes, without Model.__init__'s
        loop over the fields and its init signals (no receiver listens to this model's), as
        unpickling does. Recording is on every audited write (docs/performance.md)."""
        event = cls.__new__(cls)
        event.__dict__.update(zip(_ATTNAMES, values, strict=True))
        event._state = ModelState()
        return event

    def mark_queued(self, alias: str, send: Callable[[], None]) -> None:
        """Saved as far as anything can tell, its insert queued on `alias`: reading its id
        calls `send` first (EventIdField)."""
        self._state.adding, self._state.db = False, alias
        self.__dict__.pop(self._meta.pk.attname, None)
        self.__dict__[_SEND] = send

    def mark_stored(self, alias: str, pk: int) -> None:
        """Its row exists with id `pk`; nothing of the connection stays on it (it pickles)."""
        self.__dict__.pop(_SEND, None)
        self.pk = pk
        self._state.adding, self._state.db = False, alias


_ATTNAMES = tuple(field.attname for field in AuditEvent._meta.concrete_fields)  # AuditEvent.unsaved

# What an event says: every column its hash covers but its place in the chain (position,
# previous_hash). What the business transaction inserts, and with the id what the sequencer
# reads to hash it.
EVENT_CONTENT_COLUMNS = tuple(name for name in HASHED_FIELDS if name not in ("position", "previous_hash"))


class CheckpointReason(models.TextChoices):
    SEQUENCER = "sequencer", "Sequencer"
    INCIDENT_REPORT = "incident_report", "Daily incident report"


class AuditCheckpoint(AppendOnlyModel):
    """A signed statement (the application's Ed25519 key) that chain `chain_id` had
    `position` events ending in `head_hash` at `signed_at`."""

    chain_id = models.BigIntegerField(
        null=True, blank=True, help_text="The practice id; empty (NULL) = the chain of events of no practice"
    )
    position = models.BigIntegerField(help_text="Events in the chain when signed (0: none yet)")
    head_hash = models.CharField(max_length=64)
    signed_at = models.DateTimeField()
    key_id = models.CharField(max_length=16)
    signature = models.TextField(help_text="Ed25519 over the checkpoint message (audit.verify_export), base64")
    reason = models.CharField(max_length=32, choices=CheckpointReason.choices)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["chain_id", "id"], name="audit_checkpoint_chain")]

    def __str__(self) -> str:
        return f"Checkpoint of chain {self.chain_id} at {self.position}"


class IncidentReport(AppendOnlyModel):
    """The daily analysis of one chain of the audit trail, produced also on days with no events."""

    chain_id = models.BigIntegerField(
        null=True, blank=True, help_text="The practice id; empty (NULL) = the chain of events of no practice"
    )
    day = models.DateField()
    generated_at = models.DateTimeField()
    event_count = models.PositiveIntegerField()
    security_event_count = models.PositiveIntegerField()
    chain_intact = models.BooleanField()
    findings = models.JSONField(default=list, blank=True)
    checkpoint = models.ForeignKey(
        AuditCheckpoint,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The signed checkpoint taken with the report",
    )

    class Meta:
        ordering = ["-day"]
        constraints = [
            models.UniqueConstraint(
                fields=["chain_id", "day"], condition=Q(chain_id__isnull=False), name="audit_report_chain_day"
            ),
            models.UniqueConstraint(
                fields=["day"], condition=Q(chain_id__isnull=True), name="audit_report_no_chain_day"
            ),
        ]

    def __str__(self) -> str:
        return f"Incident report {self.day}"
