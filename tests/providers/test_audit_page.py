"""The practice's audit page (docs/audit.md "Who reads which reports"): access managers and
auditors of a practice read its incident reports and audit events, read-only, and nothing of
another practice; everyone else is refused."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

import audit
from audit.models import AuditEvent, IncidentReport, Outcome
from audit.tasks import daily_incident_report
from providers.models import Practice, PracticeRole, User
from tests.conftest import join

pytestmark = pytest.mark.django_db

PAGE = "/account/audit/"


def _report(practice: Practice, day: dt.date, **fields: Any) -> IncidentReport:
    values: dict[str, Any] = {
        "event_count": 3,
        "security_event_count": 1,
        "chain_intact": True,
        "findings": [{"action": "auth.login_failed", "count": 1}],
    }
    values.update(fields)
    return IncidentReport.objects.create(chain_id=practice.pk, day=day, generated_at=timezone.now(), **values)


@pytest.fixture
def trail(practice: Practice, other_practice: Practice, make_user: Callable[..., User]) -> dict[str, Any]:
    """Reports and events of both practices."""
    actor = join(make_user("dr.actor"), practice)
    return {
        "own_report": _report(practice, dt.date(2026, 4, 1)),
        "other_report": _report(other_practice, dt.date(2026, 4, 1), findings=[{"action": "other.secret", "count": 9}]),
        "own_event": audit.record("epcs.permission_granted", actor=actor, chain=practice),
        "own_failure": audit.record("auth.login_failed", chain=practice, outcome=Outcome.FAILURE),
        "other_event": audit.record("other.secret_action", chain=other_practice),
    }


def _person(make_user: Callable[..., User], practice: Practice, role: PracticeRole) -> Client:
    user = join(make_user(f"{role.value}.person"), practice, role)
    client = Client()
    client.force_login(user)
    return client


READERS = [PracticeRole.ACCESS_MANAGER, PracticeRole.AUDITOR]
OTHERS = [PracticeRole.PRESCRIBER, PracticeRole.AGENT, PracticeRole.PRACTICE_ADMIN]


@pytest.mark.req("ASVS-11")
@pytest.mark.req("DEA-14")
@pytest.mark.parametrize("role", READERS, ids=lambda role: role.value)
def test_readers_see_their_practices_reports_and_events_only(
    role: PracticeRole, trail: dict[str, Any], practice: Practice, make_user: Callable[..., User]
) -> None:
    client = _person(make_user, practice, role)
    response = client.get(PAGE)
    assert response.status_code == 200
    assert list(response.context["reports"]) == [trail["own_report"]]
    events = set(response.context["page"].object_list)
    assert {trail["own_event"], trail["own_failure"]} <= events
    assert trail["other_event"] not in events
    body = response.content.decode()
    assert "epcs.permission_granted" in body and "other.secret_action" not in body
    assert f'href="{PAGE}"' in body  # the Account menu links here for readers

    own = client.get(reverse("audit-report", args=[trail["own_report"].pk]))
    assert own.status_code == 200 and "auth.login_failed" in own.content.decode()
    other = client.get(reverse("audit-report", args=[trail["other_report"].pk]))
    assert other.status_code == 404 and "other.secret" not in other.content.decode()
    assert client.get(reverse("audit-report", args=[999999])).status_code == 404


@pytest.mark.req("ASVS-11")
@pytest.mark.parametrize("role", OTHERS, ids=lambda role: role.value)
def test_other_roles_are_refused(
    role: PracticeRole, trail: dict[str, Any], practice: Practice, make_user: Callable[..., User]
) -> None:
    client = _person(make_user, practice, role)
    response = client.get(PAGE)
    assert response.status_code == 403
    body = response.content.decode()
    assert "access managers and auditors" in body
    assert f'href="{PAGE}"' not in body
    assert ('href="/admin/"' in body) is (role == PracticeRole.PRACTICE_ADMIN)
    assert client.get(reverse("audit-report", args=[trail["own_report"].pk])).status_code == 403


@pytest.mark.req("ASVS-11")
def test_a_reader_of_one_practice_is_refused_while_working_in_another(
    trail: dict[str, Any], practice: Practice, other_practice: Practice, make_user: Callable[..., User]
) -> None:
    """An auditor of one practice who is a prescriber in another reads nothing there."""
    user = join(make_user("locum.auditor"), practice, PracticeRole.AUDITOR)
    join(user, other_practice, PracticeRole.PRESCRIBER)
    client = Client()
    client.force_login(user)
    client.post(reverse("choose-practice"), {"practice": other_practice.pk})
    assert client.get(PAGE).status_code == 403
    assert client.get(reverse("audit-report", args=[trail["other_report"].pk])).status_code == 403
    client.post(reverse("choose-practice"), {"practice": practice.pk})
    assert client.get(PAGE).status_code == 200
    assert client.get(reverse("audit-report", args=[trail["other_report"].pk])).status_code == 404


def test_signed_out_visitors_are_sent_to_sign_in() -> None:
    response = Client().get(PAGE)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.req("DEA-13")
@pytest.mark.req("ASVS-09")
def test_events_are_filtered_by_person_action_outcome_and_time(
    trail: dict[str, Any], practice: Practice, make_user: Callable[..., User]
) -> None:
    client = _person(make_user, practice, PracticeRole.AUDITOR)

    def shown(**query: str) -> set[AuditEvent]:
        response = client.get(PAGE, query)
        assert response.status_code == 200
        return set(response.context["page"].object_list)

    assert shown(actor="dr.actor") == {trail["own_event"]}
    assert shown(action="auth.") == {trail["own_failure"]}
    assert shown(outcome=Outcome.FAILURE) == {trail["own_failure"]}
    today = timezone.localdate()
    assert trail["own_event"] in shown(since=today.isoformat(), until=today.isoformat())
    assert shown(until=(today - dt.timedelta(days=1)).isoformat()) == set()


@pytest.mark.parametrize(
    "query",
    [{"since": "yesterday"}, {"since": "2026-04-02", "until": "2026-04-01"}, {"outcome": "maybe"}],
)
def test_a_bad_filter_says_what_is_wrong(
    query: dict[str, str], trail: dict[str, Any], practice: Practice, make_user: Callable[..., User]
) -> None:
    client = _person(make_user, practice, PracticeRole.AUDITOR)
    response = client.get(PAGE, query)
    assert response.status_code == 400
    assert response.context["form"].errors
    assert response.context["page"] is None


@pytest.mark.req("DEA-14")
@pytest.mark.req("ASVS-11")
def test_the_daily_report_is_produced_for_every_practice_also_without_events(
    settings: Any, tmp_path: Path, practice: Practice, other_practice: Practice
) -> None:
    settings.EPCS_SIGNING_KEY = ""
    settings.EPCS_SIGNING_KEY_FILE = tmp_path / "epcs-signing-key.pem"
    audit.record("auth.login", chain=practice)
    day = dt.date(2026, 4, 4)
    daily_incident_report(day.isoformat())
    reports = IncidentReport.objects.filter(day=day)
    assert {report.chain_id for report in reports} == {None, practice.pk, other_practice.pk}
    assert all(report.checkpoint_id for report in reports)
