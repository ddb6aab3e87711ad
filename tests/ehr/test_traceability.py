"""docs/traceability.md is generated from the req markers and must match them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_traceability_matrix_is_current_and_has_no_gaps(tmp_path: Path) -> None:
    generated = tmp_path / "traceability.md"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            "--traceability",
            str(generated),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "EHR_TESTING": "1"},
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    text = generated.read_text()
    assert "| **GAP** |" not in text
    assert text == (ROOT / "docs" / "traceability.md").read_text(), "run `make traceability` and commit the result"
