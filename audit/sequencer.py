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
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min, Q
from django.utils import timezone

from audit.keys import SigningKeyUnavailable, signing_key
from audit.models import EVENT_CONTENT_COLUMNS, AuditCheckpoint, AuditEvent, CheckpointReason
from audit.verify_export import GENESIS_HASH, checkpoint_message, event_hash
from ehr.db.locks import transaction_lock, transaction_locks

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
# The background thread, once woken, waits this long for more events before a round: a busy
# process then seals many events, of many chains, with one short transaction and one commit.
GATHER_SECONDS = 0.2


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


def _last_checkpoint(chain_id: int | None) -> tuple[int, dt.datetime] | None:
    row = (
        AuditCheckpoint.objects.filter(chain_filter(chain_id))
        .order_by("-id")
        .values_list("position", "signed_at")
        .first()
    )
    return None if row is None else (row[0], row[1])


def _is_due(last: tuple[int, dt.datetime] | None, position: int) -> bool:
    if last is None:
        return position > 0
    interval = dt.timedelta(seconds=settings.AUDIT_CHECKPOINT_INTERVAL_SECONDS)
    return last[0] < position and timezone.now() - last[1] >= interval


def _checkpoint_due(chain_id: int | None, position: int) -> bool:
    return _is_due(_last_checkpoint(chain_id), position)


def _checkpoint_if_due(
    chain_id: int | None, position: int, head_hash: str, last: tuple[int, dt.datetime] | None
) -> AuditCheckpoint | None:
    """The checkpoint signed now, if one was due after `last` (the chain's newest checkpoint,
    read under the chain's lock); None when none was due or the key is missing."""
    if not _is_due(last, position):
        return None
    try:
        return _sign(chain_id, position, head_hash, CheckpointReason.SEQUENCER)
    except SigningKeyUnavailable:
        # Sequencing goes on; the sweep signs once the key is back (signing refuses meanwhile).
        logger.warning("audit checkpoint of chain %s not signed: the signing key is unavailable", chain_id)
        return None


# PostgreSQL: the head of every numbered chain asked for, and its newest checkpoint, in one
# statement each (the chain of no practice, NULL, is read on its own). A sequencing round of
# many chains then costs the same handful of round trips as one of a single chain.
_HEADS_SQL = """
SELECT c.chain, h.position, h.hash
FROM unnest(%s::bigint[]) AS c(chain)
CROSS JOIN LATERAL (
    SELECT e.position, e.hash FROM audit_auditevent e
    WHERE e.chain_id = c.chain AND e.chain_id IS NOT NULL AND e.position IS NOT NULL
    ORDER BY e.position DESC LIMIT 1
) AS h
"""
_LAST_CHECKPOINTS_SQL = """
SELECT c.chain, k.position, k.signed_at
FROM unnest(%s::bigint[]) AS c(chain)
CROSS JOIN LATERAL (
    SELECT k.position, k.signed_at FROM audit_auditcheckpoint k
    WHERE k.chain_id = c.chain ORDER BY k.id DESC LIMIT 1
) AS k
"""


def _heads_and_checkpoints(
    chain_ids: list[int | None],
) -> tuple[dict[int | None, tuple[int, str]], dict[int | None, tuple[int, dt.datetime] | None]]:
    """Each chain's head (position, hash; 0 and the genesis hash when empty) and newest
    checkpoint, read under the chains' locks."""
    numbered = [c for c in chain_ids if c is not None]
    if connection.vendor != "postgresql" or len(numbered) < 2:
        return {c: _head(c) for c in chain_ids}, {c: _last_checkpoint(c) for c in chain_ids}
    heads: dict[int | None, tuple[int, str]] = {c: (0, GENESIS_HASH) for c in numbered}
    lasts: dict[int | None, tuple[int, dt.datetime] | None] = dict.fromkeys(numbered)
    with connection.cursor() as cursor:
        cursor.execute(_HEADS_SQL, [numbered])
        heads.update({chain: (position, digest) for chain, position, digest in cursor.fetchall()})
        cursor.execute(_LAST_CHECKPOINTS_SQL, [numbered])
        lasts.update({chain: (position, signed_at) for chain, position, signed_at in cursor.fetchall()})
    if None in chain_ids:
        heads[None], lasts[None] = _head(None), _last_checkpoint(None)
    return heads, lasts


def sequence_chain(chain_id: int | None, *, batch_size: int = BATCH_SIZE) -> int:
    """Give every committed, unsequenced event of one chain its position and hash, in small
    batches (one short transaction each). Returns how many events were sequenced."""
    return sequence_chains([chain_id], batch_size=batch_size)


def _chain_order(chain_id: int | None) -> int:
    return -1 if chain_id is None else chain_id


# What the sequencer reads of a waiting event: what its hash covers, except its place.
_HASHED_COLUMNS = ("id", *EVENT_CONTENT_COLUMNS)


def _hashed_record(row: dict[str, Any], position: int, previous_hash: str) -> dict[str, Any]:
    """`event_record` of a waiting event read as values (no model instance is built)."""
    return {
        **row,
        "occurred_at": row["occurred_at"].isoformat(),
        "ip_address": None if row["ip_address"] is None else str(row["ip_address"]),
        "position": position,
        "previous_hash": previous_hash,
    }


def _lock_chains(chain_ids: list[int | None]) -> None:
    """The chains' locks, in chain-id order, in one round trip (the same locks as `_lock_chain`)."""
    transaction_locks([f"audit-chain:{'none' if c is None else c}" for c in sorted(chain_ids, key=_chain_order)])


def _pending(chain_ids: list[int | None], batch_size: int) -> list[dict[str, Any]]:
    """The oldest waiting events of these chains, in id order (the partial index of waiting
    events); read after the chains' locks, so every seal committed before them is seen."""
    numbered = [c for c in chain_ids if c is not None]
    which = Q(chain_id__in=numbered) if numbered else Q(pk__in=[])
    if None in chain_ids:
        which |= Q(chain_id__isnull=True)
    waiting = AuditEvent.objects.filter(which, position__isnull=True).order_by("id")
    return list(waiting.values(*_HASHED_COLUMNS)[:batch_size])


def sequence_chains(chain_ids: Iterable[int | None], *, batch_size: int = BATCH_SIZE) -> int:
    """`sequence_chain` for several chains at once: one short transaction per batch of up to
    `batch_size` events, whatever their chains, so a busy sequencer seals the events of many
    practices with one commit. The chains' locks are taken in one fixed order (chain id), so
    sequencers never deadlock; each is held only for that short transaction. A transaction
    costs a fixed handful of statements on PostgreSQL (the locks, the waiting events, the
    heads, the newest checkpoints, one seal statement), not one per event or per chain."""
    chains = sorted(set(chain_ids), key=_chain_order)
    total = 0
    while chains:
        with transaction.atomic():
            _lock_chains(chains)
            pending = _pending(chains, batch_size)
            by_chain: dict[int | None, list[dict[str, Any]]] = {}
            for row in pending:
                by_chain.setdefault(row["chain_id"], []).append(row)
            seals: list[tuple[int, str, str, int]] = []
            heads, lasts = _heads_and_checkpoints(list(by_chain))
            for chain_id, rows in by_chain.items():
                position, previous = heads[chain_id]
                for row in rows:
                    position += 1
                    digest = event_hash(_hashed_record(row, position, previous))
                    seals.append((position, previous, digest, row["id"]))
                    previous = digest
                heads[chain_id] = (position, previous)
            AuditEvent.objects.seal(seals)
            for chain_id, (position, head_hash) in heads.items():
                _checkpoint_if_due(chain_id, position, head_hash, lasts[chain_id])
        total += len(pending)
        if len(pending) < batch_size:
            return total
        chains = sorted(by_chain, key=_chain_order)
    return total


class _BackgroundSequencer:
    """One daemon thread per process that sequences the chains the after-commit hooks name.

    The writer's request does not wait for the sequencing (one more transaction with its own
    commit); events that arrive while the thread works are sealed together in its next batch.
    Events of a process that dies before its thread ran are sequenced by the sweep."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._waiting: set[int | None] = set()
        self._busy = False
        self._thread: threading.Thread | None = None

    def notify(self, chain_id: int | None) -> None:
        with self._condition:
            self._waiting.add(chain_id)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="audit-sequencer", daemon=True)
                self._thread.start()
            self._condition.notify()

    def wait_idle(self, timeout: float) -> bool:
        """True once nothing notified is left to sequence (tests and benchmarks)."""
        with self._condition:
            return self._condition.wait_for(lambda: not self._waiting and not self._busy, timeout)

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._waiting:
                    self._busy = False
                    self._condition.notify_all()
                    self._condition.wait()
                self._busy = True
            time.sleep(GATHER_SECONDS)
            with self._condition:
                chains, self._waiting = self._waiting, set()
            try:
                sequence_chains(chains)
            except Exception:
                logger.exception("sequencing audit chains failed; the sweep will retry")
                connection.close()
            with self._condition:
                idle = not self._waiting
            if idle:
                # Going to sleep: keep the connection only as long as DJANGO_CONN_MAX_AGE says.
                connection.close_if_unusable_or_obsolete()


background = _BackgroundSequencer()


def _after_fork() -> None:
    global background
    background = _BackgroundSequencer()


os.register_at_fork(after_in_child=_after_fork)


def follow(interval: float | None = None, stop: threading.Event | None = None) -> None:
    """The dedicated sequencer (`manage.py sequence_audit --follow`, settings.AUDIT_SEQUENCER_FOLLOWS):
    every `interval` seconds, one query for the chains with waiting events (the small partial
    index of waiting events), then one short transaction per batch of up to BATCH_SIZE events
    of all those chains. The business transactions do nothing after commit; one process seals
    for all of them, so the sequencing cost per event falls as the load rises. Runs until
    `stop` is set (or for ever)."""
    interval = settings.AUDIT_SEQUENCER_POLL_SECONDS if interval is None else interval
    while stop is None or not stop.is_set():
        began = time.monotonic()
        try:
            waiting = chains_waiting()
            if waiting:
                sequence_chains(waiting)
        except Exception:
            logger.exception("sequencing audit chains failed; retrying")
            connection.close()
        pause = max(0.0, interval - (time.monotonic() - began))
        if stop is None:
            time.sleep(pause)
        elif stop.wait(pause):
            break
    connection.close()


def sequence_after_commit(chain_id: int | None) -> None:
    """The on_commit hook of audit.record: hand the chain to this process's sequencer thread
    (settings.AUDIT_SEQUENCE_IN_BACKGROUND), or sequence it here, in the caller's thread. The
    sweep repairs a failure either way."""
    if settings.AUDIT_SEQUENCE_IN_BACKGROUND:
        background.notify(chain_id)
    else:
        sequence_chain(chain_id)


def checkpoint(chain_id: int | None, reason: CheckpointReason) -> AuditCheckpoint:
    """Sign the chain's current head now (raises SigningKeyUnavailable)."""
    with transaction.atomic():
        _lock_chain(chain_id)
        position, head_hash = _head(chain_id)
        return _sign(chain_id, position, head_hash, reason)


def oldest_waiting_age() -> dt.timedelta | None:
    """How long the oldest committed, unsequenced event has waited (since it was recorded);
    None when none waits. A sequencer's health: a live one keeps this well under a second."""
    # An aggregate over the waiting events (the small partial index), not a walk in id order
    # through every sealed event before them.
    first = AuditEvent.objects.filter(position__isnull=True).aggregate(oldest=Min("occurred_at"))["oldest"]
    return None if first is None else timezone.now() - first


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
    sequenced = sequence_chains(chains_waiting())
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
