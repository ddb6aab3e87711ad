"""PostgreSQL with one write lock per transaction, the way SQLite's IMMEDIATE mode works.

The audit trail is a hash chain: each event's hash covers the previous event's, so appends
must happen in order, under a lock held until commit. A transaction that takes that lock
half-way, after row locks, deadlocks against one that took it earlier and then waits for
those rows. Taking the lock first, when a transaction begins, removes that whole class of
deadlock; the cost is that write transactions run one at a time, which is ample for a
practice's prescribing (see docs/architecture.md). Statements outside transactions
(ordinary reads) are not affected.
"""

from __future__ import annotations

from django.db.backends.postgresql import base

# The same key the audit trail locks on, so its own lock is re-entrant within a transaction.
TRANSACTION_LOCK_KEY = 7_311_150


class DatabaseWrapper(base.DatabaseWrapper):
    def _set_autocommit(self, autocommit: bool) -> None:
        super()._set_autocommit(autocommit)  # type: ignore[misc]  # not in django-stubs
        if not autocommit:
            with self.wrap_database_errors, self.connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [TRANSACTION_LOCK_KEY])
