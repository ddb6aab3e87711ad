"""Celery tasks of the mfa app.

Push polling: ONE poller for all pending push challenges, no beat. The poller is a task
that loops, asking ID.me about every pending push in one batch request (`push_statuses`)
every POLL_INTERVAL seconds; it stops IDLE_LINGER_SECONDS after the last pending push and
re-queues itself after MAX_RUN_SECONDS. So 200 pending pushes cost 1 request per round (2
with batches of 100), not 200. The poller completes the approvals of a quiet round (at most
POLLER_COMPLETES) itself and hands those of a busier round, COMPLETION_CHUNK at a time, to
`complete_approved_pushes` tasks, which other worker processes run in parallel (each asks
ID.me again about its chunk before completing: a queued message alone approves nothing). A challenge handed over is
marked in the cache for IN_FLIGHT_SECONDS, so later rounds do not hand it over again while
its task waits; completion stays exactly once whatever happens (complete_challenge).

Exactly one chain runs: each chain carries a token; the cache holds the current token and a
heartbeat. `ensure_push_poller()` (called after a push starts, on every status request of a
waiting page, and when a worker starts) begins a new chain only when the heartbeat is stale;
a chain whose token was replaced stops at its next round. A worker killed mid-poll therefore
loses nothing: the next worker start (or the next status request) begins a new chain, and
completion is idempotent (mfa.challenges.complete_challenge).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

from celery import shared_task
from celery.signals import worker_ready, worker_shutting_down
from django.core.cache import cache
from django.db import connection

logger = logging.getLogger(__name__)

POLL_INTERVAL = 0.25
# One task runs this long at most, then queues its successor (bounds a task's life).
MAX_RUN_SECONDS = 600.0
# With no push pending, the poller lingers this long before it stops, so the next push of a
# busy practice is polled at once instead of waiting for a new task behind other work.
IDLE_LINGER_SECONDS = 60.0
STALE_AFTER = 30.0
# A polling round with at most POLLER_COMPLETES approvals completes them itself (no hop through
# the broker for the usual lone clinician); a busier round hands all of them to other processes,
# so the poller goes straight back to polling, in chunks of COMPLETION_CHUNK (each chunk costs
# one more batch request to ID.me: 200 approvals, 20 requests; 10 gave the lowest burst latency
# of 5, 10 and 15 on 2 cores with 3 completing processes, docs/performance.md).
POLLER_COMPLETES = 2
COMPLETION_CHUNK = 10
IN_FLIGHT_SECONDS = 30
TOKEN_KEY = "mfa:push-poller:token"
HEARTBEAT_KEY = "mfa:push-poller:heartbeat"
# Set when this worker shuts down: a lingering poller leaves at once (the next worker or the
# next status request starts a new one).
_shutting_down = threading.Event()


def _beat() -> None:
    cache.set(HEARTBEAT_KEY, time.time(), timeout=int(STALE_AFTER * 6))


def ensure_push_poller(force: bool = False) -> bool:
    """Start a poller chain unless a live one is beating. True when one was started."""
    if not force:
        last = cache.get(HEARTBEAT_KEY)
        if last is not None and time.time() - float(last) < STALE_AFTER:
            return False
    token = uuid.uuid4().hex
    cache.set(TOKEN_KEY, token, timeout=None)
    _beat()
    poll_push_challenges.apply_async(args=(token,))
    return True


@shared_task(name="mfa.poll_push_challenges", acks_late=True, ignore_result=True)
def poll_push_challenges(token: str) -> str:
    from mfa.challenges import poll_pending_pushes

    deadline = time.monotonic() + MAX_RUN_SECONDS
    last_busy = time.monotonic()
    while True:
        if cache.get(TOKEN_KEY) != token:
            return "superseded"
        if _shutting_down.is_set():
            cache.delete(HEARTBEAT_KEY)
            return "worker stopping"
        _beat()
        if poll_pending_pushes(on_progress=_beat, fan_out=_fan_out):
            last_busy = time.monotonic()
        elif time.monotonic() - last_busy >= IDLE_LINGER_SECONDS:
            # Stop, unless a push started between the count and now (its ensure_push_poller
            # saw our heartbeat and left the polling to us).
            cache.delete(HEARTBEAT_KEY)
            if _pending_push_count() == 0 or cache.get(TOKEN_KEY) != token:
                return "idle"
            _beat()
        if time.monotonic() >= deadline:
            poll_push_challenges.apply_async(args=(token,))
            return "continued"
        time.sleep(POLL_INTERVAL)


def _in_flight_key(challenge_id: str) -> str:
    return f"mfa:push-completing:{challenge_id}"


def _fan_out(approved: list[str]) -> list[str]:
    """Hand a busy round's approvals (more than POLLER_COMPLETES) to completion tasks; returns
    the ids the poller completes itself (a quiet round's). Ids whose task is still on its way are left
    alone (neither completed here nor handed over again)."""
    if connection.vendor == "sqlite":
        return approved  # one write transaction at a time: parallel completions only queue
    in_flight = cache.get_many([_in_flight_key(pk) for pk in approved])
    free = [pk for pk in approved if _in_flight_key(pk) not in in_flight]
    if len(free) <= POLLER_COMPLETES:
        return free
    for start in range(0, len(free), COMPLETION_CHUNK):
        chunk = free[start : start + COMPLETION_CHUNK]
        cache.set_many({_in_flight_key(pk): 1 for pk in chunk}, timeout=IN_FLIGHT_SECONDS)
        complete_approved_pushes.apply_async(args=(chunk,))
    return []


@shared_task(name="mfa.complete_approved_pushes", acks_late=True, ignore_result=True)
def complete_approved_pushes(challenge_ids: list[str]) -> int:
    """Complete a chunk of approvals a polling round found (mfa.challenges.complete_approved_pushes)."""
    from mfa.challenges import complete_approved_pushes as complete

    try:
        return complete(challenge_ids)
    finally:
        cache.delete_many([_in_flight_key(pk) for pk in challenge_ids])


def _pending_push_count() -> int:
    from mfa.models import ChallengeMethod, ChallengeStatus, VerificationChallenge

    return VerificationChallenge.objects.filter(status=ChallengeStatus.PENDING, method=ChallengeMethod.PUSH).count()


@worker_ready.connect
def _resume_polling_on_worker_start(**kwargs: Any) -> None:
    """A worker that starts picks up pushes a killed worker was polling."""
    try:
        if _pending_push_count():
            ensure_push_poller(force=True)
    except Exception:  # never keep a worker from starting
        logger.exception("Could not resume push polling")


@worker_shutting_down.connect
def _stop_polling(**kwargs: Any) -> None:
    _shutting_down.set()
