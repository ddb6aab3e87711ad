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
from psycopg import abc, errors, generators, pq
from psycopg.adapt import Transformer

RowsCallback = Callable[[list[tuple[Any, ...]]], None]
_NAMES = itertools.count(1)
_PLACEHOLDER = re.compile(r"%s")
_SUCCEEDED = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)


def _numbered(sql: str) -> str:
    """`%s` placeholders as PREPARE wants them: $1, $2, ..."""
    numbers = itertools.count(1)
    return _PLACEHOLDER.sub(lambda _: f"${next(numbers)}", sql)


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._with_commit: list[tuple[str, Sequence[Any], RowsCallback]] = []
        self._prepared: dict[str, bytes] = {}  # statement -> its prepared name on this connection
        self._transformer: abc.Transformer | None = None  # this connection's adapters, for _send
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
        each statement's rows to its callback.

        Sent straight through libpq with psycopg's own generator, values quoted by psycopg's
        adapters (those of this connection), results loaded by them: a cursor's machinery
        cost this message more than everything else the audit adds (docs/performance.md)."""
        queued, self._with_commit = self._with_commit, []
        if not queued and not suffix:
            return  # sent already, or rolled back
        connection = self.connection
        # The transaction's first statement: psycopg has not begun it yet (it begins lazily);
        # its own BEGIN for this connection's transaction characteristics goes first.
        idle = connection.pgconn.transaction_status == pq.TransactionStatus.IDLE
        parts = [connection._get_tx_start_command()] if idle else []
        if self._transformer is None:
            self._transformer = Transformer.from_context(connection)
        literal = self._transformer.as_literal
        preparing: dict[str, bytes] = {}
        executes: list[int] = []  # where each queued statement's result is
        for sql, params, _ in queued:
            name = self._prepared.get(sql) or preparing.get(sql)
            if name is None:
                name = preparing[sql] = b"ehr_statement_%d" % next(_NAMES)
                parts.append(b"PREPARE %s AS %s" % (name, _numbered(sql).encode()))
            values = [b"NULL" if value is None else literal(value) for value in params]
            executes.append(len(parts))
            parts.append(b"EXECUTE %s (%s)" % (name, b", ".join(values)))
        if suffix:
            parts.append(suffix.encode())
        with self.wrap_database_errors, connection.lock:
            connection.pgconn.send_query(b"; ".join(parts))
            results = connection.wait(generators.execute(connection.pgconn))
            failed = next((result for result in results if result.status not in _SUCCEEDED), None)
            if failed is not None:  # the server ran nothing after it
                raise errors.error_from_result(failed, encoding=connection.info.encoding)
        self._prepared.update(preparing)
        for (_, _, on_rows), index in zip(queued, executes, strict=True):
            self._transformer.set_pgresult(results[index])
            on_rows(self._transformer.load_rows(0, results[index].ntuples, tuple))

    def _send_queued_first(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if self._with_commit:
            self.send_queued()
        return execute(sql, params, many, context)

    def _commit(self) -> None:
        if not self._with_commit or self.connection is None:
            return super()._commit()  # type: ignore[misc]  # not in django-stubs
        # One simple-protocol message: the queued statements, then COMMIT. If one fails, the
        # server skips the rest, the transaction is aborted and the error raised here: the
        # atomic block rolls back, as for a failed commit. (Statements are queued only while
        # no query is logged, so there is nothing to log here; super()._commit() logs COMMIT.)
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
        self._transformer = None
        return super().get_new_connection(conn_params)
