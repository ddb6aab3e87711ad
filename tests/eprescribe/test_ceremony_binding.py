"""DEA-19: the 2FA signs exactly what the review showed, by code and by push, through the page
and the API; a change after the review signs nothing and the page says which prescription
changed. Against the live ID.me sandbox; the phone answers over HTTP like the real one."""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import re
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from eprescribe.ceremony import DEA_STATEMENT
from eprescribe.models import CeremonyEnd, CeremonyState, Prescription, PrescriptionState, SigningCeremony
from eprescribe.services import update_prescription
from idme_sandbox.phone import client as phone_client
from mfa import challenges
from mfa.models import ChallengeStatus, DeviceSyncState, ProviderDevice, VerificationChallenge
from providers.models import User
from tests.conftest import TEST_PASSWORD
from tests.eprescribe.ceremony_world import PrescribingWorld, make_prescribing_world, open_ceremony
from tests.idme_fixtures import IdmeSandboxHandle, clear_idme_client_caches
from tests.mfa.challenge_world import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(idme_sandbox_live: IdmeSandboxHandle, clinician: User) -> PrescribingWorld:
    return make_prescribing_world(idme_sandbox_live, clinician)


@pytest.fixture
def admin_client(make_user: Callable[..., User]) -> Client:
    make_user("practice.admin", is_staff=True, is_superuser=True)
    client = Client()
    assert client.login(username="practice.admin", password=TEST_PASSWORD)
    return client


def text(response: Any) -> str:
    return re.sub(r"\s+", " ", html.unescape(response.content.decode()))


def signed_count() -> int:
    return Prescription.objects.filter(signed_at__isnull=False).count()


def ceremony_of(url: str) -> SigningCeremony:
    return SigningCeremony.objects.get(pk=url.rstrip("/").rsplit("/", 1)[-1])


def phone_over_http(world: PrescribingWorld) -> phone_client.PhoneKey:
    """The world's phone as the command-line phone: its key, the sandbox's public URL."""
    return phone_client.PhoneKey(
        device_id=world.signing.phone.device.device_id,
        name=world.signing.phone.device.name,
        base_url=world.signing.sandbox.base_url,
        private_key=world.signing.phone.key,
    )


def approve_on_phone(world: PrescribingWorld) -> dict[str, Any]:
    """Read the pending request from the sandbox over HTTP and approve it with the shown number."""
    key = phone_over_http(world)
    [request] = phone_client.pending(key)
    push = world.signing.phone.latest_push()
    phone_client.answer(key, request["txid"], "approve", push.match_number)
    return request


def edit_form(rx: Prescription, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "patient": rx.patient_id,
        "medication": rx.medication_id,
        "dea_registration": rx.dea_registration_id,
        "quantity": rx.quantity,
        "quantity_unit": rx.quantity_unit,
        "directions": rx.directions,
        "refills": rx.refills,
        "earliest_fill_date": rx.earliest_fill_date.isoformat() if rx.earliest_fill_date else "",
        "pharmacy": rx.pharmacy_id,
    }
    data.update(changes)
    return data


def patient_admin_form(world: PrescribingWorld, **changes: Any) -> dict[str, Any]:
    patient = world.patient
    data: dict[str, Any] = {
        "practice": patient.practice_id,  # ignored where the admin shows it read-only
        "first_name": patient.first_name,
        "last_name": patient.last_name,
        "date_of_birth": patient.date_of_birth.isoformat(),
        "address_line1": patient.address_line1,
        "address_line2": patient.address_line2,
        "city": patient.city,
        "state": patient.state,
        "postal_code": patient.postal_code,
    }
    data.update(changes)
    return data


def assert_names_the_change(page: str, rx: Prescription, ceremony_url: str) -> None:
    assert f"Prescription {rx.pk} ({rx.medication}) changed after you reviewed it" in page
    assert "nothing was signed" in page
    assert ">Review again<" in page
    assert f'<input type="hidden" name="prescription" value="{rx.pk}">' in page
    assert "Enter the 6-digit code" not in page  # no 2FA offered for a changed review


# --- the binding ------------------------------------------------------------------------------
@pytest.mark.req("DEA-19")
@pytest.mark.req("DEA-06")
@pytest.mark.req("DEA-09")
def test_opening_the_review_binds_the_ceremony_to_digests_of_what_it_shows(
    world: PrescribingWorld, clinician_client: Client
) -> None:
    from eprescribe import signing

    rx1, rx2 = world.ready(), world.ready(medication=world.alprazolam, quantity=30)
    ceremony_url = open_ceremony(clinician_client, rx1, rx2)
    ceremony = ceremony_of(ceremony_url)
    assert ceremony.provider == world.provider and ceremony.state == CeremonyState.OPEN
    assert ceremony.dea_numbers == [world.registration.number]
    items = {item.prescription_id: item.content_sha256 for item in ceremony.items.all()}
    assert items == {rx1.pk: signing.content_digest(rx1), rx2.pk: signing.content_digest(rx2)}
    opened = AuditEvent.objects.get(action="eprescribe.signing_review_opened")
    assert opened.details["binding_sha256"] == ceremony.binding_sha256
    # Signing stores exactly the reviewed content (plus the signing time).
    clinician_client.post(
        ceremony_url + "code/", {"device": world.signing.totp_device.pk, "code": world.signing.code()}
    )
    for rx in (rx1, rx2):
        rx.refresh_from_db()
        signed = json.loads(rx.canonical_payload)
        signed.pop("signed_at")
        assert signing.digest(signing.canonical_bytes(signed)) == items[rx.pk]
    ceremony.refresh_from_db()
    assert ceremony.state == CeremonyState.SIGNED
    # The audit trail records which binding the 2FA completed: content, signer and statement.
    bound = AuditEvent.objects.get(action="eprescribe.signing_bound", target_id=str(ceremony.pk))
    assert bound.details["binding_sha256"] == ceremony.binding_sha256
    assert bound.details["statement_sha256"] == hashlib.sha256(DEA_STATEMENT.encode()).hexdigest()
    assert bound.details["content_sha256"] == {str(pk): digest for pk, digest in items.items()}


@pytest.mark.req("DEA-19")
@pytest.mark.req("DEA-11")
def test_a_prescription_changed_and_marked_ready_again_after_the_review_is_not_signed_by_code(
    world: PrescribingWorld, clinician_client: Client
) -> None:
    rx1, rx2 = world.ready(), world.ready(medication=world.alprazolam, quantity=30)
    ceremony_url = open_ceremony(clinician_client, rx1, rx2)
    assert "30 tablets" in text(clinician_client.get(ceremony_url))  # the review was shown
    # Someone changes the second prescription on its page and marks it ready again.
    edited = clinician_client.post(f"/eprescribe/{rx2.pk}/edit/", edit_form(rx2, quantity=90))
    assert edited.status_code == 302
    assert clinician_client.post(f"/eprescribe/{rx2.pk}/ready/").status_code == 302
    rx2.refresh_from_db()
    assert rx2.state == PrescriptionState.READY and rx2.quantity == 90
    response = clinician_client.post(
        ceremony_url + "code/", {"device": world.signing.totp_device.pk, "code": world.signing.code()}
    )
    assert response.status_code == 400
    assert signed_count() == 0
    assert_names_the_change(text(response), rx2, ceremony_url)
    assert_names_the_change(text(clinician_client.get(ceremony_url)), rx2, ceremony_url)
    ceremony = ceremony_of(ceremony_url)
    assert ceremony.state == CeremonyState.ENDED and ceremony.end_reason == CeremonyEnd.PRESCRIPTION_CHANGED
    assert ceremony.changed_prescription_ids == [rx2.pk]
    assert AuditEvent.objects.filter(action="eprescribe.signing_ended", target_id=str(ceremony.pk)).exists()
    # Review again: a fresh review of what is there now, which signs.
    again = clinician_client.post("/eprescribe/sign/", {"prescription": [rx1.pk, rx2.pk]})
    assert again.status_code == 302 and again["Location"] != ceremony_url
    assert "90 tablets" in text(clinician_client.get(again["Location"]))
    signed = clinician_client.post(
        again["Location"] + "code/", {"device": world.signing.totp_device.pk, "code": world.signing.code()}
    )
    assert signed.status_code == 302
    rx2.refresh_from_db()
    assert rx2.is_signed and json.loads(rx2.canonical_payload)["quantity"] == 90


@pytest.mark.req("DEA-19")
@pytest.mark.req("DEA-11")
def test_a_change_through_the_api_after_the_review_signs_nothing(
    world: PrescribingWorld, clinician_client: Client
) -> None:
    rx = world.ready()
    ceremony_url = open_ceremony(clinician_client, rx)
    patched = clinician_client.patch(
        f"/api/v1/prescriptions/{rx.pk}/",
        json.dumps({"directions": "Take 4 tablets by mouth every hour"}),
        content_type="application/json",
    )
    assert patched.status_code == 200
    assert clinician_client.post(f"/api/v1/prescriptions/{rx.pk}/ready/").json()["state"] == "ready"
    response = clinician_client.post(
        ceremony_url + "code/", {"device": world.signing.totp_device.pk, "code": world.signing.code()}
    )
    assert response.status_code == 400
    assert signed_count() == 0
    rx.refresh_from_db()
    assert_names_the_change(text(response), rx, ceremony_url)
    # Pushing is refused too.
    pushed = clinician_client.post(ceremony_url + "push/", {"device": world.signing.push_device.pk})
    assert pushed.status_code == 400 and not world.signing.phone.pushes()


@pytest.mark.req("DEA-19")
@pytest.mark.req("DEA-11")
def test_a_change_outside_the_services_is_caught_under_the_row_locks_when_a_code_completes(
    world: PrescribingWorld, clinician_client: Client, admin_client: Client
) -> None:
    """The code is checked by ID.me between the challenge's start and its completion; a change
    made then (here: the patient's address in the admin) is found by the recheck under locks."""
    rx = world.ready()
    ceremony_url = open_ceremony(clinician_client, rx)
    ceremony = ceremony_of(ceremony_url)
    challenge = challenges.start_code_challenge(
        provider=world.provider,
        device=world.signing.totp_device,
        purpose="epcs_sign",
        subject=f"ceremony:{ceremony.pk}",
        context={"prescription_ids": [rx.pk]},
    )
    changed = admin_client.post(
        f"/admin/eprescribe/patient/{world.patient.pk}/change/",
        patient_admin_form(world, address_line1="99 Other Road"),
    )
    assert changed.status_code == 302
    outcome = challenges.submit_code(challenge, world.signing.code())
    assert not outcome.approved and outcome.refusal_code == CeremonyEnd.PRESCRIPTION_CHANGED
    assert signed_count() == 0
    challenge.refresh_from_db()
    assert challenge.status == ChallengeStatus.FAILED
    ceremony.refresh_from_db()
    assert ceremony.state == CeremonyState.ENDED and ceremony.changed_prescription_ids == [rx.pk]
    assert_names_the_change(text(clinician_client.get(ceremony_url)), rx, ceremony_url)
    failed = AuditEvent.objects.get(action="mfa.completion_failed")
    assert failed.details["code"] == CeremonyEnd.PRESCRIPTION_CHANGED


@pytest.mark.req("DEA-19")
@pytest.mark.req("DEA-11")
def test_a_change_after_the_review_is_not_signed_by_a_push_approved_on_the_phone(
    world: PrescribingWorld, clinician_client: Client, admin_client: Client
) -> None:
    rx = world.ready()
    ceremony_url = open_ceremony(clinician_client, rx)
    assert clinician_client.post(ceremony_url + "push/", {"device": world.signing.push_device.pk}).status_code == 302
    # While the phone shows the request, the patient's address is changed in the admin.
    changed = admin_client.post(
        f"/admin/eprescribe/patient/{world.patient.pk}/change/",
        patient_admin_form(world, address_line1="99 Other Road"),
    )
    assert changed.status_code == 302
    approve_on_phone(world)
    challenges.poll_pending_pushes()  # what the Celery poller runs
    assert signed_count() == 0
    challenge = VerificationChallenge.objects.get()
    assert challenge.status == ChallengeStatus.FAILED
    status = clinician_client.get(ceremony_url + "status/").json()
    assert status["status"] == "ended" and status["changed_prescriptions"] == [rx.pk]
    assert_names_the_change(text(clinician_client.get(ceremony_url)), rx, ceremony_url)


def test_a_push_completion_reads_each_row_once_under_its_lock_and_records_every_event(
    world: PrescribingWorld, clinician_client: Client
) -> None:
    """The poller's completion of an approved push: the challenge and its siblings, the
    prescriptions, the ceremony and the EPCS permission are each read once, locked; the
    audit events of the signing are one INSERT (docs/performance.md: a push burst needs a
    completion of about a dozen statements)."""
    rx = world.ready()
    ceremony_url = open_ceremony(clinician_client, rx)
    assert clinician_client.post(ceremony_url + "push/", {"device": world.signing.push_device.pk}).status_code == 302
    challenge = VerificationChallenge.objects.get()
    first_event = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    with CaptureQueriesContext(connection) as queries:
        # What the poller runs once ID.me answers "approved".
        assert challenges.complete_challenge(challenge.pk, via="push") == (True, None)
    assert signed_count() == 1
    assert ceremony_of(ceremony_url).state == CeremonyState.SIGNED
    statements = [q["sql"] for q in queries.captured_queries]
    in_transaction = statements[: next(i for i, sql in enumerate(statements) if sql.startswith("COMMIT")) + 1]
    assert len(in_transaction) <= 13, "\n".join(in_transaction)
    assert sum(sql.startswith('INSERT INTO "audit_auditevent"') for sql in in_transaction) == 2
    assert not any("SAVEPOINT" in sql for sql in in_transaction)
    actions = list(AuditEvent.objects.filter(pk__gt=first_event).order_by("pk").values_list("action", flat=True))
    assert actions[:4] == [
        "mfa.challenge_approved",
        "eprescribe.signing_started",
        "eprescribe.signed",
        "eprescribe.signing_bound",
    ]


@pytest.fixture
def worker_env(idme_sandbox_live: IdmeSandboxHandle, monkeypatch: pytest.MonkeyPatch) -> str:
    """Worker processes started after this talk to the live sandbox."""
    monkeypatch.setenv("IDME_BASE_URL", idme_sandbox_live.base_url)
    return idme_sandbox_live.base_url


@pytest.mark.worker
@pytest.mark.req("DEA-19")
@pytest.mark.req("DEA-11")
def test_the_celery_poller_refuses_a_push_approved_after_a_change(
    world: PrescribingWorld,
    clinician_client: Client,
    admin_client: Client,
    worker_env: str,
    celery_worker_process: subprocess.Popen[bytes],
) -> None:
    rx = world.ready()
    ceremony_url = open_ceremony(clinician_client, rx)
    assert clinician_client.post(ceremony_url + "push/", {"device": world.signing.push_device.pk}).status_code == 302
    changed = admin_client.post(
        f"/admin/eprescribe/patient/{world.patient.pk}/change/",
        patient_admin_form(world, postal_code="08610"),
    )
    assert changed.status_code == 302
    approve_on_phone(world)
    # The worker's poller (nothing in this process) completes the approval, and refuses it.
    assert wait_for(lambda: VerificationChallenge.objects.get().status == ChallengeStatus.FAILED, 60)
    assert signed_count() == 0
    ceremony = ceremony_of(ceremony_url)
    assert ceremony.state == CeremonyState.ENDED and ceremony.changed_prescription_ids == [rx.pk]
    status = clinician_client.get(ceremony_url + "status/").json()
    assert status["status"] == "ended" and status["changed_prescriptions"] == [rx.pk]


# --- an edit ends the ceremony visibly ----------------------------------------------------------------
@pytest.mark.req("DEA-19")
def test_editing_a_prescription_of_a_waiting_ceremony_ends_it_at_the_next_poll(
    world: PrescribingWorld, clinician_client: Client
) -> None:
    rx = world.ready()
    ceremony_url = open_ceremony(clinician_client, rx)
    clinician_client.post(ceremony_url + "push/", {"device": world.signing.push_device.pk})
    assert clinician_client.get(ceremony_url + "status/").json()["status"] == "pending"
    # A staff member who prepared it edits it meanwhile (the service rule, whoever calls it).
    update_prescription(rx, practice=rx.practice, actor=world.user, changes={"refills": 0, "quantity": 12})
    status = clinician_client.get(ceremony_url + "status/").json()
    assert status["status"] == "ended" and status["ceremony"] == "ended"
    assert status["reason"] == "prescription_changed" and status["changed_prescriptions"] == [rx.pk]
    assert f"Prescription {rx.pk} (Oxycodone 5 mg tablet (C-II)) changed after you reviewed it" in status["message"]
    rx.refresh_from_db()
    assert_names_the_change(text(clinician_client.get(ceremony_url)), rx, ceremony_url)
    # The push was withdrawn: the phone no longer lists it, and a late approval signs nothing.
    assert phone_client.pending(phone_over_http(world)) == []
    assert VerificationChallenge.objects.get().status == ChallengeStatus.CANCELLED
    assert signed_count() == 0


@pytest.mark.req("DEA-19")
def test_cancelling_a_reviewed_prescription_ends_the_ceremony(
    world: PrescribingWorld, clinician_client: Client
) -> None:
    rx = world.ready()
    ceremony_url = open_ceremony(clinician_client, rx)
    assert clinician_client.post(f"/eprescribe/{rx.pk}/cancel/", {"reason": "Wrong patient"}).status_code == 302
    status = clinician_client.get(ceremony_url + "status/").json()
    assert status["status"] == "ended" and status["reason"] == "prescription_cancelled"
    assert f"Prescription {rx.pk} (Oxycodone 5 mg tablet (C-II)) was cancelled" in status["message"]


# --- the phone shows what is signed ---------------------------------------------------------------
@pytest.mark.req("DEA-19")
@pytest.mark.req("NIST-03")
def test_the_phone_shows_the_patient_the_count_and_each_drug(world: PrescribingWorld, clinician_client: Client) -> None:
    rx1, rx2 = world.ready(), world.ready(medication=world.alprazolam, quantity=30)
    ceremony_url = open_ceremony(clinician_client, rx1, rx2)
    clinician_client.post(ceremony_url + "push/", {"device": world.signing.push_device.pk})
    [request] = phone_client.pending(phone_over_http(world))  # what the phone reads, over HTTP
    assert request["title"] == "Sign 2 controlled-substance prescriptions"
    message = request["message"]
    assert "Patient: Pat Doe (born 05/17/1970)" in message
    assert "2 prescriptions" in message
    assert "Oxycodone 5 mg tablet (C-II) x 20 tablets" in message
    assert "Alprazolam 0.5 mg tablet (C-IV) x 30 tablets" in message
    # The phone approves what it showed; that signs.
    approve_on_phone(world)
    challenges.poll_pending_pushes()
    assert signed_count() == 2


# --- a never-synced device mirror -----------------------------------------------------------------
def forget_the_mirror(world: PrescribingWorld) -> None:
    """A provider who linked ID.me and added devices there, before the EHR ever synced them."""
    ProviderDevice.objects.filter(provider=world.provider).delete()
    DeviceSyncState.objects.filter(provider=world.provider).delete()


@pytest.mark.req("DEA-10")
@pytest.mark.req("DEA-19")
def test_a_never_synced_mirror_is_synced_before_the_ceremony_offers_devices(
    world: PrescribingWorld, clinician_client: Client
) -> None:
    rx = world.ready()
    forget_the_mirror(world)
    ceremony_url = open_ceremony(clinician_client, rx)
    page = text(clinician_client.get(ceremony_url))
    assert "You have no ID.me device" not in page
    assert "Enter the 6-digit code" in page and "Office iPhone" in page
    assert "Send push notification" in page
    assert DeviceSyncState.objects.get(provider=world.provider).last_synced_at is not None
    device = ProviderDevice.objects.get(provider=world.provider, kind="totp")
    signed = clinician_client.post(ceremony_url + "code/", {"device": device.pk, "code": world.signing.code()})
    assert signed.status_code == 302 and signed_count() == 1


@pytest.mark.req("DEA-10")
def test_a_never_synced_mirror_with_id_me_unreachable_says_it_is_checking(
    world: PrescribingWorld, clinician_client: Client, settings: Any
) -> None:
    rx = world.ready()
    forget_the_mirror(world)
    settings.IDME_BASE_URL = "http://127.0.0.1:9/idme-sandbox"  # nothing listens there
    clear_idme_client_caches()
    page = text(clinician_client.get(open_ceremony(clinician_client, rx)))
    assert "Checking your devices at ID.me" in page
    assert "You have no ID.me device" not in page


@pytest.mark.req("DEA-19")
def test_review_digests_ignore_nothing_shown(world: PrescribingWorld) -> None:
    """Every datum the review shows moves the content digest (a guard on the canonical form)."""
    from eprescribe import signing

    rx = world.ready()
    before = signing.content_digest(rx)
    for change in (
        lambda r: setattr(r, "quantity", r.quantity + 1),
        lambda r: setattr(r, "directions", r.directions + "."),
        lambda r: setattr(r, "refills", r.refills + 1),
        lambda r: setattr(r, "earliest_fill_date", dt.date(2030, 1, 1)),
        lambda r: setattr(r.patient, "address_line1", "1 New Street"),
        lambda r: setattr(r.prescriber, "address_line1", "2 New Plaza"),
        lambda r: setattr(r.medication, "strength", "10 mg"),
        lambda r: setattr(r.dea_registration, "number", "AX9999999"),
    ):
        fresh = Prescription.objects.select_related(
            "patient", "prescriber__user", "medication", "dea_registration", "pharmacy"
        ).get(pk=rx.pk)
        change(fresh)
        assert signing.content_digest(fresh) != before
