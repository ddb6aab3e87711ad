"""Contract tests: the real `dea_registry_client` against the sandbox's DEA registry simulator
over real HTTP (pytest-django's live server), configured from settings only. A small
misbehaving HTTP server shows how the client handles a registry that is down or broken."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.utils import timezone

from dea_registry_client import (
    BusinessActivity,
    RegistryClient,
    RegistryNotConfigured,
    RegistryNotFound,
    RegistryRecord,
    RegistryRejected,
    RegistryStatus,
    RegistryUnavailable,
    Schedule,
    registry_client,
)
from idme_sandbox.dea_registry.demo import demo_expiry, seed_demo_registry
from tests.registry_fixtures import DeaRegistryHandle

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def registry(dea_registry_live: DeaRegistryHandle) -> DeaRegistryHandle:
    seed_demo_registry()
    return dea_registry_live


@pytest.mark.req("DEA-20")
def test_an_active_registration_comes_back_typed(registry: DeaRegistryHandle) -> None:
    record = registry_client().lookup("AS1234563")
    assert isinstance(record, RegistryRecord)
    assert record.dea_number == "AS1234563"
    assert (record.registrant_last_name, record.registrant_first_name) == ("Smith", "Alice")
    assert record.registrant_name == "Smith, Alice"
    assert record.business_activity is BusinessActivity.PRACTITIONER and record.business_activity.may_prescribe
    assert record.schedules == frozenset(Schedule)
    assert record.state == "NY"
    assert record.expires_on == demo_expiry(timezone.localdate())
    assert record.status is RegistryStatus.ACTIVE
    assert record.checked_at.tzinfo is not None
    snapshot = record.as_json()
    assert snapshot["schedules"] == ["2", "2N", "3", "3N", "4", "5"] and snapshot["status"] == "active"
    assert json.loads(json.dumps(snapshot)) == snapshot


@pytest.mark.req("DEA-20")
def test_expired_revoked_and_missing_schedule_ii_come_back_as_such(registry: DeaRegistryHandle) -> None:
    client = registry_client()
    assert client.lookup("AW7654329").status is RegistryStatus.EXPIRED
    assert client.lookup("BR2468014").status is RegistryStatus.REVOKED
    patel = client.lookup("FP1357929")
    assert patel.status is RegistryStatus.ACTIVE
    assert Schedule.II not in patel.schedules and Schedule.IIN not in patel.schedules
    assert patel.schedules == frozenset({Schedule.III, Schedule.IIIN, Schedule.IV, Schedule.V})


@pytest.mark.req("DEA-20")
def test_an_unknown_number_is_not_found(registry: DeaRegistryHandle) -> None:
    with pytest.raises(RegistryNotFound) as error:
        registry_client().lookup("GS0000000")
    assert error.value.status == 404 and error.value.code == "not_found"


@pytest.mark.req("DEA-20")
def test_a_wrong_api_key_is_rejected(registry: DeaRegistryHandle, settings: Any) -> None:
    settings.DEA_REGISTRY_API_KEY = "a-key-the-registry-never-issued"
    with pytest.raises(RegistryRejected) as error:
        registry_client().lookup("AS1234563")
    assert error.value.status == 401 and error.value.code == "invalid_token"
    assert not isinstance(error.value, RegistryNotFound)


def test_a_malformed_number_is_refused_without_a_request(settings: Any) -> None:
    settings.DEA_REGISTRY_URL = "http://127.0.0.1:9/dea-registry"
    with pytest.raises(RegistryRejected) as error:
        registry_client().lookup("AS12/../x")
    assert error.value.code == "invalid_dea_number"


def test_the_client_is_configured_by_settings_and_never_shows_its_key(settings: Any) -> None:
    settings.DEA_REGISTRY_URL = "http://registry.invalid/base/"
    settings.DEA_REGISTRY_API_KEY = "secret-key-value-123456"
    settings.DEA_REGISTRY_TIMEOUT_SECONDS = 2.5
    client = registry_client()
    assert client.base_url == "http://registry.invalid/base" and client.timeout == 2.5
    assert "secret-key-value-123456" not in repr(client)


@pytest.mark.req("DEA-20")
@pytest.mark.parametrize("missing", ["DEA_REGISTRY_URL", "DEA_REGISTRY_API_KEY"])
def test_an_unconfigured_registry_says_so(settings: Any, missing: str) -> None:
    setattr(settings, missing, "")
    with pytest.raises(RegistryNotConfigured) as error:
        registry_client().lookup("AS1234563")
    assert isinstance(error.value, RegistryUnavailable) and error.value.code == "registry_not_configured"


@pytest.mark.req("DEA-20")
def test_a_registry_that_is_down_is_unavailable(settings: Any) -> None:
    settings.DEA_REGISTRY_URL = "http://127.0.0.1:9/dea-registry"
    with pytest.raises(RegistryUnavailable) as error:
        registry_client().lookup("AS1234563")
    assert "could not be reached" in str(error.value)


# --- a misbehaving registry ---------------------------------------------------------------
class Broken:
    """What the fake registry answers next: status, body, delay."""

    status = 200
    body = b"{}"
    delay = 0.0


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(Broken.delay)
        self.send_response(Broken.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(Broken.body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def broken_registry() -> Iterator[RegistryClient]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Broken.status, Broken.body, Broken.delay = 200, b"{}", 0.0
    yield RegistryClient(f"http://127.0.0.1:{server.server_address[1]}", "any-key-0123456789", timeout=0.5)
    server.shutdown()
    server.server_close()


def _answer(**changes: Any) -> bytes:
    body = {
        "dea_number": "AS1234563",
        "registrant_name": "Smith, Alice",
        "registrant_last_name": "Smith",
        "registrant_first_name": "Alice",
        "business_activity": "practitioner",
        "schedules": ["2", "3"],
        "state": "NY",
        "expires_on": "2028-12-31",
        "status": "active",
        "checked_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    body.update(changes)
    return json.dumps(body).encode()


@pytest.mark.req("DEA-20")
@pytest.mark.parametrize(
    ("status", "body", "says"),
    [
        (500, b"{}", "server error (500)"),
        (503, b"<html>down</html>", "server error (503)"),
        (200, b"<html>not json</html>", "not JSON"),
        (200, _answer(status="suspended"), "does not match the contract"),
        (200, _answer(schedules="2,3"), "does not match the contract"),
        (200, _answer(expires_on="31/12/2028"), "does not match the contract"),
        (200, _answer(dea_number="BJ1234563"), "a different DEA number"),
        (302, b"", "redirect"),
    ],
)
def test_a_broken_answer_is_unavailable_never_a_record(
    broken_registry: RegistryClient, status: int, body: bytes, says: str
) -> None:
    Broken.status, Broken.body = status, body
    with pytest.raises(RegistryUnavailable) as error:
        broken_registry.lookup("AS1234563")
    assert says in str(error.value)


def test_an_unknown_business_activity_is_read_as_other(broken_registry: RegistryClient) -> None:
    Broken.body = _answer(business_activity="researcher")
    record = broken_registry.lookup("AS1234563")
    assert record.business_activity is BusinessActivity.OTHER and not record.business_activity.may_prescribe


@pytest.mark.req("DEA-20")
def test_a_slow_registry_times_out(broken_registry: RegistryClient) -> None:
    Broken.body, Broken.delay = _answer(), 1.5
    started = time.monotonic()
    with pytest.raises(RegistryUnavailable):
        broken_registry.lookup("AS1234563")
    assert time.monotonic() - started < 1.4
