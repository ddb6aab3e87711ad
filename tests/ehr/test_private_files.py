"""Files the app creates under var/ are readable by their owner only (ASVS-01).

Each check starts the real entry points in fresh processes against an empty var/ folder, lets
them create what they create (database with its WAL and SHM, signing key, file cache, broker
folders, beat's schedule) and lists the modes.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Run inside `manage.py shell`: write to the database (WAL mode keeps -wal and -shm open),
# fill the cache, create the signing key, and list var/ while the connection is still open.
CREATE_AND_LIST = """
import json, os, stat
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from audit.keys import signing_key
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE IF NOT EXISTS probe (x integer)")
    cursor.execute("INSERT INTO probe VALUES (1)")
cache.set("probe", "value", 60)
signing_key()
modes = {}
for folder, dirs, files in os.walk(settings.VAR_DIR):
    for name in dirs + files:
        path = os.path.join(folder, name)
        modes[os.path.relpath(path, settings.VAR_DIR)] = stat.S_IMODE(os.lstat(path).st_mode)
print("MODES=" + json.dumps(modes))
"""


def environment(var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL", "IDME_"))}
    for name in ("EHR_TESTING", "EPCS_SIGNING_KEY", "EPCS_SIGNING_KEY_FILE"):
        env.pop(name, None)
    env["EHR_VAR_DIR"] = str(var_dir)
    return env


def modes_under(folder: Path) -> dict[str, int]:
    return {str(path.relative_to(folder)): stat.S_IMODE(path.lstat().st_mode) for path in folder.rglob("*")}


def assert_owner_only(modes: dict[str, int]) -> None:
    loose = {name: oct(mode) for name, mode in modes.items() if mode & 0o077}
    assert not loose, f"readable or writable by others: {loose}"


@pytest.mark.req("ASVS-01")
def test_the_web_process_creates_database_wal_keys_cache_and_broker_folders_owner_only(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", CREATE_AND_LIST],
        cwd=ROOT,
        env=environment(var_dir),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("MODES="))
    modes: dict[str, int] = json.loads(line.removeprefix("MODES="))
    for expected in ("db.sqlite3", "db.sqlite3-wal", "db.sqlite3-shm", "epcs-signing-key.pem", "cache", "celery/queue"):
        assert expected in modes, sorted(modes)
    assert any(name.startswith("cache/") for name in modes), "the cache entry was written"
    assert_owner_only(modes)
    assert stat.S_IMODE(var_dir.stat().st_mode) == 0o700


@pytest.mark.req("ASVS-01")
def test_beat_writes_its_schedule_owner_only(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    log = tmp_path / "beat.log"
    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "ehr", "beat", "--loglevel", "INFO"],
        cwd=ROOT,
        env=environment(var_dir),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(var_dir.glob("celerybeat-schedule*")):
            assert beat.poll() is None, log.read_text()
            time.sleep(0.2)
        assert list(var_dir.glob("celerybeat-schedule*")), log.read_text()
    finally:
        beat.terminate()
        beat.wait(timeout=30)
    assert_owner_only(modes_under(var_dir))
    assert stat.S_IMODE(var_dir.stat().st_mode) == 0o700


@pytest.mark.req("ASVS-01")
def test_an_existing_var_folder_is_tightened_on_start(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    var_dir.mkdir(mode=0o755)
    var_dir.chmod(0o755)
    old_database = var_dir / "db.sqlite3"
    old_database.write_bytes(b"")
    old_database.chmod(0o644)
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=environment(var_dir),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(var_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(old_database.stat().st_mode) == 0o600
