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
    """Raised while loading settings; exits with one line per problem."""

    def __init__(self, message: str | list[str]) -> None:
        lines = [message] if isinstance(message, str) else message
        super().__init__("\n".join(f"Configuration error: {line}" for line in lines))


def fail(message: str) -> NoReturn:
    raise ConfigurationError(message)


def refuse(problems: list[str]) -> None:
    """Stop with one line per problem, when there are any."""
    if problems:
        raise ConfigurationError(problems)


def missing_variables(names: list[str]) -> list[str]:
    """One line naming every variable of `names` that is unset or empty (or none)."""
    missing = [name for name in names if not _given(name)]
    if not missing:
        return []
    return ["production mode (DJANGO_DEBUG=0) needs these environment variables: " + ", ".join(missing)]


def require(names: list[str]) -> None:
    """Refuse to start when any of the named variables is unset or empty."""
    refuse(missing_variables(names))


def _given(name: str) -> bool:
    return bool(os.environ.get(name, "").strip())


# --- what production mode refuses (ASVS-08) ------------------------------------------
# Published in this repository, so never a secret anywhere else.
PUBLISHED_DEVELOPMENT_SECRET_KEY = "dev-only-insecure-secret-key-for-the-embedded-default-never-use-in-production"
DEMO_IDME_CLIENT_SECRET = "ehr-demo-client-secret-change-me"
DEMO_SANDBOX_OPERATOR_PASSWORD = "Demo-Operator-2026"
MIN_SECRET_KEY_LENGTH = 50
MIN_SECRET_KEY_DISTINCT_CHARACTERS = 5


def _secret_key_problems(secret_key: str) -> list[str]:
    if secret_key == PUBLISHED_DEVELOPMENT_SECRET_KEY or secret_key.startswith("django-insecure"):
        return ["DJANGO_SECRET_KEY is a published development value; generate a new one"]
    if len(secret_key) < MIN_SECRET_KEY_LENGTH or len(set(secret_key)) < MIN_SECRET_KEY_DISTINCT_CHARACTERS:
        return [
            f"DJANGO_SECRET_KEY is too weak: it needs at least {MIN_SECRET_KEY_LENGTH} characters, "
            f"{MIN_SECRET_KEY_DISTINCT_CHARACTERS} of them different"
        ]
    return []


def _fernet_problems(name: str, keys: list[str]) -> list[str]:
    from cryptography.fernet import Fernet

    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.strip())
        except (ValueError, TypeError):  # binascii.Error is a ValueError
            return [f"{name} is not a list of Fernet keys: key {position} does not parse (32 url-safe base64 bytes)"]
    return []


def production_problems(
    *,
    secret_key: str,
    fernet_keys: dict[str, list[str]],
    allowed_hosts: list[str],
    idme_base_url: str,
    idme_client_secrets: dict[str, str],
    sandbox_enabled: bool,
    sandbox_in_production: bool,
    sandbox_operator_password: str,
) -> list[str]:
    """One line per unsafe production setting. Variables left unset are not judged here:
    `missing_variables` names them (a default is a development value by definition)."""
    problems: list[str] = []
    if _given("DJANGO_SECRET_KEY"):
        problems += _secret_key_problems(secret_key)
    for name, keys in fernet_keys.items():
        if _given(name):
            problems += _fernet_problems(name, keys)
    if _given("DJANGO_ALLOWED_HOSTS") and "*" in [host.strip() for host in allowed_hosts]:
        problems.append("DJANGO_ALLOWED_HOSTS contains '*'; list the host names this server answers to")
    for name, value in idme_client_secrets.items():
        if _given(name) and value == DEMO_IDME_CLIENT_SECRET:
            problems.append(f"{name} is the published demo client secret; use the one ID.me issued")
    if _given("IDME_BASE_URL") and urlsplit(idme_base_url).scheme != "https" and not sandbox_in_production:
        problems.append("IDME_BASE_URL must be an https:// URL in production mode")
    if sandbox_enabled and not sandbox_in_production:
        problems.append(
            "IDME_SANDBOX_ENABLED=1: the ID.me sandbox is not ID.me; "
            "set IDME_SANDBOX_IN_PRODUCTION=1 only on a demonstration host"
        )
    if (
        sandbox_enabled
        and sandbox_in_production
        and (
            not _given("IDME_SANDBOX_OPERATOR_PASSWORD") or sandbox_operator_password == DEMO_SANDBOX_OPERATOR_PASSWORD
        )
    ):
        problems.append("IDME_SANDBOX_OPERATOR_PASSWORD must be set, to a value other than the demo one")
    return problems


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
