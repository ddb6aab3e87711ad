"""An outside auditor verifies an exported chain with the public key alone: the standalone
script audit/verify_export.py runs here exactly as docs/audit.md tells them (DEA-13, ASVS-09)."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

import audit
from audit.sequencer import sweep

pytestmark = [pytest.mark.django_db, pytest.mark.req("DEA-13"), pytest.mark.req("ASVS-09")]

SCRIPT = Path(__file__).resolve().parents[2] / "audit" / "verify_export.py"


def auditor_runs(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The script copied alone into an empty folder and run with Python's isolated mode:
    nothing of the project can be imported."""
    shutil.copy(SCRIPT, folder / "verify_export.py")
    return subprocess.run(
        [sys.executable, "-I", "verify_export.py", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def exported(tmp_path: Path, settings: Any) -> Path:
    settings.AUDIT_CHECKPOINT_INTERVAL_SECONDS = 0
    for n in range(4):
        audit.record("test.event", chain=11, target=("thing", n), details={"n": n, "name": "Zoë"})
        sweep()
    audit.record("test.after_the_last_checkpoint", chain=11, details={"ip": None})
    audit.record("test.no_practice")
    call_command(
        "export_audit",
        "--chain",
        "11",
        "--output",
        str(tmp_path / "chain-11.jsonl"),
        "--public-key",
        str(tmp_path / "ehr-public.pem"),
    )
    return tmp_path


def test_the_export_holds_the_chain_and_its_checkpoints(exported: Path) -> None:
    lines = [json.loads(line) for line in (exported / "chain-11.jsonl").read_text().splitlines()]
    events = [line for line in lines if line["type"] == "event"]
    checkpoints = [line for line in lines if line["type"] == "checkpoint"]
    assert [e["position"] for e in events] == [1, 2, 3, 4, 5]
    assert {e["chain_id"] for e in events} == {11}
    assert [c["position"] for c in checkpoints] == [1, 2, 3, 4, 5]


def test_the_standalone_script_verifies_an_intact_export(exported: Path) -> None:
    result = auditor_runs(exported, "chain-11.jsonl", "--public-key", "ehr-public.pem")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "chain 11: 5 events, 5 checkpoints, intact" in result.stdout


def test_the_standalone_script_finds_an_edited_export(exported: Path) -> None:
    path = exported / "chain-11.jsonl"
    path.write_text(path.read_text().replace('"action": "test.event"', '"action": "test.edited"', 1))
    result = auditor_runs(exported, "chain-11.jsonl", "--public-key", "ehr-public.pem")
    assert result.returncode == 1
    assert "PROBLEM event_altered at position 1" in result.stdout


def test_the_standalone_script_finds_a_cut_export_with_an_earlier_checkpoint(exported: Path) -> None:
    earlier = exported / "earlier.jsonl"
    shutil.copy(exported / "chain-11.jsonl", earlier)
    path = exported / "chain-11.jsonl"
    kept = [line for line in path.read_text().splitlines() if json.loads(line)["position"] <= 3]
    path.write_text("\n".join(kept) + "\n")
    result = auditor_runs(
        exported, "chain-11.jsonl", "--public-key", "ehr-public.pem", "--checkpoints", "earlier.jsonl"
    )
    assert result.returncode == 1
    assert "PROBLEM checkpoint_beyond_end at position 5" in result.stdout


def test_another_key_does_not_verify_the_export(exported: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    other = Ed25519PrivateKey.generate().public_key()
    (exported / "other.pem").write_bytes(
        other.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    result = auditor_runs(exported, "chain-11.jsonl", "--public-key", "other.pem")
    assert result.returncode == 1
    assert "PROBLEM checkpoint_key_unknown" in result.stdout


def test_the_chain_of_no_practice_exports_too(tmp_path: Path) -> None:
    audit.record("auth.login_failed", details={"username": "nobody"})
    call_command(
        "export_audit",
        "--chain",
        "none",
        "--output",
        str(tmp_path / "none.jsonl"),
        "--public-key",
        str(tmp_path / "key.pem"),
    )
    result = auditor_runs(tmp_path, "none.jsonl", "--public-key", "key.pem")
    assert result.returncode == 0, result.stdout
    assert "chain none: 1 events" in result.stdout


def test_the_script_imports_nothing_but_the_standard_library_and_cryptography() -> None:
    tree = ast.parse(SCRIPT.read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    roots = {name.split(".")[0] for name in imported}
    assert roots <= {
        "__future__",
        "argparse",
        "base64",
        "hashlib",
        "json",
        "sys",
        "collections",
        "dataclasses",
        "enum",
        "typing",
        "cryptography",
    }, roots
