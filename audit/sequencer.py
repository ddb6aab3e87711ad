"""The sequencer: gives committed events their place in their chain, and signs checkpoints.

After the log sequencers of Certificate Transparency and Trillian (docs/audit.md): events are
recorded inside the business transaction without a position, taking no lock; after commit
(`transaction.on_commit`) and from a periodic sweep (Celery beat, `manage.py sequence_audit`)
the sequencer takes the chain's lock in its own short transaction, reads the chain's head,
gives the waiting events of that chain the next positions in id order, computes their
hashes and seals them. One chain's sequencing never waits for another chain's.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.keys import SigningKeyUnavailable, signing_key
from audit.models import AuditCheckpoint, AuditEvent, CheckpointReason
from audit.verify_export import GENESIS_HASH, checkpoint_message, event_hash
from ehr.db.locks import transaction_lock

logger = logging.getLogger(__name__)

BATCH_SIZE = 500


def chain_filter(chain_id: int | None) -> Q:
    return Q(chain_id__isnull=True) if chain_id is None else Q(chain_id=chain_id)


def utc_text(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_record(event: AuditEvent) -> dict[str, Any]:
    """An event as the export writes it and as its hash covers it (audit.verify_export)."""
    return {
        "id": event.pk,
        "chain_id": event.chain_id,
        "position": event.position,
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
        "previous_hash": event.previous_hash,
        "hash": event.hash,
    }


def checkpoint_record(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    return {
        "chain_id": checkpoint.chain_id,
        "position": checkpoint.position,
        "head_hash": checkpoint.head_hash,
        "signed_at": utc_text(checkpoint.signed_at),
        "key_id": checkpoint.key_id,
        "signature": checkpoint.signature,
    }


def _lock_chain(chain_id: int | None) -> None:
    """Serialise sequencers of one chain until this transaction ends (PostgreSQL: an advisory
    lock named after the chain; SQLite: the IMMEDIATE transaction already holds the write lock)."""
    transaction_lock(f"audit-chain:{'none' if chain_id is None else chain_id}")


def _head(chain_id: int | None) -> tuple[int, str]:
    row = (
        AuditEvent.objects.filter(chain_filter(chain_id), position__isnull=False)
        .order_by("-position")
        .values_list("position", "hash")
        .first()
    )
    if row is None or row[0] is None or row[1] is None:
        return 0, GENESIS_HASH
    return row[0], row[1]


def _sign(chain_id: int | None, position: int, head_hash: str, reason: CheckpointReason) -> AuditCheckpoint:
    key = signing_key()
    signed_at = timezone.now()
    message = checkpoint_message(
        {"chain_id": chain_id, "position": position, "head_hash": head_hash, "signed_at": utc_text(signed_at)}
    )
    return AuditCheckpoint.objects.create(
        chain_id=chain_id,
        position=position,
        head_hash=head_hash,
        signed_at=signed_at,
        key_id=key.key_id,
        signature=key.sign(message),
        reason=reason,
    )


def _checkpoint_due(chain_id: int | None, position: int) -> bool:
    last = (
        AuditCheckpoint.objects.filter(chain_filter(chain_id))
        .order_by("-id")
        .values_list("position", "signed_at")
        .first()
    )
    if last is None:
        return position > 0
    interval = dt.timedelta(seconds=settings.AUDIT_CHECKPOINT_INTERVAL_SECONDS)
    return last[0] < position and timezone.now() - last[1] >= interval


def _checkpoint_if_due(chain_id: int | None, position: int, head_hash: str) -> None:
    if not _checkpoint_due(chain_id, position):
        return
    try:
        _sign(chain_id, position, head_hash, CheckpointReason.SEQUENCER)
    except SigningKeyUnavailable:
        # Sequencing goes on; the sweep signs once the key is back (signing refuses meanwhile).
        logger.warning("audit checkpoint of chain %s not signed: the signing key is unavailable", chain_id)


def sequence_chain(chain_id: int | None, *, batch_size: int = BATCH_SIZE) -> int:
    """Give every committed, unsequenced event of one chain its position and hash, in small
    batches (one short transaction each). Returns how many events were sequenced."""
    total = 0
    while True:
        with transaction.atomic():
            _lock_chain(chain_id)
            pending = list(
                AuditEvent.objects.filter(chain_filter(chain_id), position__isnull=True).order_by("id")[:batch_size]
            )
            if not pending:
                return total
            position, previous = _head(chain_id)
            seals: list[tuple[int, str, str, int]] = []
            for event in pending:
                position += 1
                event.position, event.previous_hash = position, previous
                event.hash = previous = event_hash(event_record(event))
                seals.append((position, event.previous_hash, event.hash, event.pk))
            AuditEvent.objects.seal(seals)
            _checkpoint_if_due(chain_id, position, previous)
        total += len(pending)
        if len(pending) < batch_size:
            return total


def sequence_after_commit(chain_id: int | None) -> None:
    """The on_commit hook of audit.record: sequence right away (the sweep repairs a failure)."""
    sequence_chain(chain_id)


def checkpoint(chain_id: int | None, reason: CheckpointReason) -> AuditCheckpoint:
    """Sign the chain's current head now (raises SigningKeyUnavailable)."""
    with transaction.atomic():
        _lock_chain(chain_id)
        position, head_hash = _head(chain_id)
        return _sign(chain_id, position, head_hash, reason)


def chains_waiting() -> set[int | None]:
    """Chains with committed events that have no position yet."""
    waiting = AuditEvent.objects.filter(position__isnull=True).order_by()
    return set(waiting.values_list("chain_id", flat=True).distinct())


@dataclass(frozen=True)
class SweepResult:
    sequenced: int
    checkpoints: int


def sweep() -> SweepResult:
    """Sequence whatever the on_commit hooks left (a crash between commit and sequencing), and
    sign a checkpoint for each recently active chain whose last one is older than the interval
    and does not cover its head (so the last events before a quiet spell are covered too)."""
    sequenced = sum(sequence_chain(chain_id) for chain_id in chains_waiting())
    interval = dt.timedelta(seconds=settings.AUDIT_CHECKPOINT_INTERVAL_SECONDS)
    recent = set(
        AuditEvent.objects.filter(occurred_at__gte=timezone.now() - 3 * interval)
        .order_by()
        .values_list("chain_id", flat=True)
        .distinct()
    )
    signed = 0
    for chain_id in recent:
        with transaction.atomic():
            _lock_chain(chain_id)
            position, head_hash = _head(chain_id)
            if not _checkpoint_due(chain_id, position):
                continue
            try:
                _sign(chain_id, position, head_hash, CheckpointReason.SEQUENCER)
            except SigningKeyUnavailable:
                logger.warning("audit checkpoint of chain %s not signed: the signing key is unavailable", chain_id)
                continue
            signed += 1
    return SweepResult(sequenced, signed)
