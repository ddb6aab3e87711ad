"""Named locks held until the current transaction ends.

There is no global write lock (docs/audit.md, docs/architecture.md): a transaction that must
not overlap with another one doing the same thing takes a lock named after that thing, as
the first lock it takes, so it cannot deadlock against row locks taken in another order.
"""

from __future__ import annotations

from django.db import connection


def transaction_lock(name: str) -> None:
    """Wait for, then hold, the lock `name` until the current transaction ends (call it
    inside `transaction.atomic()`). PostgreSQL: an advisory lock keyed by a 64-bit hash of
    the name (a collision only makes two names wait for each other). SQLite: nothing to do,
    its IMMEDIATE transactions hold the database's write lock from BEGIN."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [name])


def transaction_locks(names: list[str]) -> None:
    """`transaction_lock` for several names, taken one after another in the order given (sort
    them: two transactions that take the same locks in the same order never deadlock), with
    one round trip on PostgreSQL."""
    if connection.vendor == "postgresql" and names:
        with connection.cursor() as cursor:
            # unnest yields the names in array order; each lock is taken as its row is produced.
            cursor.execute(
                "SELECT count(pg_advisory_xact_lock(hashtextextended(name, 0))) FROM unnest(%s::text[]) AS name",
                [names],
            )
