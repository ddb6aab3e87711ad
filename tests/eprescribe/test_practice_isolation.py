"""ASVS-11: e-prescribing works inside one practice (issue 10).

Another practice's patients, prescriptions and signing ceremonies answer 404 on every page and
API endpoint, even to a locum who wrote them there; lists show only the current practice's
rows; an agent prepares only for the prescribers of their own practice; switching practice
switches what a locum sees. The ceremony's completion is tested against the live ID.me sandbox
in test_practice_ceremony.py.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from eprescribe import ceremony_binding, services
from eprescribe.models import Patient, Prescription, PrescriptionState, SigningCeremony
from providers.models import (
    DeaRegistration,
    EpcsPermission,
    EpcsPermissionState,
    Membership,
    Practice,
    PracticeRole,
    Provider,
    User,
)
from tests.conftest import TEST_PASSWORD, join
from tests.eprescribe.conftest import RxWorld, grant_epcs, make_patient
from tests.registry_fixtures import verified_registration

pytestmark = [pytest.mark.django_db, pytest.mark.req("ASVS-11")]


@dataclass
class Locum:
    """dr.house works in `rx.practice` (A) and `other` (B); his prescription and ceremony in B."""

    rx: RxWorld
    other: Practice
    patient_b: Patient
    rx_b: Prescription
    ceremony_b: SigningCeremony

    def client_in(self, practice: Practice) -> Client:
        client = Client()
        assert client.login(username=self.rx.user.username, password=TEST_PASSWORD)
        assert client.post("/practice/choose/", {"practice": practice.pk}).status_code == 302
        return client


@pytest.fixture
def locum(rx: RxWorld, other_practice: Practice) -> Locum:
    join(rx.user, other_practice, PracticeRole.PRESCRIBER)
    grant_epcs(rx.provider, other_practice)
    patient_b = make_patient(other_practice, "Lou", "Bee", dt.date(1960, 4, 1), "9 River Road", "91773")
    rx_b = services.mark_ready(
        services.create_prescription(
            actor=rx.user,
            prescriber=rx.provider,
            practice=other_practice,
            fields=rx.fields(patient=patient_b, medication=rx.alprazolam, quantity=30),
        ),
        rx.user,
        practice=other_practice,
    )
    ceremony_b = ceremony_binding.open_ceremony(rx.provider, other_practice, [rx_b])
    return Locum(rx=rx, other=other_practice, patient_b=patient_b, rx_b=rx_b, ceremony_b=ceremony_b)


def form_data(rx: RxWorld, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "patient": rx.patient.pk,
        "medication": rx.oxycodone.pk,
        "dea_registration": rx.registration.pk,
        "quantity": "20",
        "quantity_unit": "tablets",
        "directions": "Take 1 tablet by mouth every 6 hours as needed for pain",
        "refills": "0",
        "earliest_fill_date": "",
        "pharmacy": rx.pharmacy.pk,
    }
    data.update(overrides)
    return data


def listed_ids(response: Any) -> list[int]:
    body = response.json()
    rows = body["results"] if isinstance(body, dict) else body
    return [row["id"] for row in rows]


def unchanged(rx: Prescription) -> bool:
    before = (rx.state, rx.quantity, rx.practice_id, rx.signed_at, rx.cancelled_at)
    rx.refresh_from_db()
    return (rx.state, rx.quantity, rx.practice_id, rx.signed_at, rx.cancelled_at) == before


# --- pages ------------------------------------------------------------------------------------
def test_another_practices_prescription_and_ceremony_answer_404_on_every_page(locum: Locum) -> None:
    client = locum.client_in(locum.rx.practice)
    pk = locum.rx_b.pk
    for suffix in ("", "edit/", "cancel/", "print/"):
        assert client.get(f"/eprescribe/{pk}/{suffix}").status_code == 404, suffix
    for suffix in ("edit/", "ready/", "cancel/", "retry/"):
        assert client.post(f"/eprescribe/{pk}/{suffix}", form_data(locum.rx, quantity="5")).status_code == 404, suffix
    # Selecting it for signing looks like a missing prescription.
    assert client.post("/eprescribe/sign/", {"prescription": [str(pk)]}).status_code == 404
    ceremony_url = f"/eprescribe/sign/{locum.ceremony_b.pk}/"
    assert client.get(ceremony_url).status_code == 404
    status = client.get(ceremony_url + "status/")
    assert status.status_code == 404 and status.json()["error"] == "not_found"
    for suffix in ("code/", "push/", "cancel/"):
        assert client.post(ceremony_url + suffix, {"device": "1", "code": "123456"}).status_code == 404, suffix
    assert unchanged(locum.rx_b)
    assert SigningCeremony.objects.get(pk=locum.ceremony_b.pk).is_open
    # The same pages answer in practice B.
    in_b = locum.client_in(locum.other)
    detail = in_b.get(f"/eprescribe/{pk}/")
    assert detail.status_code == 200 and "Sacred Heart Hospital" in detail.content.decode()
    assert in_b.get(f"/eprescribe/{locum.rx_b.pk}/edit/").status_code == 200


def test_a_patient_of_another_practice_cannot_be_chosen_on_the_form(locum: Locum) -> None:
    client = locum.client_in(locum.rx.practice)
    page = client.get("/eprescribe/new/").content.decode()
    assert "Pat Doe" in page and "Lou Bee" not in page
    response = client.post("/eprescribe/new/", form_data(locum.rx, patient=locum.patient_b.pk))
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    mine = locum.rx.ready()
    edit = client.post(f"/eprescribe/{mine.pk}/edit/", form_data(locum.rx, patient=locum.patient_b.pk))
    assert edit.status_code == 200 and "Select a valid choice" in edit.content.decode()
    assert Prescription.objects.count() == 2
    mine.refresh_from_db()
    assert mine.patient == locum.rx.patient


def test_the_service_refuses_a_patient_of_another_practice(locum: Locum) -> None:
    with pytest.raises(Exception) as refused:
        services.create_prescription(
            actor=locum.rx.user,
            prescriber=locum.rx.provider,
            practice=locum.rx.practice,
            fields=locum.rx.fields(patient=locum.patient_b),
        )
    assert "Choose a patient of this practice." in str(refused.value)
    with pytest.raises(services.PrescriptionError, match="No such prescription in this practice"):
        services.mark_ready(locum.rx_b, locum.rx.user, practice=locum.rx.practice)
    with pytest.raises(services.PrescriptionError, match="No such prescription in this practice"):
        services.cancel_prescription(locum.rx_b, actor=locum.rx.user, practice=locum.rx.practice)
    assert unchanged(locum.rx_b)


def test_lists_show_only_the_current_practices_prescriptions_and_switching_changes_that(locum: Locum) -> None:
    mine_a = locum.rx.ready()
    client = locum.client_in(locum.rx.practice)
    listing = client.get("/eprescribe/").content.decode()
    assert f'href="/eprescribe/{mine_a.pk}/"' in listing
    assert f'href="/eprescribe/{locum.rx_b.pk}/"' not in listing and "Lou Bee" not in listing
    api = listed_ids(client.get("/api/v1/prescriptions/"))
    assert api == [mine_a.pk]
    # Switch to practice B: now only B's.
    assert client.post("/practice/choose/", {"practice": locum.other.pk}).status_code == 302
    listing = client.get("/eprescribe/").content.decode()
    assert f'href="/eprescribe/{locum.rx_b.pk}/"' in listing and "Lou Bee" in listing
    assert f'href="/eprescribe/{mine_a.pk}/"' not in listing
    assert listed_ids(client.get("/api/v1/prescriptions/")) == [locum.rx_b.pk]
    assert client.get(f"/eprescribe/{mine_a.pk}/").status_code == 404


# --- API ----------------------------------------------------------------------------------------
def api(client: Client, method: str, url: str, body: Any = None, **headers: Any) -> Any:
    data = json.dumps(body) if body is not None else None
    call = getattr(client, method)
    if data is None:
        return call(url, **headers)
    return call(url, data, content_type="application/json", **headers)


def test_the_api_answers_404_for_another_practices_prescription(locum: Locum) -> None:
    client = locum.client_in(locum.rx.practice)
    url = f"/api/v1/prescriptions/{locum.rx_b.pk}/"
    for method, suffix, body in (
        ("get", "", None),
        ("patch", "", {"quantity": 5}),
        ("put", "", {"quantity": 5}),
        ("post", "ready/", {}),
        ("post", "cancel/", {"reason": "x"}),
    ):
        response = api(client, method, url + suffix, body)
        assert response.status_code == 404, (method, suffix, response.content)
        assert response.json()["code"] == "not_found"
    # Naming practice A in the header changes nothing; naming B (his too) finds it.
    header = {"HTTP_X_PRACTICE_ID": str(locum.rx.practice.pk)}
    assert api(client, "get", url, **header).status_code == 404
    assert api(client, "get", url, HTTP_X_PRACTICE_ID=str(locum.other.pk)).status_code == 200
    assert unchanged(locum.rx_b)


def test_the_api_refuses_a_body_naming_another_practices_patient(locum: Locum) -> None:
    client = locum.client_in(locum.rx.practice)
    body = {
        "patient": locum.patient_b.pk,
        "medication": locum.rx.alprazolam.pk,
        "dea_registration": locum.rx.registration.pk,
        "quantity": 30,
        "directions": "Take 1 tablet by mouth twice daily",
        "pharmacy": locum.rx.pharmacy.pk,
    }
    response = api(client, "post", "/api/v1/prescriptions/", body)
    assert response.status_code == 400 and "patient" in {e["attr"] for e in response.json()["errors"]}
    assert Prescription.objects.count() == 1


def test_the_api_without_a_practice_answers_403_with_a_clear_message(locum: Locum, make_user: Any) -> None:
    client = Client()  # a locum who has not chosen, calling without the header
    assert client.login(username=locum.rx.user.username, password=TEST_PASSWORD)
    response = client.get("/api/v1/prescriptions/")
    assert response.status_code == 403
    assert {key: response.json()[key] for key in ("code", "detail")} == {
        "code": "permission_denied",
        "detail": "Choose a practice: send the X-Practice-Id header with one of your practices' ids.",
    }
    assert api(client, "post", f"/api/v1/prescriptions/{locum.rx_b.pk}/ready/", {}).status_code == 403
    # A practice they do not belong to is no practice at all.
    stranger = Practice.objects.create(name="Seattle Grace")
    assert client.get("/api/v1/prescriptions/", HTTP_X_PRACTICE_ID=str(stranger.pk)).status_code == 403
    assert locum.rx_b.state == PrescriptionState.READY and unchanged(locum.rx_b)
    # With the header, the locum's practice answers.
    listed = client.get("/api/v1/prescriptions/", HTTP_X_PRACTICE_ID=str(locum.other.pk))
    assert listed_ids(listed) == [locum.rx_b.pk]


# --- agents (DEA-05, one rule: services.preparation_refusal) -------------------------------------
@pytest.fixture
def agent(make_user: Any, rx: RxWorld) -> User:
    return join(make_user("nurse.kim", first_name="Dana", last_name="Kim"), rx.practice, PracticeRole.AGENT)


@pytest.mark.req("DEA-05")
def test_an_agent_prepares_for_a_prescriber_of_their_practice_only(
    rx: RxWorld, agent: User, locum: Locum, make_user: Any
) -> None:
    # dr.cameron prescribes only in practice B.
    cameron = make_user("dr.cameron", first_name="Allison", last_name="Cameron")
    cameron_provider = Provider.objects.create(user=cameron, display_name="Dr. Allison Cameron")
    join(cameron, locum.other, PracticeRole.PRESCRIBER)
    # Own practice's prescriber: allowed, and the prescription is of that practice.
    draft = services.create_prescription(actor=agent, prescriber=rx.provider, practice=rx.practice, fields=rx.fields())
    assert draft.practice == rx.practice and draft.created_by == agent
    assert services.mark_ready(draft, agent, practice=rx.practice).state == PrescriptionState.READY
    # A prescriber of another practice: refused, whichever practice is named.
    for practice in (rx.practice, locum.other):
        with pytest.raises(services.PrescriptionError):
            services.create_prescription(
                actor=agent,
                prescriber=cameron_provider,
                practice=practice,
                fields=rx.fields(dea_registration=None, medication=rx.amoxicillin),
            )
    assert (
        services.preparation_refusal(agent, cameron_provider, rx.practice) == services.PrepareRefusal.NOT_A_PRESCRIBER
    )
    assert services.preparation_refusal(agent, rx.provider, locum.other) == services.PrepareRefusal.NOT_YOURS
    # Only the prescriber signs what the agent prepared.
    assert rx.sign(draft)[0].state == PrescriptionState.SIGNED
    assert Prescription.objects.filter(prescriber=cameron_provider).count() == 0


@pytest.mark.req("DEA-05")
def test_an_agent_on_the_pages_and_api_is_offered_and_allowed_only_their_practices_prescribers(
    rx: RxWorld, agent: User, locum: Locum, make_user: Any
) -> None:
    cameron = make_user("dr.cameron", first_name="Allison", last_name="Cameron")
    cameron_provider = Provider.objects.create(user=cameron, display_name="Dr. Allison Cameron")
    join(cameron, locum.other, PracticeRole.PRESCRIBER)
    client = Client()
    assert client.login(username=agent.username, password=TEST_PASSWORD)
    page = client.get("/eprescribe/new/").content.decode()
    assert "Dr. Gregory House" in page and "Dr. Allison Cameron" not in page
    refused = client.post("/eprescribe/new/", form_data(rx, prescriber=cameron_provider.pk))
    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()
    body = {
        "prescriber": cameron_provider.pk,
        "patient": rx.patient.pk,
        "medication": rx.amoxicillin.pk,
        "quantity": 21,
        "directions": "Take 1 capsule three times daily",
        "pharmacy": rx.pharmacy.pk,
    }
    assert api(client, "post", "/api/v1/prescriptions/", body).status_code == 400
    assert not Prescription.objects.filter(prescriber=cameron_provider).exists()
    made = client.post("/eprescribe/new/", form_data(rx, prescriber=rx.provider.pk))
    assert made.status_code == 302
    created = Prescription.objects.get(created_by=agent)
    assert created.practice == rx.practice and created.prescriber == rx.provider
    # The agent sees what they prepared, never practice B's prescription of the same prescriber.
    listing = client.get("/eprescribe/").content.decode()
    assert f'href="/eprescribe/{created.pk}/"' in listing
    assert client.get(f"/eprescribe/{locum.rx_b.pk}/").status_code == 404


@pytest.mark.req("DEA-05")
def test_an_agent_whose_membership_ended_can_no_longer_change_what_they_prepared(rx: RxWorld, agent: User) -> None:
    draft = services.create_prescription(actor=agent, prescriber=rx.provider, practice=rx.practice, fields=rx.fields())
    Membership.objects.filter(user=agent, practice=rx.practice).delete()
    with pytest.raises(services.PrescriptionError):
        services.mark_ready(draft, agent, practice=rx.practice)
    with pytest.raises(services.PrescriptionError):
        services.update_prescription(draft, actor=agent, practice=rx.practice, changes={"quantity": 3})
    draft.refresh_from_db()
    assert draft.state == PrescriptionState.DRAFT and draft.quantity == 20


def test_a_prescriber_of_another_practice_is_not_a_prescriber_here(rx: RxWorld, locum: Locum, make_user: Any) -> None:
    """Signing in practice A needs a prescriber membership and the EPCS permission of A."""
    mine = rx.ready()
    # The permission of practice B does not sign in practice A.
    EpcsPermission.objects.filter(provider=rx.provider, practice=rx.practice).update(state=EpcsPermissionState.REVOKED)
    with pytest.raises(services.SigningRefused, match="revoked"):
        rx.sign(mine)
    EpcsPermission.objects.filter(provider=rx.provider, practice=rx.practice).update(state=EpcsPermissionState.GRANTED)
    Membership.objects.filter(user=rx.user, practice=rx.practice).delete()
    with pytest.raises(services.SigningRefused, match="not a prescriber of this practice"):
        rx.sign(mine)
    assert not Prescription.objects.filter(signed_at__isnull=False).exists()


def test_a_permission_naming_one_registration_allows_only_that_one_in_its_practice(rx: RxWorld) -> None:
    second = verified_registration(
        DeaRegistration.objects.create(
            provider=rx.provider, number="BH1234563", state="NY", expires_on=dt.date.today() + dt.timedelta(days=300)
        )
    )
    EpcsPermission.objects.filter(provider=rx.provider, practice=rx.practice).update(registration=rx.registration)
    with pytest.raises(Exception, match="choose that registration"):
        rx.draft(dea_registration=second)
    assert rx.sign(rx.ready(dea_registration=rx.registration))[0].is_signed
