"""Celery tasks of the mfa app.

Push polling: ONE poller for all pending push challenges, no beat. The poller is a task
that loops for up to RUN_SECONDS, asking ID.me about every pending push in one batch
request (`push_statuses`) every POLL_INTERVAL seconds, then re-queues itself while pushes
are pending. So 200 pending pushes cost 1 request per round (2 with batches of 100), not 200.

Exactly one chain runs: each chain carries a token; the cache holds the current token and a
heartbeat. `ensure_push_poller()` (called after a push starts, on every status request of a
waiting page, and when a worker starts) begins a new chain only when the heartbeat is stale;
a chain whose token was replaced stops at its next round. A worker killed mid-poll therefore
loses nothing: the next worker start (or the next status request) begins a new chain, and
completion is idempotent (mfa.challenges.complete_challenge).
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from celery import shared_task
from celery.signals import worker_ready
from django.core.cache import cache

logger = logging.getLogger(__name__)

POLL_INTERVAL = 0.25
RUN_SECONDS = 20.0
STALE_AFTER = 10.0
TOKEN_KEY = "mfa:push-poller:token"
HEARTBEAT_KEY = "mfa:push-poller:heartbeat"


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

    deadline = time.monotonic() + RUN_SECONDS
    while True:
        if cache.get(TOKEN_KEY) != token:
            return "superseded"
        _beat()
        remaining = poll_pending_pushes()
        if remaining == 0:
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
