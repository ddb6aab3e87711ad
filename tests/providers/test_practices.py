"""Practices: memberships, the practice a person works in, the switcher, and the audit chain
of the current practice (issue 10; docs/architecture.md "Practices")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from audit.models import AuditEvent
from providers.demo import DEMO_PASSWORD
from providers.models import Membership, Practice, PracticeRole, Provider, User
from providers.practices import SESSION_KEY, PracticeAction
from tests.conftest import login_through_form

CHOOSE = "/practice/choose/"
PROFILE = "/account/provider-settings/profile/"


@pytest.fixture
def practices(db: None) -> tuple[Practice, Practice]:
    return (
        Practice.objects.create(name="Northside Clinic", city="Albany", state="NY"),
        Practice.objects.create(name="Southside Clinic", city="Troy", state="NY"),
    )


def member(user: User, practice: Practice, role: PracticeRole = PracticeRole.PRESCRIBER) -> Membership:
    return Membership.objects.create(user=user, practice=practice, role=role)


def signed_in(user: User) -> Client:
    client = Client()
    assert login_through_form(client, user.username).status_code == 302
    return client


@pytest.fixture
def locum(make_user: Callable[..., User], practices: tuple[Practice, Practice]) -> User:
    user = make_user("dr.locum", first_name="Lee", last_name="Locum")
    Provider.objects.create(user=user, display_name="Dr. Lee Locum", npi="1234567893")
    for practice in practices:
        member(user, practice)
    return user


@pytest.mark.req("ASVS-11")
def test_a_person_with_one_practice_is_not_asked_and_works_in_it(
    clinician: User, practices: tuple[Practice, Practice]
) -> None:
    north, _ = practices
    Membership.objects.filter(user=clinician).delete()  # only Northside, not the fixture's practice
    member(clinician, north)
    client = signed_in(clinician)
    response = client.get(PROFILE)
    assert response.status_code == 200
    assert client.session[SESSION_KEY] == north.pk
    html = response.content.decode()
    assert "Northside Clinic" in html and 'id="practice-switcher"' not in html


def test_a_person_without_a_practice_works_as_before(clinician: User) -> None:
    Membership.objects.filter(user=clinician).delete()
    clinician_client = signed_in(clinician)
    response = clinician_client.get(PROFILE)
    assert response.status_code == 200
    assert SESSION_KEY not in clinician_client.session
    assert 'id="practice-switcher"' not in response.content.decode()


@pytest.mark.req("ASVS-11")
@pytest.mark.req("DEA-13")
def test_a_locum_chooses_a_practice_and_switches_with_the_header_form(
    locum: User, practices: tuple[Practice, Practice]
) -> None:
    north, south = practices
    client = signed_in(locum)
    # Pages send a locum who has not chosen to "Choose your practice", and come back after.
    response = client.get(PROFILE)
    assert response.status_code == 302 and response["Location"].startswith(CHOOSE)
    page = client.get(response["Location"]).content.decode()
    assert "Choose your practice" in page and "Northside Clinic" in page and "Southside Clinic" in page
    response = client.post(CHOOSE, {"practice": north.pk, "next": PROFILE})
    assert response.status_code == 302 and response["Location"] == PROFILE
    assert client.session[SESSION_KEY] == north.pk
    html = client.get(PROFILE).content.decode()
    assert '<label for="practice-switcher">Practice</label>' in html
    assert f'<option value="{south.pk}">Southside Clinic</option>' in html
    assert f'<option value="{north.pk}" selected>Northside Clinic</option>' in html
    assert ">Switch</button>" in html

    # The header's switcher posts the same form.
    response = client.post(CHOOSE, {"practice": south.pk, "next": PROFILE})
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == south.pk
    switches = AuditEvent.objects.filter(action=PracticeAction.CHOSEN, actor=locum).order_by("id")
    assert [(e.chain_id, e.details["from_practice_id"], e.details["to_practice_id"]) for e in switches] == [
        (north.pk, None, north.pk),
        (south.pk, north.pk, south.pk),
    ]


@pytest.mark.req("ASVS-11")
@pytest.mark.parametrize("value", ["other", "", "not-a-number"])
def test_a_practice_one_does_not_belong_to_cannot_be_chosen(
    locum: User, practices: tuple[Practice, Practice], value: str
) -> None:
    north, _ = practices
    elsewhere = Practice.objects.create(name="Elsewhere Clinic")
    client = signed_in(locum)
    client.post(CHOOSE, {"practice": north.pk})
    before = AuditEvent.objects.filter(action=PracticeAction.CHOSEN).count()
    response = client.post(CHOOSE, {"practice": elsewhere.pk if value == "other" else value})
    assert response.status_code == 404
    assert client.session[SESSION_KEY] == north.pk
    assert AuditEvent.objects.filter(action=PracticeAction.CHOSEN).count() == before
    assert "Elsewhere Clinic" not in client.get(PROFILE).content.decode()


@pytest.mark.req("ASVS-11")
def test_a_removed_membership_drops_the_sessions_practice_at_the_next_request(
    locum: User, practices: tuple[Practice, Practice]
) -> None:
    north, south = practices
    client = signed_in(locum)
    client.post(CHOOSE, {"practice": north.pk})
    Membership.objects.filter(user=locum, practice=north).delete()
    # One practice left: the person now works in it, without being asked.
    response = client.get(PROFILE)
    assert response.status_code == 200
    assert client.session[SESSION_KEY] == south.pk
    html = response.content.decode()
    assert "Southside Clinic" in html and "Northside Clinic" not in html
    dropped = AuditEvent.objects.get(action=PracticeAction.DROPPED)
    assert (dropped.actor, dropped.chain_id) == (locum, north.pk)
    # And with no membership at all, no practice.
    Membership.objects.filter(user=locum).delete()
    assert client.get(PROFILE).status_code == 200
    assert SESSION_KEY not in client.session


@pytest.mark.req("DEA-13")
@pytest.mark.req("ASVS-11")
def test_an_action_audited_in_a_request_lands_in_the_current_practices_chain(
    locum: User, practices: tuple[Practice, Practice], django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    from tests.providers.test_account_settings import valid_profile

    north, south = practices
    client = signed_in(locum)
    client.post(CHOOSE, {"practice": south.pk})
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(PROFILE, valid_profile()).status_code == 302
    event = AuditEvent.objects.get(action="provider.profile_updated")
    assert event.chain_id == south.pk
    # The sequencer gave it its place in Southside's chain, after the switch into it.
    call_command("sequence_audit")
    event.refresh_from_db()
    chain = list(AuditEvent.objects.filter(chain_id=south.pk).order_by("position"))
    assert [e.action for e in chain] == [PracticeAction.CHOSEN, "provider.profile_updated"]
    assert event.position == 2 and event.previous_hash == chain[0].hash
    assert not AuditEvent.objects.filter(chain_id=north.pk).exists()


def test_the_choice_page_sends_only_to_this_site(locum: User, practices: tuple[Practice, Practice]) -> None:
    north, _ = practices
    client = signed_in(locum)
    response = client.post(CHOOSE, {"practice": north.pk, "next": "https://evil.example/"})
    assert response["Location"] == "/"


@pytest.mark.django_db(transaction=True)
def test_seed_demo_creates_both_practices_and_their_memberships_twice_the_same() -> None:
    def snapshot() -> list[tuple[str, str, str]]:
        return sorted(Membership.objects.values_list("practice__name", "user__username", "role"))

    call_command("seed_demo", verbosity=0)
    first = snapshot()
    call_command("seed_demo", verbosity=0)
    assert snapshot() == first
    assert list(Practice.objects.values_list("name", flat=True)) == ["EHR Demo Practice", "Riverside Family Medicine"]
    riverside = {(user, role) for practice, user, role in first if practice == "Riverside Family Medicine"}
    assert riverside == {
        ("dr.patel", PracticeRole.PRESCRIBER),
        ("dr.jones", PracticeRole.PRESCRIBER),
        ("nurse.kim", PracticeRole.AGENT),
        ("manager.ortiz", PracticeRole.ACCESS_MANAGER),
        ("auditor.wu", PracticeRole.AUDITOR),
        ("admin.reyes", PracticeRole.PRACTICE_ADMIN),
    }
    demo = {(user, role) for practice, user, role in first if practice == "EHR Demo Practice"}
    assert {("dr.smith", "prescriber"), ("dr.jones", "prescriber"), ("manager.lee", "access_manager")} <= demo
    assert ("admin", "practice_admin") in demo
    for username in ("dr.patel", "nurse.kim", "manager.ortiz", "auditor.wu", "admin.reyes"):
        assert User.objects.get(username=username).check_password(DEMO_PASSWORD)
    # dr.jones is a locum: after signing in he is asked which practice he works in.
    client = Client()
    login_through_form(client, "dr.jones", DEMO_PASSWORD)
    response = client.get(PROFILE)
    assert response.status_code == 302 and response["Location"].startswith(CHOOSE)
