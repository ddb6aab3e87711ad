"""Environment helpers for settings modules: the EHR's (`ehr.settings`) and the sandbox's (`idme_sandbox.settings`).

Configuration errors stop the process with one line that names the variable,
instead of a traceback from deep inside Django or Celery. What each service refuses in
production is its own (`ehr.envconfig.production_problems`, `idme_sandbox.settings`);
the checks of a single value they share live here.
"""

from __future__ import annotations

import base64
import hashlib
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
    missing = [name for name in names if not given(name)]
    if not missing:
        return []
    return ["production mode (DJANGO_DEBUG=0) needs these environment variables: " + ", ".join(missing)]


def require(names: list[str]) -> None:
    """Refuse to start when any of the named variables is unset or empty."""
    refuse(missing_variables(names))


def given(name: str) -> bool:
    """The variable is set to something other than blanks."""
    return bool(os.environ.get(name, "").strip())


# --- what production mode refuses (ASVS-08) ------------------------------------------
# Published in this repository, so never a secret anywhere else.
PUBLISHED_DEVELOPMENT_SECRET_KEY = "dev-only-insecure-secret-key-for-the-embedded-default-never-use-in-production"
DEMO_IDME_CLIENT_SECRET = "ehr-demo-client-secret-change-me"
DEMO_SANDBOX_OPERATOR_PASSWORD = "Demo-Operator-2026"
DEMO_DEA_REGISTRY_API_KEY = "ehr-demo-dea-registry-key-change-me"
MIN_SECRET_KEY_LENGTH = 50
MIN_SECRET_KEY_DISTINCT_CHARACTERS = 5


def secret_key_problems(secret_key: str) -> list[str]:
    if secret_key == PUBLISHED_DEVELOPMENT_SECRET_KEY or secret_key.startswith("django-insecure"):
        return ["DJANGO_SECRET_KEY is a published development value; generate a new one"]
    if len(secret_key) < MIN_SECRET_KEY_LENGTH or len(set(secret_key)) < MIN_SECRET_KEY_DISTINCT_CHARACTERS:
        return [
            f"DJANGO_SECRET_KEY is too weak: it needs at least {MIN_SECRET_KEY_LENGTH} characters, "
            f"{MIN_SECRET_KEY_DISTINCT_CHARACTERS} of them different"
        ]
    return []


def fernet_problems(name: str, keys: list[str]) -> list[str]:
    from cryptography.fernet import Fernet

    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.strip())
        except (ValueError, TypeError):  # binascii.Error is a ValueError
            return [f"{name} is not a list of Fernet keys: key {position} does not parse (32 url-safe base64 bytes)"]
    return []


def demo_value_problems(name: str, value: str, demo_value: str) -> list[str]:
    """A secret that must be given, and not as the value this repository publishes."""
    if not given(name) or value == demo_value:
        return [f"{name} must be set, to a value other than the demo one"]
    return []


def allowed_hosts_problems(allowed_hosts: list[str]) -> list[str]:
    if given("DJANGO_ALLOWED_HOSTS") and "*" in [host.strip() for host in allowed_hosts]:
        return ["DJANGO_ALLOWED_HOSTS contains '*'; list the host names this server answers to"]
    return []


def development_fernet_key(label: str, secret_key: str) -> str:
    """A Fernet key derived from the secret key: deterministic in development, so encrypted
    demo data survives restarts. Production mode asks for real keys."""
    return base64.urlsafe_b64encode(hashlib.sha256(f"{label}:{secret_key}".encode()).digest()).decode()


# SQLite as both services use it. IMMEDIATE takes the write lock at BEGIN, so concurrent
# transactions queue instead of failing half-way ("database is locked").
SQLITE_OPTIONS: dict[str, object] = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 30,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}

_DB_SCHEMES = {"postgres", "postgresql", "pgsql", "sqlite"}
_REDIS_SCHEMES = {"redis", "rediss"}


def database_config(
    env: environ.Env, default: str, variables: tuple[str, ...] = ("DATABASE_URL",)
) -> dict[str, object]:
    """The database of the first of `variables` that is set, else `default`."""
    name = next((variable for variable in variables if given(variable)), variables[0])
    url = os.environ.get(name, "").strip() or default
    parts = urlsplit(url)
    if parts.scheme not in _DB_SCHEMES:
        fail(
            f"{name} is malformed: scheme {parts.scheme or '(none)'!r} is not one of "
            "postgres://, postgresql://, sqlite:///"
        )
    if parts.scheme != "sqlite" and not (parts.hostname and parts.path.strip("/")):
        fail(f"{name} is malformed: expected postgres://USER@HOST:PORT/NAME")
    try:
        config: dict[str, object] = env.db_url_config(url)
    except Exception as exc:  # environ raises several types; the message is what matters
        fail(f"{name} is malformed: {exc}")
    return config


def redis_url(name: str = "REDIS_URL") -> str | None:
    url = os.environ.get(name, "").strip()
    if not url:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        fail(f"{name} is malformed: {exc}")
    if parts.scheme not in _REDIS_SCHEMES or not parts.hostname:
        fail(f"{name} is malformed: expected redis://HOST:PORT/DB")
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
