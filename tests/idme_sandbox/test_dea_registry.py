"""The DEA registry simulator's API (docs/dea-registry.md): a subscriber's API key, one JSON
answer per DEA number, clear JSON refusals, and the documented demo data (DEA-20)."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from idme_sandbox.dea_registry.demo import DEMO_REGISTRATIONS, demo_expiry, seed_demo_registry
from idme_sandbox.dea_registry.models import DeaRegistryRecord, DeaRegistrySubscriber
from idme_sandbox.dea_registry.services import register_subscriber
from providers.validators import dea_check_digit_valid

API_KEY = "registry-test-key-0123456789"
URL = "/idme-sandbox/dea-registry/v1/registrations/"


def ask(number: str, key: str | None = API_KEY, method: str = "get") -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key is not None else {}
    return getattr(Client(), method)(URL + number, **headers)


@pytest.fixture
def registry(db: None) -> None:
    seed_demo_registry()
    register_subscriber("Test EHR", API_KEY)


@pytest.mark.req("DEA-20")
def test_an_active_registration_is_answered_with_every_field(registry: None) -> None:
    response = ask("AS1234563")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    today = timezone.localdate()
    assert {k: v for k, v in body.items() if k != "checked_at"} == {
        "dea_number": "AS1234563",
        "registrant_name": "Smith, Alice",
        "registrant_last_name": "Smith",
        "registrant_first_name": "Alice",
        "business_activity": "practitioner",
        "schedules": ["2", "2N", "3", "3N", "4", "5"],
        "state": "NY",
        "expires_on": demo_expiry(today).isoformat(),
        "status": "active",
    }
    assert dt.datetime.fromisoformat(body["checked_at"]).tzinfo is not None
    # Lower case and spaces are read as the DEA number they spell.
    assert ask("as1234563").json()["dea_number"] == "AS1234563"


@pytest.mark.req("DEA-20")
def test_the_documented_demo_data(registry: None) -> None:
    answers = {demo.number: ask(demo.number).json() for demo in DEMO_REGISTRATIONS}
    assert {n: (a["registrant_last_name"], a["status"]) for n, a in answers.items()} == {
        "AS1234563": ("Smith", "active"),
        "BJ1234563": ("Jones", "active"),
        "AW7654329": ("Walker", "expired"),
        "BR2468014": ("Reyes", "revoked"),
        "FP1357929": ("Patel", "active"),
    }
    assert answers["FP1357929"]["schedules"] == ["3", "3N", "4", "5"]
    assert dt.date.fromisoformat(answers["AW7654329"]["expires_on"]) < timezone.localdate()
    for number, answer in answers.items():
        assert dea_check_digit_valid(number)
        assert number[1] == answer["registrant_last_name"][0]


@pytest.mark.req("DEA-20")
def test_an_active_record_past_its_expiry_is_answered_expired(registry: None) -> None:
    DeaRegistryRecord.objects.filter(dea_number="BJ1234563").update(expires_on=timezone.localdate())
    assert ask("BJ1234563").json()["status"] == "expired"


@pytest.mark.req("DEA-20")
@pytest.mark.req("ASVS-10")
@pytest.mark.parametrize(
    ("number", "key", "method", "status", "code"),
    [
        ("AS1234563", None, "get", 401, "invalid_token"),
        ("AS1234563", "not-the-key-at-all", "get", 401, "invalid_token"),
        ("AS1234563", API_KEY, "post", 405, "method_not_allowed"),
        ("AS1234563", API_KEY, "delete", 405, "method_not_allowed"),
        ("AS12345", API_KEY, "get", 400, "invalid_dea_number"),
        ("<script>", API_KEY, "get", 400, "invalid_dea_number"),
        ("GS0000000", API_KEY, "get", 404, "not_found"),
    ],
)
def test_refusals_are_json_with_a_stable_code(
    registry: None, number: str, key: str | None, method: str, status: int, code: str
) -> None:
    response = ask(number, key, method)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == code and response.json()["error_description"]
    if status == 401:
        assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.req("DEA-20")
def test_a_deactivated_subscriber_is_refused_and_keys_are_stored_hashed(registry: None) -> None:
    subscriber = DeaRegistrySubscriber.objects.get(name="Test EHR")
    assert API_KEY not in subscriber.key_sha256 and len(subscriber.key_sha256) == 64
    subscriber.active = False
    subscriber.save()
    assert ask("AS1234563").status_code == 401


def test_unknown_paths_are_json_404(registry: None) -> None:
    response = Client().get("/idme-sandbox/dea-registry/v2/anything")
    assert response.status_code == 404 and response.json()["error"] == "not_found"


@pytest.mark.req("DEA-20")
def test_seed_idme_sandbox_seeds_the_registry_and_registers_the_ehrs_key(db: None, settings: Any) -> None:
    call_command("seed_idme_sandbox", stdout=StringIO())
    call_command("seed_idme_sandbox", stdout=StringIO())
    assert DeaRegistryRecord.objects.count() == len(DEMO_REGISTRATIONS)
    assert DeaRegistrySubscriber.objects.count() == 1
    assert ask("BJ1234563", key=settings.DEA_REGISTRY_API_KEY).json()["status"] == "active"


@pytest.mark.req("DEA-20")
def test_the_ehrs_demo_seed_repeats_the_registrys_demo_answers(db: None) -> None:
    """providers/demo.py may not import the sandbox, so it repeats the answers: they agree."""
    from providers.demo import DEMO_CREDENTIALS, DEMO_PEOPLE, demo_registry_answer

    seed_demo_registry()
    register_subscriber("Test EHR", API_KEY)
    people = {person.username: person for person in DEMO_PEOPLE}
    for item in DEMO_CREDENTIALS:
        expected = demo_registry_answer(item, people[item.username], timezone.localdate()).as_json()
        served = ask(item.dea_number).json()
        expected.pop("checked_at"), served.pop("checked_at")
        assert served == expected
