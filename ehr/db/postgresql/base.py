"""PostgreSQL, with one round trip saved for statements that may travel with the COMMIT.

`send_with_commit(sql, params, on_rows)` queues a statement instead of sending it: it goes
to the server in the same message as the transaction's COMMIT (one round trip for both, the
way an ORM's write-behind flushes at commit), or, if another statement comes first, just
before that statement, so every statement of the transaction sees it exactly as if it had
been sent at once. A rollback (of the transaction, or to a savepoint taken after it was
queued) undoes it like any other statement. The audit trail sends its events this way
(audit.services): an audited transaction then costs the same number of round trips as the
same transaction without audit (docs/performance.md).

Such a statement is also prepared once per connection (PREPARE, then EXECUTE with the
values): the server parses and plans it once, not in every transaction. Prepared statements
outlive a rollback; a message that fails leaves its name unused (a fresh name is taken next
time), so a name is never prepared twice nor executed unprepared.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from typing import Any

from django.db.backends.postgresql import base
from django.db.backends.utils import debug_transaction

RowsCallback = Callable[[list[tuple[Any, ...]]], None]
_NAMES = itertools.count(1)
_PLACEHOLDER = re.compile(r"%s")


def _numbered(sql: str) -> str:
    """`%s` placeholders as PREPARE wants them: $1, $2, ..."""
    numbers = itertools.count(1)
    return _PLACEHOLDER.sub(lambda _: f"${next(numbers)}", sql)


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._with_commit: list[tuple[str, Sequence[Any], RowsCallback]] = []
        self._prepared: dict[str, str] = {}  # statement -> its prepared name on this connection
        # First of the wrappers (test helpers append theirs after it and pop their own).
        self.execute_wrappers.append(self._send_queued_first)

    def can_send_with_commit(self) -> bool:
        """Inside a transaction (an atomic block) whose statements are not being logged
        (DEBUG or a test counting queries sends each statement as it comes)."""
        return self.in_atomic_block and not self.queries_logged

    def send_with_commit(self, sql: str, params: Sequence[Any], on_rows: RowsCallback) -> None:
        """Queue `sql` (with `%s` placeholders and no other `%`) to be sent with this
        transaction's COMMIT, or before its next statement; `on_rows` receives its result
        rows once sent. Only when `can_send_with_commit()`."""
        self._with_commit.append((sql, params, on_rows))

    def send_queued(self) -> None:
        """Send what is queued now, in one message, before anything else."""
        self._send(suffix="")

    def _send(self, suffix: str) -> None:
        """The queued statements (each prepared on first use) and `suffix`, in one message;
        each statement's rows to its callback."""
        queued, self._with_commit = self._with_commit, []
        if not queued and not suffix:
            return  # sent already, or rolled back
        parts: list[str] = []
        preparing: dict[str, str] = {}
        for sql, params, _ in queued:
            name = self._prepared.get(sql) or preparing.get(sql)
            if name is None:
                name = preparing[sql] = f"ehr_statement_{next(_NAMES)}"
                parts.append(f"PREPARE {name} AS {_numbered(sql)}")
            parts.append(f"EXECUTE {name} ({', '.join(['%s'] * len(params))})")
        sql = "; ".join(parts + ([suffix] if suffix else []))
        values = [value for _, params, _ in queued for value in params]
        with self.wrap_database_errors, self.connection.cursor() as cursor:
            cursor.execute(sql, values)
            self._prepared.update(preparing)
            for _, _, on_rows in queued:
                # PREPARE statements have no rows: skip to each EXECUTE's result.
                while cursor.pgresult is not None and cursor.pgresult.command_status.startswith(b"PREPARE"):
                    cursor.nextset()
                on_rows(cursor.fetchall())
                cursor.nextset()

    def _send_queued_first(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if self._with_commit:
            self.send_queued()
        return execute(sql, params, many, context)

    def _commit(self) -> None:
        if not self._with_commit or self.connection is None:
            return super()._commit()  # type: ignore[misc]  # not in django-stubs
        # One simple-protocol message: the queued statements, then COMMIT. If one fails, the
        # server skips the rest, the transaction is aborted and the error raised here: the
        # atomic block rolls back, as for a failed commit.
        with debug_transaction(self, "COMMIT"):
            self._send(suffix="COMMIT")
        return super()._commit()  # type: ignore[misc]  # not in django-stubs; the server is idle: psycopg sends nothing

    def _rollback(self) -> None:
        self._with_commit = []
        return super()._rollback()  # type: ignore[misc]  # not in django-stubs

    def close(self) -> None:
        self._with_commit = []
        super().close()

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        self._prepared = {}  # a new session has no prepared statements
        return super().get_new_connection(conn_params)
