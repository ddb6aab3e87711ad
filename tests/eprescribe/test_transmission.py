"""Transmission (DEA-12, DEA-15): the NewRx XML, the pharmacy-network simulator over real
HTTP, the Celery task with retries (eagerly and in a real worker process), Retry, and the
printed copy."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import pytest
import requests
from django.test import Client

from audit.models import AuditEvent, Outcome
from eprescribe import ncpdp, services
from eprescribe.models import Prescription, PrescriptionState
from eprescribe.tasks import transmit_prescription
from eprescribe.transmission import transmit
from idme_sandbox.models import PharmacyMessage
from tests.eprescribe.conftest import RxWorld, client_for
from tests.idme_fixtures import operator_http_session

SIMULATOR_PATH = "/idme-sandbox/pharmacy-network/"
MAX_RETRIES = int(transmit_prescription.max_retries or 0)


def parse(xml: bytes) -> ET.Element:
    return ET.fromstring(xml)


def actions(rx: Prescription) -> list[str]:
    return list(
        AuditEvent.objects.filter(target_type="eprescribe.prescription", target_id=str(rx.pk)).values_list(
            "action", flat=True
        )
    )


def wait_for_state(rx: Prescription, states: set[str], timeout: float = 40.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rx.refresh_from_db()
        if rx.state in states:
            return rx.state
        time.sleep(0.2)
    rx.refresh_from_db()
    return rx.state


# --- the NewRx message ----------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("medication", "code", "refills"),
    [
        ("oxycodone", "C48672", 0),
        ("buprenorphine", "C48675", 5),
        ("alprazolam", "C48676", 1),
        ("pregabalin", "C48677", 2),
    ],
)
def test_new_rx_carries_the_dea_schedule_code_signature_indicator_and_prescription(
    rx: RxWorld, medication: str, code: str, refills: int
) -> None:
    [signed] = rx.sign(rx.ready(medication=getattr(rx, medication), refills=refills))
    root = parse(ncpdp.build_new_rx(signed))
    assert root.tag == "Message"
    assert root.findtext("Header/To") == "1234567"
    assert root.findtext("Header/MessageID") == f"EHR-{signed.uuid}"
    assert root.findtext("Header/SentTime")
    signature = root.find("Header/DigitalSignature")
    assert signature is not None and signature.get("Indicator") == "true"
    assert signature.findtext("DigestValue") == signed.digest_sha256
    assert signature.findtext("SignatureValue") == signed.signature
    new_rx = root.find("Body/NewRx")
    assert new_rx is not None
    assert new_rx.findtext("Pharmacy/Identification/NCPDPID") == "1234567"
    assert new_rx.findtext("Patient/HumanPatient/Name/LastName") == "Doe"
    assert new_rx.findtext("Patient/HumanPatient/Name/FirstName") == "Pat"
    assert new_rx.findtext("Patient/HumanPatient/DateOfBirth/Date") == "1970-05-17"
    prescriber = new_rx.find("Prescriber/NonVeterinarian")
    assert prescriber is not None
    assert prescriber.findtext("Identification/NPI") == "1234567893"
    assert prescriber.findtext("Identification/DEANumber") == "AH1234563"
    assert prescriber.findtext("Name/LastName") == "House"
    drug = new_rx.find("MedicationPrescribed")
    assert drug is not None
    assert drug.findtext("DrugCoded/DEASchedule/Code") == code
    assert drug.findtext("Quantity/Value") == "20"
    assert drug.findtext("Sig/SigText") == "Take 1 tablet by mouth every 6 hours as needed for pain"
    assert drug.findtext("NumberOfRefills") == str(refills)
    assert drug.findtext("EarliestFillDate/Date") == signed.earliest_fill_date.isoformat()  # type: ignore[union-attr]
    assert drug.findtext("WrittenDate/Date") == signed.written_date.isoformat()


@pytest.mark.req("DEA-12")
@pytest.mark.django_db
def test_an_unsigned_prescription_is_never_sent(rx: RxWorld) -> None:
    ready = rx.ready()
    with pytest.raises(ncpdp.NotSignedError):
        ncpdp.build_new_rx(ready)
    # Even if a transmission were queued for it, the task re-checks and refuses.
    assert transmit(ready.pk) == "refused"
    ready.refresh_from_db()
    assert ready.state == PrescriptionState.READY and ready.transmission_attempts == 0
    event = AuditEvent.objects.get(action="eprescribe.transmission_refused", target_id=str(ready.pk))
    assert event.outcome == Outcome.DENIED


# --- the simulator over real HTTP, the task run eagerly ---------------------------------------
@pytest.fixture
def gateway(live_server: Any, settings: Any) -> str:
    settings.PHARMACY_GATEWAY_URL = f"{live_server.url}{SIMULATOR_PATH}newrx"
    return f"{live_server.url}{SIMULATOR_PATH}"


def set_failure_mode(gateway: str, **body: Any) -> None:
    response = requests.post(f"{gateway}failure-mode", json=body, timeout=10)
    assert response.status_code == 200, response.text


@pytest.mark.req("DEA-15")
@pytest.mark.django_db(transaction=True)
def test_a_signed_prescription_reaches_the_pharmacy_network(rx: RxWorld, gateway: str) -> None:
    [signed] = rx.sign(rx.ready())
    result = transmit_prescription.apply(args=(signed.pk,))
    assert result.get() == "sent"
    signed.refresh_from_db()
    assert signed.state == PrescriptionState.TRANSMITTED and signed.transmitted_at is not None
    message = PharmacyMessage.objects.get(message_id=f"EHR-{signed.uuid}")
    assert signed.pharmacy_message_id == message.ack_id
    assert message.pharmacy_ncpdp_id == "1234567" and message.dea_schedule_code == "C48672"
    assert message.digitally_signed and message.patient_name == "Pat Doe"
    assert "eprescribe.transmitted" in actions(signed)
    # The simulator's pages show patient data: a sandbox operator reads them.
    assert requests.get(gateway, timeout=10, allow_redirects=False).status_code == 302
    listing = operator_http_session(gateway.removesuffix("/pharmacy-network/")).get(gateway, timeout=10)
    assert listing.status_code == 200 and message.ack_id in listing.text


@pytest.mark.req("DEA-15")
@pytest.mark.req("DEA-13")
@pytest.mark.django_db(transaction=True)
def test_a_failing_network_is_retried_then_reported_with_retry_which_sends_it(
    rx: RxWorld, gateway: str, clinician_client: Client
) -> None:
    [signed] = rx.sign(rx.ready())
    set_failure_mode(gateway, failing=True, status=503)
    transmit_prescription.apply(args=(signed.pk,))
    signed.refresh_from_db()
    assert signed.state == PrescriptionState.TRANSMISSION_FAILED
    assert signed.transmission_attempts == MAX_RETRIES + 1
    assert "503" in signed.transmission_error
    trail = actions(signed)
    assert trail.count("eprescribe.transmission_attempt_failed") == MAX_RETRIES + 1
    failed = AuditEvent.objects.get(action="eprescribe.transmission_failed", target_id=str(signed.pk))
    assert failed.outcome == Outcome.FAILURE
    assert not PharmacyMessage.objects.exists()

    # The prescriber sees it, with Retry, on the list and on the prescription.
    listing = clinician_client.get("/eprescribe/").content.decode()
    assert "Transmission failed" in listing and "Retry" in listing
    detail = clinician_client.get(f"/eprescribe/{signed.pk}/").content.decode()
    assert "Transmission failed" in detail and ">Retry</button>" in detail

    set_failure_mode(gateway, failing=False)
    response = clinician_client.post(f"/eprescribe/{signed.pk}/retry/")
    assert response.status_code == 302
    signed.refresh_from_db()
    assert signed.state == PrescriptionState.SIGNED
    assert transmit_prescription.apply(args=(signed.pk,)).get() == "sent"
    signed.refresh_from_db()
    assert signed.state == PrescriptionState.TRANSMITTED
    assert "eprescribe.transmission_retry_requested" in actions(signed)


@pytest.mark.django_db(transaction=True)
def test_a_refused_message_is_not_retried(rx: RxWorld, gateway: str) -> None:
    [signed] = rx.sign(rx.ready())
    set_failure_mode(gateway, failing=True, status=400, count=1)
    transmit_prescription.apply(args=(signed.pk,))
    signed.refresh_from_db()
    assert signed.state == PrescriptionState.TRANSMISSION_FAILED and signed.transmission_attempts == 1


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_gateway_is_a_failed_transmission(rx: RxWorld, settings: Any) -> None:
    settings.PHARMACY_GATEWAY_URL = "http://127.0.0.1:9/newrx"  # discard port: nothing listens
    [signed] = rx.sign(rx.ready())
    transmit_prescription.apply(args=(signed.pk,))
    signed.refresh_from_db()
    assert signed.state == PrescriptionState.TRANSMISSION_FAILED
    assert "could not be reached" in signed.transmission_error


def test_only_the_prescriber_can_retry(rx: RxWorld, staff_user: Any) -> None:
    prepared = services.mark_ready(
        services.create_prescription(
            actor=staff_user, prescriber=rx.provider, practice=rx.practice, fields=rx.fields()
        ),
        staff_user,
        practice=rx.practice,
    )
    rx.sign(prepared)
    Prescription.objects.filter(pk=prepared.pk).update(state=PrescriptionState.TRANSMISSION_FAILED)
    with pytest.raises(services.PrescriptionError):
        services.retry_transmission(prepared, practice=prepared.practice, actor=staff_user)
    response = client_for(staff_user).post(f"/eprescribe/{prepared.pk}/retry/")
    assert response.status_code == 302
    prepared.refresh_from_db()
    assert prepared.state == PrescriptionState.TRANSMISSION_FAILED


# --- the simulator's own input checks -------------------------------------------------------
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"<not xml", "application/xml", 400),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><Message/>', "application/xml", 400),
        (b"<Message><Header/><Body><CancelRx/></Body></Message>", "application/xml", 400),
        (
            b"<Message><Header><MessageID>1</MessageID><To>12</To></Header><Body><NewRx/></Body></Message>",
            "application/xml",
            400,
        ),
        (b"{}", "application/json", 415),
    ],
)
def test_the_simulator_refuses_bad_messages_with_json_errors(
    gateway: str, body: bytes, content_type: str, status: int
) -> None:
    response = requests.post(f"{gateway}newrx", data=body, headers={"Content-Type": content_type}, timeout=10)
    assert response.status_code == status
    assert response.json()["error"]
    assert not PharmacyMessage.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"failing": "yes"}', b'{"failing": true, "status": 200}', b'{"failing": true, "count": -1}'],
)
def test_the_failure_mode_switch_validates_its_input(gateway: str, body: bytes) -> None:
    response = requests.post(
        f"{gateway}failure-mode", data=body, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert response.status_code == 400 and response.json()["error"]


# --- a real Celery worker ----------------------------------------------------------------------
@pytest.fixture
def worker_gateway(live_server: Any, settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> str:
    """Point this process and the worker that starts next at the live simulator and one key."""
    url = f"{live_server.url}{SIMULATOR_PATH}newrx"
    settings.PHARMACY_GATEWAY_URL = url
    monkeypatch.setenv("PHARMACY_GATEWAY_URL", url)
    monkeypatch.setenv("EPCS_SIGNING_KEY_FILE", str(tmp_path / "keys" / "epcs-signing-key.pem"))
    monkeypatch.setenv("EPCS_TRANSMISSION_MAX_RETRIES", "2")
    monkeypatch.setenv("EPCS_TRANSMISSION_BACKOFF_SECONDS", "1")
    return f"{live_server.url}{SIMULATOR_PATH}"


@pytest.fixture
def worker_rx(worker_gateway: str, rx: RxWorld, settings: Any, tmp_path: Any) -> RxWorld:
    settings.EPCS_SIGNING_KEY_FILE = tmp_path / "keys" / "epcs-signing-key.pem"
    return rx


@pytest.mark.req("DEA-15")
@pytest.mark.django_db(transaction=True)
def test_signing_queues_transmission_which_a_worker_sends_retrying_a_failure(
    worker_rx: RxWorld, worker_gateway: str, celery_worker_process: Any
) -> None:
    rx = worker_rx
    set_failure_mode(worker_gateway, failing=True, status=503, count=1)
    [signed] = rx.sign(rx.ready())
    assert wait_for_state(signed, {PrescriptionState.TRANSMITTED, PrescriptionState.TRANSMISSION_FAILED}) == (
        PrescriptionState.TRANSMITTED
    )
    assert signed.transmission_attempts == 2
    assert PharmacyMessage.objects.filter(message_id=f"EHR-{signed.uuid}").count() == 1
    assert actions(signed).count("eprescribe.transmission_attempt_failed") == 1

    # Retries exhausted: failed, shown with Retry; Retry sends it through the worker.
    set_failure_mode(worker_gateway, failing=True, status=503)
    [second] = rx.sign(rx.ready(quantity=8))
    assert wait_for_state(second, {PrescriptionState.TRANSMISSION_FAILED}) == PrescriptionState.TRANSMISSION_FAILED
    assert second.transmission_attempts == 3
    set_failure_mode(worker_gateway, failing=False)
    client = client_for(rx.user)
    assert client.post(f"/eprescribe/{second.pk}/retry/").status_code == 302
    assert wait_for_state(second, {PrescriptionState.TRANSMITTED}) == PrescriptionState.TRANSMITTED


# --- the printed copy ----------------------------------------------------------------------------
@pytest.mark.req("DEA-15")
@pytest.mark.django_db(transaction=True)
def test_the_printed_copy_of_a_sent_prescription_reads_copy_only(
    rx: RxWorld, gateway: str, clinician_client: Client
) -> None:
    [signed] = rx.sign(rx.ready())
    early = clinician_client.get(f"/eprescribe/{signed.pk}/print/")
    assert early.status_code == 302  # nothing to print before it was sent
    transmit_prescription.apply(args=(signed.pk,))
    page = clinician_client.get(f"/eprescribe/{signed.pk}/print/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Copy only - not valid for dispensing" in body
    assert "Oxycodone Hydrochloride" in body and "AH1234563" in body and "Pat Doe" in body


@pytest.mark.django_db
def test_another_user_cannot_print_or_retry(rx: RxWorld, make_person: Callable[..., Any]) -> None:
    [signed] = rx.sign(rx.ready())
    intruder = client_for(make_person("dr.wilson", first_name="James", last_name="Wilson"))
    assert intruder.get(f"/eprescribe/{signed.pk}/print/").status_code == 404
    assert intruder.post(f"/eprescribe/{signed.pk}/retry/").status_code == 404


@pytest.mark.req("DEA-15")
@pytest.mark.req("DEA-11")
@pytest.mark.django_db(transaction=True)
def test_signing_in_the_ceremony_with_a_code_sends_each_prescription_to_the_pharmacy(
    worker_gateway: str,
    idme_sandbox_live: Any,
    clinician: Any,
    clinician_client: Client,
    settings: Any,
    tmp_path: Any,
    celery_worker_process: Any,
) -> None:
    """The whole path: the ceremony page, a real TOTP code checked by the live ID.me sandbox,
    signing, and a real worker sending both NewRx messages to the simulator."""
    from tests.eprescribe.ceremony_world import make_prescribing_world, open_ceremony

    settings.EPCS_SIGNING_KEY_FILE = tmp_path / "keys" / "epcs-signing-key.pem"
    world = make_prescribing_world(idme_sandbox_live, clinician)
    first, second = world.ready(), world.ready(medication=world.alprazolam, quantity=30)
    ceremony_url = open_ceremony(clinician_client, first, second)
    response = clinician_client.post(
        ceremony_url + "code/", {"device": world.signing.totp_device.pk, "code": world.signing.code()}
    )
    assert response.status_code == 302
    for prescription in (first, second):
        assert wait_for_state(prescription, {PrescriptionState.TRANSMITTED}) == PrescriptionState.TRANSMITTED
        message = PharmacyMessage.objects.get(message_id=f"EHR-{prescription.uuid}")
        assert message.digitally_signed and message.pharmacy_ncpdp_id == world.pharmacy.ncpdp_id
    codes = set(PharmacyMessage.objects.values_list("dea_schedule_code", flat=True))
    assert codes == {"C48672", "C48676"}
    print_copy = clinician_client.get(f"/eprescribe/{first.pk}/print/").content.decode()
    assert "Copy only - not valid for dispensing" in print_copy


@pytest.mark.django_db
def test_without_a_configured_gateway_nothing_is_sent_and_the_failure_shows(rx: RxWorld, settings: Any) -> None:
    settings.PHARMACY_GATEWAY_URL = ""
    [signed] = rx.sign(rx.ready())
    assert transmit(signed.pk) == "failed"
    signed.refresh_from_db()
    assert signed.state == PrescriptionState.TRANSMISSION_FAILED
    assert "PHARMACY_GATEWAY_URL" in signed.transmission_error
