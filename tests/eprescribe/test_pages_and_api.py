"""The prescriptions pages and REST API: own prescriptions only (ASVS-06), clear errors for
bad input (ASVS-10), drafts only are edited, nothing is deleted."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from eprescribe import services
from eprescribe.models import Prescription, PrescriptionState
from providers.models import Practice, User
from tests.eprescribe.conftest import RxWorld, client_for, make_signer

pytestmark = pytest.mark.django_db


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


@pytest.fixture
def intruder(make_person: Callable[..., User], practice: Practice) -> User:
    """Another prescriber of the same practice."""
    wilson = make_person("dr.wilson", first_name="James", last_name="Wilson")
    make_signer(wilson, "AW1234563", practice)
    return wilson


# --- pages ---------------------------------------------------------------------------------
def test_the_main_nav_links_to_prescriptions(rx: RxWorld, clinician_client: Client) -> None:
    page = clinician_client.get("/account/provider-settings/profile/").content.decode()
    assert 'href="/eprescribe/"' in page and ">Prescriptions</a>" in page


def test_prepare_a_draft_mark_it_ready_and_see_it_selectable_for_signing(rx: RxWorld, clinician_client: Client) -> None:
    response = clinician_client.post("/eprescribe/new/", form_data(rx))
    assert response.status_code == 302
    prescription = Prescription.objects.get()
    assert prescription.state == PrescriptionState.DRAFT and prescription.prescriber == rx.provider
    assert clinician_client.post(f"/eprescribe/{prescription.pk}/ready/").status_code == 302
    prescription.refresh_from_db()
    assert prescription.state == PrescriptionState.READY
    listing = clinician_client.get("/eprescribe/").content.decode()
    assert "Ready for signing" in listing
    assert f'name="prescription" value="{prescription.pk}" form="sign-selected-form"' in listing
    assert 'id="sign-selected-form"' in listing and "Sign selected" in listing


@pytest.mark.req("DEA-18")
def test_the_form_shows_clear_errors_and_saves_nothing(rx: RxWorld, clinician_client: Client) -> None:
    response = clinician_client.post("/eprescribe/new/", form_data(rx, refills="2", quantity="0"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Please correct the errors below. Nothing was saved." in body
    assert "Schedule II prescriptions cannot have refills." in body
    assert "Ensure this value is greater than or equal to 1." in body
    garbage = clinician_client.post("/eprescribe/new/", form_data(rx, patient="999999", medication="x"))
    assert garbage.status_code == 200 and "Select a valid choice" in garbage.content.decode()
    assert not Prescription.objects.exists()


@pytest.mark.req("DEA-07")
def test_editing_a_ready_prescription_clears_ready_and_says_so(rx: RxWorld, clinician_client: Client) -> None:
    prescription = rx.ready()
    response = clinician_client.post(f"/eprescribe/{prescription.pk}/edit/", form_data(rx, quantity="12"), follow=True)
    assert "no longer ready for signing" in response.content.decode()
    prescription.refresh_from_db()
    assert prescription.state == PrescriptionState.DRAFT and prescription.quantity == 12


@pytest.mark.req("DEA-12")
def test_a_signed_prescription_cannot_be_edited_through_the_page(rx: RxWorld, clinician_client: Client) -> None:
    [signed] = rx.sign(rx.ready())
    response = clinician_client.post(f"/eprescribe/{signed.pk}/edit/", form_data(rx, quantity="99"), follow=True)
    assert "cannot be changed. Cancel it and write a new one." in response.content.decode()
    signed.refresh_from_db()
    assert signed.quantity == 20
    cancelled = clinician_client.post(f"/eprescribe/{signed.pk}/cancel/", {"reason": "Wrong dose"})
    assert cancelled.status_code == 302
    signed.refresh_from_db()
    assert signed.state == PrescriptionState.CANCELLED and signed.cancel_reason == "Wrong dose"


@pytest.mark.req("DEA-05")
def test_staff_prepare_for_a_prescriber_and_see_what_they_prepared(rx: RxWorld, staff_user: User) -> None:
    staff = client_for(staff_user)
    response = staff.post("/eprescribe/new/", form_data(rx, prescriber=rx.provider.pk))
    assert response.status_code == 302, response.content.decode()[:2000]
    prescription = Prescription.objects.get()
    assert prescription.created_by == staff_user and prescription.prescriber == rx.provider
    assert staff.post(f"/eprescribe/{prescription.pk}/ready/").status_code == 302
    listing = staff.get("/eprescribe/").content.decode()
    assert "Oxycodone Hydrochloride" in listing
    assert 'form="sign-selected-form"' not in listing  # staff cannot select for signing


@pytest.mark.req("ASVS-06")
def test_another_providers_prescription_is_not_found_on_every_page(rx: RxWorld, intruder: User) -> None:
    prescription = rx.ready()
    client = client_for(intruder)
    for url in ("", "edit/", "cancel/", "print/"):
        assert client.get(f"/eprescribe/{prescription.pk}/{url}").status_code == 404
    for url in ("ready/", "cancel/", "retry/", "edit/"):
        assert client.post(f"/eprescribe/{prescription.pk}/{url}", form_data(rx)).status_code == 404
    assert "Oxycodone" not in client.get("/eprescribe/").content.decode()
    prescription.refresh_from_db()
    assert prescription.state == PrescriptionState.READY


def test_signed_out_visitors_are_sent_to_sign_in(rx: RxWorld) -> None:
    response = Client().get("/eprescribe/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- REST API ---------------------------------------------------------------------------------
def api_body(rx: RxWorld, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "patient": rx.patient.pk,
        "medication": rx.alprazolam.pk,
        "dea_registration": rx.registration.pk,
        "quantity": 30,
        "quantity_unit": "tablets",
        "directions": "Take 1 tablet by mouth twice daily as needed",
        "refills": 1,
        "pharmacy": rx.pharmacy.pk,
    }
    body.update(overrides)
    return body


def post_json(client: Client, url: str, body: Any) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json")


def test_api_create_update_ready_cancel(rx: RxWorld, clinician_client: Client) -> None:
    created = post_json(clinician_client, "/api/v1/prescriptions/", api_body(rx))
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert created.json()["state"] == "draft" and created.json()["prescriber"] == rx.provider.pk
    updated = clinician_client.patch(
        f"/api/v1/prescriptions/{pk}/", json.dumps({"quantity": 15}), content_type="application/json"
    )
    assert updated.status_code == 200 and updated.json()["quantity"] == 15
    ready = clinician_client.post(f"/api/v1/prescriptions/{pk}/ready/")
    assert ready.status_code == 200 and ready.json()["state"] == "ready"
    listing = clinician_client.get("/api/v1/prescriptions/").json()
    rows = listing["results"] if isinstance(listing, dict) else listing
    assert [row["id"] for row in rows] == [pk]
    cancelled = post_json(clinician_client, f"/api/v1/prescriptions/{pk}/cancel/", {"reason": "Duplicate"})
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert clinician_client.delete(f"/api/v1/prescriptions/{pk}/").status_code == 405
    assert Prescription.objects.filter(pk=pk).exists()


@pytest.mark.req("DEA-18")
@pytest.mark.req("ASVS-10")
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"refills": 6}, "refills"),
        ({"medication": "oxycodone", "refills": 1}, "refills"),
        ({"quantity": "lots"}, "quantity"),
        ({"quantity": 0}, "quantity"),
        ({"patient": 999999}, "patient"),
        ({"earliest_fill_date": "tomorrow"}, "earliest_fill_date"),
        ({"directions": "x" * 501}, "directions"),
    ],
)
def test_api_refuses_bad_input_with_json_field_errors(
    rx: RxWorld, clinician_client: Client, body: dict[str, Any], field: str
) -> None:
    if body.get("medication") == "oxycodone":
        body = {**body, "medication": rx.oxycodone.pk}
    response = post_json(clinician_client, "/api/v1/prescriptions/", api_body(rx, **body))
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and field in {e["attr"] for e in response.json()["errors"]}
    assert not Prescription.objects.exists()


@pytest.mark.req("ASVS-10")
def test_api_refuses_malformed_json(rx: RxWorld, clinician_client: Client) -> None:
    response = clinician_client.post("/api/v1/prescriptions/", "{not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "parse_error"
    assert not Prescription.objects.exists()


@pytest.mark.req("DEA-12")
def test_api_refuses_to_update_a_signed_prescription(rx: RxWorld, clinician_client: Client) -> None:
    [signed] = rx.sign(rx.ready())
    response = clinician_client.patch(
        f"/api/v1/prescriptions/{signed.pk}/", json.dumps({"quantity": 99}), content_type="application/json"
    )
    assert response.status_code == 409 and response.json()["code"] == "conflict"
    signed.refresh_from_db()
    assert signed.quantity == 20
    assert clinician_client.post(f"/api/v1/prescriptions/{signed.pk}/ready/").status_code == 409


@pytest.mark.req("ASVS-06")
def test_api_hides_another_providers_prescriptions(rx: RxWorld, intruder: User) -> None:
    prescription = rx.ready()
    client = client_for(intruder)
    assert client.get(f"/api/v1/prescriptions/{prescription.pk}/").status_code == 404
    assert (
        client.patch(
            f"/api/v1/prescriptions/{prescription.pk}/", json.dumps({"quantity": 1}), content_type="application/json"
        ).status_code
        == 404
    )
    assert client.post(f"/api/v1/prescriptions/{prescription.pk}/ready/").status_code == 404
    assert client.post(f"/api/v1/prescriptions/{prescription.pk}/cancel/").status_code == 404
    listing = client.get("/api/v1/prescriptions/").json()
    rows = listing["results"] if isinstance(listing, dict) else listing
    assert rows == []
    # Nor can they create one in the provider's name.
    response = post_json(client, "/api/v1/prescriptions/", api_body(rx, prescriber=rx.provider.pk))
    assert response.status_code == 403
    prescription.refresh_from_db()
    assert prescription.state == PrescriptionState.READY and Prescription.objects.count() == 1


def test_api_staff_may_prepare_for_a_prescriber(rx: RxWorld, staff_user: User) -> None:
    response = post_json(client_for(staff_user), "/api/v1/prescriptions/", api_body(rx, prescriber=rx.provider.pk))
    assert response.status_code == 201, response.content
    prescription = Prescription.objects.get()
    assert prescription.created_by == staff_user
    assert services.prescriptions_for(staff_user, rx.practice).count() == 1
