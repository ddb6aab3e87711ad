"""/api/v1/audit-events/ and /api/v1/incident-reports/ (providers.audit_api): read-only, for
the access managers and auditors of the practice the call works in, that practice's chain only;
filters and cursor pagination."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

import audit
from audit.models import AuditEvent, IncidentReport
from audit.services import generate_incident_report
from providers.models import Practice, PracticeRole, User
from tests.conftest import TEST_PASSWORD, join, token_client

EVENTS = "/api/v1/audit-events/"
REPORTS = "/api/v1/incident-reports/"


def signed_in(username: str) -> Client:
    client = Client()
    assert client.login(username=username, password=TEST_PASSWORD)
    return client


@pytest.fixture
def manager(make_user: Callable[..., User], practice: Practice) -> User:
    return join(make_user("manager.lee"), practice, PracticeRole.ACCESS_MANAGER)


@pytest.fixture
def auditor(make_user: Callable[..., User], practice: Practice) -> User:
    return join(make_user("auditor.kim"), practice, PracticeRole.AUDITOR)


@pytest.mark.req("ASVS-06")
@pytest.mark.req("DEA-13")
def test_only_access_managers_and_auditors_read_the_trail_and_nobody_changes_it(
    clinician: User, clinician_client: Client, manager: User, auditor: User, practice: Practice
) -> None:
    audit.record("test.something", actor=clinician, chain=practice)
    event = AuditEvent.objects.latest("id")
    for client in (clinician_client, Client()):
        refused = client.get(EVENTS)
        assert refused.status_code in (401, 403) and refused.json()["code"] in (
            "not_authenticated",
            "permission_denied",
        )
        assert client.get(f"{EVENTS}{event.pk}/").status_code in (401, 403)
        assert client.get(REPORTS).status_code in (401, 403)
    for username in ("manager.lee", "auditor.kim"):
        client = signed_in(username)
        assert client.get(EVENTS).status_code == 200
        assert client.get(f"{EVENTS}{event.pk}/").json()["action"] == "test.something"
        assert client.delete(f"{EVENTS}{event.pk}/").status_code == 405
        assert client.post(EVENTS, {}).status_code == 405
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.req("DEA-13")
@pytest.mark.req("ASVS-10")
def test_events_filter_by_time_actor_action_and_target_and_page_by_cursor(
    clinician: User, manager: User, practice: Practice
) -> None:
    for n in range(5):
        audit.record(
            "test.step", actor=clinician, target=("eprescribe.prescription", n), details={"n": n}, chain=practice
        )
    audit.record("other.thing", actor=manager, outcome="denied", chain=practice)
    client = signed_in("manager.lee")

    def rows(query: str) -> list[dict[str, Any]]:
        response = client.get(EVENTS + query)
        assert response.status_code == 200, response.content
        return list(response.json()["results"])

    assert {r["action"] for r in rows(f"?actor={clinician.pk}")} >= {"test.step"}
    assert all(r["actor"] == clinician.pk for r in rows(f"?actor={clinician.pk}"))
    assert len(rows("?action=test.step")) == 5
    assert {r["action"] for r in rows("?action=test.")} == {"test.step"}
    assert [r["details"] for r in rows("?target_type=eprescribe.prescription&target_id=3")] == [{"n": 3}]
    assert [r["action"] for r in rows("?outcome=denied")] == ["other.thing"]
    later = (timezone.now() + dt.timedelta(minutes=5)).isoformat()
    assert rows("?occurred_after=" + later.replace("+", "%2B")) == []
    assert len(rows("?action=test.step&occurred_before=" + later.replace("+", "%2B"))) == 5
    for bad in ("?actor=me", "?occurred_after=yesterday", "?outcome=maybe"):
        refused = client.get(EVENTS + bad)
        assert refused.status_code == 400 and refused.json()["code"] == "invalid"
    # Newest first, page by page, each event once.
    seen: list[int] = []
    url: Any = EVENTS + "?action=test.step&page_size=2"
    while url:
        body = client.get(url).json()
        seen += [r["id"] for r in body["results"]]
        url = body["next"]
    assert len(seen) == 5 and seen == sorted(seen, reverse=True)


@pytest.mark.req("DEA-14")
def test_incident_reports_are_listed_newest_day_first_and_read_one_by_one(
    manager: User, auditor: User, practice: Practice
) -> None:
    first = generate_incident_report(dt.date(2026, 3, 3), chain=practice)
    second = generate_incident_report(dt.date(2026, 3, 4), chain=practice)
    client = signed_in("auditor.kim")
    listing = client.get(REPORTS).json()
    assert [r["day"] for r in listing["results"]] == ["2026-03-04", "2026-03-03"]
    detail = client.get(f"{REPORTS}{first.pk}/").json()
    assert detail["day"] == "2026-03-03" and detail["chain_intact"] is True
    missing = client.get(f"{REPORTS}999999/")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert IncidentReport.objects.filter(pk=second.pk).exists()


@pytest.mark.req("ASVS-11")
def test_another_practices_events_and_reports_are_not_found_and_not_listed(
    manager: User, auditor: User, practice: Practice, other_practice: Practice, make_user: Callable[..., User]
) -> None:
    mine = audit.record("test.ours", actor=manager, chain=practice)
    theirs = audit.record("test.theirs", actor=manager, chain=other_practice)
    outside = audit.record("test.no_practice", actor=manager, chain=None)
    our_report = generate_incident_report(dt.date(2026, 3, 3), chain=practice)
    their_report = generate_incident_report(dt.date(2026, 3, 3), chain=other_practice)
    for client in (signed_in("manager.lee"), token_client(auditor, "audit:read")):
        listed = {row["id"] for row in client.get(EVENTS + "?page_size=200").json()["results"]}
        assert mine.pk in listed and theirs.pk not in listed and outside.pk not in listed
        assert client.get(f"{EVENTS}{mine.pk}/").status_code == 200
        for url in (f"{EVENTS}{theirs.pk}/", f"{EVENTS}{outside.pk}/", f"{REPORTS}{their_report.pk}/"):
            answer = client.get(url)
            assert answer.status_code == 404 and answer.json()["code"] == "not_found", url
        assert [r["id"] for r in client.get(REPORTS).json()["results"]] == [our_report.pk]
    # The other practice's access manager, also a member here as a prescriber (a locum): working
    # in this practice they are not a reader; in theirs they read only theirs.
    locum = join(join(make_user("manager.cho"), other_practice, PracticeRole.ACCESS_MANAGER), practice)
    locum_client = token_client(locum, "audit:read")
    here = locum_client.get(EVENTS, HTTP_X_PRACTICE_ID=str(practice.pk))
    assert here.status_code == 403 and "this practice" in here.json()["detail"]
    assert locum_client.get(EVENTS).status_code == 403  # two practices, none named
    there = locum_client.get(EVENTS + "?page_size=200", HTTP_X_PRACTICE_ID=str(other_practice.pk)).json()
    assert {row["id"] for row in there["results"]} >= {theirs.pk} and mine.pk not in {r["id"] for r in there["results"]}
    assert locum_client.get(f"{EVENTS}{mine.pk}/", HTTP_X_PRACTICE_ID=str(other_practice.pk)).status_code == 404


@pytest.mark.req("ASVS-06")
def test_a_token_needs_the_audit_read_scope(auditor: User) -> None:
    refused = token_client(auditor, "profile:read").get(EVENTS)
    assert refused.status_code == 403 and "audit:read" in refused.json()["detail"]
    assert token_client(auditor, "audit:read").get(REPORTS).status_code == 200
