"""Append-only audit trail, one hash chain per practice. Every app records through `audit.record(...)`.

`chain=` names the practice (or its id) an event belongs to; None is the chain of events
that belong to no practice; the default is the practice of the current request (`in_chain`,
set by providers' practice middleware), else None. Events are written in the caller's transaction and get
their place in the chain from the sequencer after commit (docs/audit.md)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.http import HttpRequest

    from audit.models import AuditEvent


class _CurrentChain:
    """The default of `chain=`: the chain of the practice the current request works in
    (`in_chain`), else the chain of no practice."""

    def __repr__(self) -> str:
        return "CURRENT_CHAIN"


CURRENT_CHAIN: Any = _CurrentChain()

# Set for the length of a request by providers' practice middleware; audit imports no
# providers code, the middleware hands the practice id down (docs/audit.md).
_current_chain: ContextVar[int | None] = ContextVar("audit_current_chain", default=None)


def current_chain() -> int | None:
    """The chain events recorded now go to when no chain is named."""
    return _current_chain.get()


@contextmanager
def in_chain(chain: Any) -> Iterator[None]:
    """Record into `chain` (a practice or its id; None: no practice) by default inside this block."""
    token = _current_chain.set(None if chain is None else int(getattr(chain, "pk", chain)))
    try:
        yield
    finally:
        _current_chain.reset(token)


# --- subscribers: told of committed events --------------------------------------------------
# A higher app (webhooks) hears of events without audit importing it, the way
# mfa.challenges.register_completion lets mfa stay ignorant of what a challenge completes.
EventSubscriber = Callable[["list[AuditEvent]"], None]
_subscribers: list[EventSubscriber] = []
_logger = logging.getLogger(__name__)


def subscribe(callback: EventSubscriber) -> None:
    """Call `callback(events)` after the transaction that recorded `events` commits (never
    for a rolled-back one), with the events of one `record`/`record_many` call. Idempotent.
    The callback runs in the committing thread: it must be quick (queue work, do not do it)
    and its exceptions are logged and swallowed, so a subscriber never fails a recording."""
    if callback not in _subscribers:
        _subscribers.append(callback)


def unsubscribe(callback: EventSubscriber) -> None:
    if callback in _subscribers:
        _subscribers.remove(callback)


def has_subscribers() -> bool:
    return bool(_subscribers)


def notify_subscribers(events: list[AuditEvent]) -> None:
    """Run by audit.services after commit: each subscriber in turn, one's failure not stopping the next."""
    for callback in list(_subscribers):
        try:
            callback(events)
        except Exception:
            _logger.exception("Audit subscriber %r failed for %d event(s)", callback, len(events))


def _resolve(chain: Any) -> Any:
    return current_chain() if chain is CURRENT_CHAIN else chain


def record(
    action: str,
    *,
    actor: Any = None,
    target: Any = None,
    outcome: str | None = None,
    request: HttpRequest | None = None,
    details: dict[str, Any] | None = None,
    chain: Any = CURRENT_CHAIN,
    at_once: bool = False,
) -> AuditEvent:
    """Append one event to the trail: who (`actor`, else the request's user) did `action`
    to `target` (a model instance or a (type, id) pair), with what `outcome` (an
    audit.models.Outcome; success unless told) and `details`, in the hash chain of `chain`
    (a practice or its id; None: the chain of events that belong to no practice; by default
    the current request's practice, `in_chain`). `at_once`: written before this returns, so a
    trail that refuses it raises here (otherwise, on PostgreSQL inside a transaction, the
    insert may travel with the next statement or the COMMIT; docs/audit.md).

    The import is lazy so that `import audit` loads no model."""
    from audit.services import append_events, build_event

    event = build_event(
        action, actor=actor, target=target, outcome=outcome, request=request, details=details, chain=_resolve(chain)
    )
    return append_events([event], at_once=at_once)[0]


def record_many(entries: list[tuple[str, dict[str, Any]]], *, at_once: bool = False) -> list[AuditEvent]:
    """Append several events at once, in order: (action, arguments of record) pairs.

    One insert for a batch, e.g. every prescription of one signing; no lock is taken.
    `at_once` as for `record` (a caller that must refuse when the trail does, DEA-16).
    """
    from audit.services import append_events, build_event

    return append_events(
        [
            build_event(action, **{**kwargs, "chain": _resolve(kwargs.get("chain", CURRENT_CHAIN))})
            for action, kwargs in entries
        ],
        at_once=at_once,
    )
