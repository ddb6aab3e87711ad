"""`flush` that also works with SQLite's refusal triggers (the audit trail's and the signed
prescriptions'; DEA-12/DEA-17).

Flushing empties every table. PostgreSQL does it with TRUNCATE, which row triggers do not
see; SQLite does it with DELETE FROM, which the triggers refuse (no prescription is ever
deleted, no audit event either). On SQLite this command therefore takes the triggers out while it empties the
tables and puts the very same definitions back afterwards, in every case. Nothing else
changes: the rest is Django's own flush (the test run uses it between transactional tests).
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands.flush import Command as DjangoFlush
from django.db import DEFAULT_DB_ALIAS, connections


class Command(DjangoFlush):
    def handle(self, **options: Any) -> None:
        connection = connections[options.get("database") or DEFAULT_DB_ALIAS]
        if connection.vendor != "sqlite":
            super().handle(**options)
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND sql IS NOT NULL")
            triggers = list(cursor.fetchall())
            for name, _sql in triggers:
                cursor.execute(f'DROP TRIGGER IF EXISTS "{name}"')
        try:
            super().handle(**options)
        finally:
            with connection.cursor() as cursor:
                for _name, sql in triggers:
                    cursor.execute(sql)
