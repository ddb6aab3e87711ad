"""Audit fixtures: a throw-away signing key, and an attacker who lifts the audit triggers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from audit.keys import signing_key

AUDIT_TABLES = ("audit_auditevent", "audit_auditcheckpoint", "audit_incidentreport")


@pytest.fixture(autouse=True)
def audit_key(settings: Any, tmp_path: Path) -> Any:
    """Each test signs checkpoints with its own key file."""
    settings.EPCS_SIGNING_KEY = ""
    settings.EPCS_RETIRED_PUBLIC_KEYS = ""
    settings.EPCS_SIGNING_KEY_FILE = tmp_path / "keys" / "epcs-signing-key.pem"
    return settings


@pytest.fixture
def public_key_pem(audit_key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    return (
        signing_key()
        .private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@contextmanager
def behind_the_audit_triggers() -> Iterator[None]:
    """An attacker with rights over the schema: the audit tables' append-only triggers are off
    inside (PostgreSQL: disabled; SQLite: dropped and put back exactly as they were)."""
    saved: list[tuple[str, str]] = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # ALTER TABLE needs the deferred foreign-key checks of this transaction done first.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for table in AUDIT_TABLES:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")
        else:
            names = ", ".join(f"'{table}'" for table in AUDIT_TABLES)
            cursor.execute(f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ({names})")
            saved = list(cursor.fetchall())
            assert len(saved) == 6, "the SQLite audit triggers are missing"
            for name, _sql in saved:
                cursor.execute(f'DROP TRIGGER "{name}"')
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                for table in AUDIT_TABLES:
                    cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only")
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            for _name, sql in saved:
                cursor.execute(sql)
