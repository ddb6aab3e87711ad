"""Environment helpers for settings.py.

Configuration errors stop the process with one line that names the variable,
instead of a traceback from deep inside Django or Celery.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import environ


class ConfigurationError(SystemExit):
    """Raised while loading settings; exits with a one-line message."""

    def __init__(self, message: str) -> None:
        super().__init__(f"Configuration error: {message}")


def fail(message: str) -> NoReturn:
    raise ConfigurationError(message)


def require(names: list[str]) -> None:
    """Refuse to start when any of the named variables is unset or empty."""
    missing = [name for name in names if not os.environ.get(name, "").strip()]
    if missing:
        fail("production mode (DJANGO_DEBUG=0) needs these environment variables: " + ", ".join(missing))


_DB_SCHEMES = {"postgres", "postgresql", "pgsql", "sqlite"}
_REDIS_SCHEMES = {"redis", "rediss"}


def database_config(env: environ.Env, default: str) -> dict[str, object]:
    url = os.environ.get("DATABASE_URL", "").strip() or default
    parts = urlsplit(url)
    if parts.scheme not in _DB_SCHEMES:
        fail(
            f"DATABASE_URL is malformed: scheme {parts.scheme or '(none)'!r} is not one of "
            "postgres://, postgresql://, sqlite:///"
        )
    if parts.scheme != "sqlite" and not (parts.hostname and parts.path.strip("/")):
        fail("DATABASE_URL is malformed: expected postgres://USER@HOST:PORT/NAME")
    try:
        config: dict[str, object] = env.db_url_config(url)
    except Exception as exc:  # environ raises several types; the message is what matters
        fail(f"DATABASE_URL is malformed: {exc}")
    return config


def redis_url() -> str | None:
    url = os.environ.get("REDIS_URL", "").strip()
    if not url:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        fail(f"REDIS_URL is malformed: {exc}")
    if parts.scheme not in _REDIS_SCHEMES or not parts.hostname:
        fail("REDIS_URL is malformed: expected redis://HOST:PORT/DB")
    return url


def is_running_tests() -> bool:
    return "pytest" in sys.modules or os.environ.get("EHR_TESTING") == "1"


def keep_files_private(var_dir: Path) -> None:
    """Files the app creates are its owner's only (ASVS-01).

    The process umask gains 077, so the database and its WAL and SHM files, keys, the file
    cache, the filesystem broker's folders and beat's schedule are created 0600 (folders
    0700), whichever entry point (manage.py, gunicorn, the Celery worker or beat) starts
    first: each of them loads these settings before it writes anything. `var_dir` itself
    is made 0700, and the entries directly inside it lose any group and other bits, so an
    installation made before this rule is tightened on its next start. A shared folder
    (sticky bit, like /tmp) or one owned by someone else is left as it is.
    """
    current = os.umask(0o077)
    os.umask(current | 0o077)
    var_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = var_dir.stat()
    if info.st_mode & stat.S_ISVTX or info.st_uid != os.getuid():
        return
    var_dir.chmod(0o700)
    for entry in var_dir.iterdir():
        try:
            mode = entry.lstat().st_mode
            if not stat.S_ISLNK(mode) and mode & 0o077:
                entry.chmod(stat.S_IMODE(mode) & 0o700)
        except OSError:  # removed meanwhile (another process starting), or not ours
            continue
