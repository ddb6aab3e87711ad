"""/api/v1/audit-events/ and /api/v1/incident-reports/ (providers.audit_api): read-only, for
EPCS access managers and auditors only; filters and cursor pagination."""

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
from providers.models import Membership, Practice, PracticeRole, User
from providers.roles import ensure_access_manager_group
from tests.conftest import TEST_PASSWORD

EVENTS = "/api/v1/audit-events/"
REPORTS = "/api/v1/incident-reports/"


def signed_in(username: str) -> Client:
    client = Client()
    assert client.login(username=username, password=TEST_PASSWORD)
    return client


@pytest.fixture
def manager(make_user: Callable[..., User]) -> User:
    user = make_user("manager.lee", is_staff=True)
    user.groups.add(ensure_access_manager_group())
    return user


@pytest.fixture
def auditor(make_user: Callable[..., User]) -> User:
    user = make_user("auditor.kim")
    Membership.objects.create(user=user, practice=Practice.objects.create(name="PPTH"), role=PracticeRole.AUDITOR)
    return user


@pytest.mark.req("ASVS-06")
@pytest.mark.req("DEA-13")
def test_only_access_managers_and_auditors_read_the_trail_and_nobody_changes_it(
    clinician: User, clinician_client: Client, manager: User, auditor: User
) -> None:
    audit.record("test.something", actor=clinician)
    event = AuditEvent.objects.latest("id")
    for client in (clinician_client, Client()):
        assert client.get(EVENTS).status_code in (401, 403)
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
def test_events_filter_by_time_actor_action_and_target_and_page_by_cursor(clinician: User, manager: User) -> None:
    for n in range(5):
        audit.record("test.step", actor=clinician, target=("eprescribe.prescription", n), details={"n": n})
    audit.record("other.thing", actor=manager, outcome="denied")
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
        assert client.get(EVENTS + bad).status_code == 400
    # Newest first, page by page, each event once.
    seen: list[int] = []
    url: Any = EVENTS + "?action=test.step&page_size=2"
    while url:
        body = client.get(url).json()
        seen += [r["id"] for r in body["results"]]
        url = body["next"]
    assert len(seen) == 5 and seen == sorted(seen, reverse=True)


@pytest.mark.req("DEA-14")
def test_incident_reports_are_listed_newest_day_first_and_read_one_by_one(manager: User, auditor: User) -> None:
    first = generate_incident_report(dt.date(2026, 3, 3))
    second = generate_incident_report(dt.date(2026, 3, 4))
    client = signed_in("auditor.kim")
    listing = client.get(REPORTS).json()
    assert [r["day"] for r in listing["results"]] == ["2026-03-04", "2026-03-03"]
    detail = client.get(f"{REPORTS}{first.pk}/").json()
    assert detail["day"] == "2026-03-03" and detail["chain_intact"] is True
    assert client.get(f"{REPORTS}999999/").status_code == 404
    assert IncidentReport.objects.filter(pk=second.pk).exists()
