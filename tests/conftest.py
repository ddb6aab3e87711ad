"""Shared fixtures: named test users, a real Celery worker, requirement traceability."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from providers.models import Membership, Practice, PracticeRole, Provider, User

# Shared fixtures of the ID.me sandbox (`idme_sandbox_live`) and the DEA registry (`dea_registry_live`).
pytest_plugins = ["tests.idme_fixtures", "tests.registry_fixtures", "tests.browser"]

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS_FILE = ROOT.parent / "shared" / "REQUIREMENTS.md"
TEST_PASSWORD = "Correct-Horse-42"


# --- requirement markers -> docs/traceability.md ----------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--traceability", metavar="PATH", help="write the requirement -> tests matrix to PATH")


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    target = config.getoption("--traceability")
    if not target:
        return
    from tests.traceability import render_matrix

    Path(target).write_text(render_matrix(items))


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Attempt counters live in the cache; each test starts with none."""
    from django.core.cache import cache

    cache.clear()
    yield


# --- people -----------------------------------------------------------------
@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    def make(username: str = "dr.house", **fields: Any) -> User:
        user = User.objects.create_user(username=username, password=TEST_PASSWORD, **fields)
        return user

    return make


# --- practices (issue 10): every test person works in a practice through a membership ---------
def join(user: User, practice: Practice, *roles: PracticeRole) -> User:
    """Give `user` each role in `practice` (a prescriber when no role is named)."""
    for role in roles or (PracticeRole.PRESCRIBER,):
        Membership.objects.get_or_create(user=user, practice=practice, role=role)
    return user


@pytest.fixture
def practice(db: None) -> Practice:
    """The practice the named test people work in."""
    return Practice.objects.get_or_create(
        name="Princeton Plainsboro Teaching Hospital",
        defaults={"address_line1": "1 Princeton Plaza", "city": "Princeton", "state": "NJ", "postal_code": "08540"},
    )[0]


@pytest.fixture
def other_practice(db: None) -> Practice:
    """A second practice, for isolation tests: its objects are another practice's."""
    return Practice.objects.get_or_create(
        name="Sacred Heart Hospital", defaults={"city": "San Dimas", "state": "CA", "postal_code": "91773"}
    )[0]


@pytest.fixture
def clinician(make_user: Callable[..., User], practice: Practice) -> User:
    user = make_user("dr.house", first_name="Gregory", last_name="House", email="house@example.test")
    Provider.objects.create(user=user, display_name="Dr. Gregory House", npi="1234567893")
    return join(user, practice, PracticeRole.PRESCRIBER)


@pytest.fixture
def clinician_client(clinician: User) -> Client:
    client = Client()
    assert client.login(username=clinician.username, password=TEST_PASSWORD)
    return client


def token_client(user: User, *scopes: str) -> Client:
    """A client that calls the API with a new personal access token of `user` (every scope
    unless some are named), as a script would (api_access; docs/api.md "Authentication")."""
    from api_access.services import create_token
    from ehr.api_scopes import SCOPES

    created = create_token(user, name="test script", scopes=list(scopes or SCOPES))
    return Client(HTTP_AUTHORIZATION=f"Bearer {created.secret}")


def login_through_form(client: Client, username: str, password: str = TEST_PASSWORD) -> Any:
    """Sign in the way a person does, so sign-in signals (recent-auth time, audit) run."""
    return client.post("/accounts/login/", {"username": username, "password": password})


# --- a real Celery worker process ------------------------------------------
def _database_url_for_subprocess() -> str:
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or ""
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict["HOST"] or "127.0.0.1"
    return f"postgres://{auth}{host}:{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"


def worker_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"EHR_TESTING": "1", "DATABASE_URL": _database_url_for_subprocess(), "PYTHONUNBUFFERED": "1"})
    env.update(extra or {})
    return env


def purge_broker() -> None:
    """Drop messages earlier tests left in the broker (a device sync for a provider id that
    is reused now, a poller that lingers): each test's worker sees only its own tasks."""
    from ehr.celery import app

    app.control.purge()


def start_celery_worker(
    log: Path, *, extra_env: dict[str, str] | None = None, concurrency: int = 4, purge: bool = True
) -> subprocess.Popen[bytes]:
    """Start `celery worker` as its own process against the configured broker and test DB,
    and wait until it is ready. Its own session, so a test can kill it like a crash would.
    `purge=False` keeps what is queued (a replacement worker must receive what its killed
    predecessor left unacknowledged)."""
    if purge:
        purge_broker()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "ehr",
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "INFO",
            "--without-mingle",
            "--without-gossip",
            "--hostname",
            f"test-{os.getpid()}-{time.monotonic_ns()}@%h",
        ],
        cwd=ROOT,
        env=worker_environment(extra_env),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if b"ready." in log.read_bytes():
            return process
        if process.poll() is not None:
            raise RuntimeError(f"Celery worker exited early:\n{log.read_text()}")
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"Celery worker did not become ready:\n{log.read_text()}")


def stop_celery_worker(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@pytest.fixture
def celery_worker_process(transactional_db: None, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real Celery worker process for the test."""
    process = start_celery_worker(tmp_path / "worker.log")
    yield process
    stop_celery_worker(process)
