"""Signing sessions through the REST API (eprescribe.signing_api), against the live ID.me
sandbox over real HTTP, with the same world as the page's tests (ceremony_world.py)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from audit.models import AuditEvent
from eprescribe import signing
from eprescribe.models import Patient, Prescription, PrescriptionState, SigningCeremony
from mfa import challenges
from mfa.models import ChallengeStatus, ProviderDevice, VerificationChallenge
from mfa.services import sync_devices
from providers.models import Practice, PracticeRole, Provider, User
from providers.reauth import AUTHENTICATED_AT_KEY
from tests.conftest import TEST_PASSWORD, join, token_client
from tests.eprescribe.ceremony_world import PrescribingWorld, make_prescribing_world, open_ceremony
from tests.eprescribe.test_ceremony import DEA_STATEMENT_TEXT
from tests.idme_fixtures import IdmeSandboxHandle
from tests.mfa.challenge_world import wrong_code

API = "/api/v1/signing-sessions/"


@pytest.fixture
def world(idme_sandbox_live: IdmeSandboxHandle, clinician: User) -> PrescribingWorld:
    return make_prescribing_world(idme_sandbox_live, clinician)


def post(client: Client, url: str, body: Any = None) -> Any:
    return client.post(url, json.dumps(body or {}), content_type="application/json")


def create(client: Client, *prescriptions: Prescription, **extra: Any) -> Any:
    return post(client, API, {"prescriptions": [rx.pk for rx in prescriptions], **extra})


def state(rx: Prescription) -> str:
    rx.refresh_from_db()
    return rx.state


def signed(rx: Prescription) -> bool:
    return state(rx) in (PrescriptionState.SIGNED, PrescriptionState.TRANSMITTED)


@pytest.mark.req("DEA-06")
@pytest.mark.req("DEA-09")
@pytest.mark.req("DEA-11")
@pytest.mark.req("DEA-19")
@pytest.mark.django_db(transaction=True)
def test_two_prescriptions_are_signed_by_code_through_the_api(
    world: PrescribingWorld, clinician_client: Client
) -> None:
    rx1, rx2 = world.ready(), world.ready(medication=world.alprazolam, quantity=30)
    created = create(clinician_client, rx1, rx2)
    assert created.status_code == 201, created.content
    session = created.json()
    # The review the page shows (DEA-06), the statement word for word (DEA-09).
    review = session["review"]
    assert review["patient_name"] == "Pat Doe" and review["patient_address"] == "22 Elm Street, Trenton, NJ 08608"
    assert review["prescriber_name"] == "Dr. Gregory House"
    assert review["prescriber_address"] == "1 Princeton Plaza, Princeton, NJ 08540"
    assert review["dea_numbers"] == [world.registration.number]
    lines = {line["id"]: line for line in review["prescriptions"]}
    assert lines[rx1.pk]["drug_name"] == "Oxycodone" and lines[rx1.pk]["strength"] == "5 mg"
    assert lines[rx2.pk]["quantity"] == "30 tablets" and lines[rx2.pk]["dosage_form"] == "tablet"
    assert lines[rx1.pk]["directions"] == "Take 1 tablet by mouth every 6 hours as needed for pain"
    assert lines[rx1.pk]["refills"] == 0
    assert session["statement"] == DEA_STATEMENT_TEXT
    # Bound to the digests of exactly what was reviewed (DEA-19).
    ceremony = SigningCeremony.objects.get(pk=session["id"])
    assert session["binding"]["binding_sha256"] == ceremony.binding_sha256
    assert session["binding"]["prescriptions"] == [
        {"prescription": rx1.pk, "content_sha256": signing.content_digest(rx1)},
        {"prescription": rx2.pk, "content_sha256": signing.content_digest(rx2)},
    ]
    assert session["method"] == "code" and session["status"] == "awaiting_code"
    assert session["device"] == {"id": world.signing.totp_device.pk, "display_name": "Office iPhone", "kind": "totp"}
    assert 0 < session["seconds_left"] <= 300
    assert not signed(rx1)

    answered = post(clinician_client, f"{API}{session['id']}/code/", {"code": world.signing.code()})
    assert answered.status_code == 200, answered.content
    assert answered.json()["status"] == "signed"
    for rx in (rx1, rx2):
        assert signed(rx)
        assert rx.signature and rx.device_label.startswith("Office iPhone")
    challenge = VerificationChallenge.objects.get(subject=f"ceremony:{session['id']}")
    assert challenge.status == ChallengeStatus.APPROVED and rx1.challenge_id == str(challenge.pk)
    assert clinician_client.get(f"{API}{session['id']}/").json()["status"] == "signed"
    # Signed once: a second code is refused and signs nothing more.
    again = post(clinician_client, f"{API}{session['id']}/code/", {"code": world.signing.code()})
    assert again.status_code == 409 and again.json()["code"] == "already_signed"
    assert AuditEvent.objects.filter(action="eprescribe.signed").count() == 2


@pytest.mark.req("DEA-10")
@pytest.mark.req("NIST-03")
@pytest.mark.req("DEA-11")
@pytest.mark.django_db(transaction=True)
def test_one_prescription_is_signed_by_push_and_the_long_poll_sees_it(
    world: PrescribingWorld, clinician_client: Client
) -> None:
    rx = world.ready()
    created = create(clinician_client, rx, device=world.signing.push_device.pk)
    assert created.status_code == 201, created.content
    session = created.json()
    push = world.signing.phone.latest_push()
    assert session["method"] == "push" and session["status"] == "awaiting_push"
    assert session["match_number"] == push.match_number and session["expires_at"]
    assert 100 <= session["seconds_left"] <= 120
    assert push.title == "Sign 1 controlled-substance prescription" and "Pat Doe" in push.message
    # Nothing changes: a short long-poll comes back after its wait, still waiting.
    started = time.monotonic()
    waited = clinician_client.get(f"{API}{session['id']}/?wait=1").json()
    assert waited["status"] == "awaiting_push" and time.monotonic() - started >= 1
    # The phone approves; a polling round (what the worker runs) signs; the long-poll sees it at once.
    world.signing.phone.answer(push)
    challenges.poll_pending_pushes()
    started = time.monotonic()
    done = clinician_client.get(f"{API}{session['id']}/?wait=20").json()
    assert done["status"] == "signed" and time.monotonic() - started < 5
    assert signed(rx)


@pytest.mark.worker
@pytest.mark.req("DEA-11")
@pytest.mark.django_db(transaction=True)
def test_the_long_poll_returns_as_soon_as_the_worker_signs_an_approved_push(
    world: PrescribingWorld,
    clinician_client: Client,
    idme_sandbox_live: IdmeSandboxHandle,
    monkeypatch: pytest.MonkeyPatch,
    celery_worker_factory: Callable[[], subprocess.Popen[bytes]],
) -> None:
    rx = world.ready()
    session = create(clinician_client, rx, device=world.signing.push_device.pk).json()
    world.signing.phone.answer(world.signing.phone.latest_push())
    celery_worker_factory()
    started = time.monotonic()
    done = clinician_client.get(f"{API}{session['id']}/?wait=25").json()
    assert done["status"] == "signed", done
    assert time.monotonic() - started < 24
    assert signed(rx)


@pytest.fixture
def celery_worker_factory(idme_sandbox_live: IdmeSandboxHandle, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Any:
    from tests.mfa.challenge_world import start_worker, stop_worker

    monkeypatch.setenv("IDME_BASE_URL", idme_sandbox_live.base_url)
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        process = start_worker(tmp_path / "worker.log", idme_sandbox_live.base_url)
        started.append(process)
        return process

    yield start
    for process in started:
        stop_worker(process)


@pytest.mark.req("DEA-19")
@pytest.mark.django_db(transaction=True)
def test_an_edit_between_create_and_code_ends_the_session_and_signs_nothing(
    world: PrescribingWorld, clinician_client: Client
) -> None:
    rx1, rx2 = world.ready(), world.ready(medication=world.alprazolam)
    session = create(clinician_client, rx1, rx2).json()
    edited = clinician_client.patch(
        f"/api/v1/prescriptions/{rx2.pk}/", json.dumps({"quantity": 10}), content_type="application/json"
    )
    assert edited.status_code == 200
    status = clinician_client.get(f"{API}{session['id']}/").json()
    assert status["status"] == "ended" and status["end_reason"] == "prescription_changed"
    assert status["changed_prescriptions"] == [rx2.pk] and status["review"] is None
    assert f"Prescription {rx2.pk} (Alprazolam 0.5 mg tablet (C-IV)) changed after you reviewed it" in status["message"]
    answered = post(clinician_client, f"{API}{session['id']}/code/", {"code": world.signing.code()})
    assert answered.status_code == 409 and answered.json()["code"] == "ended"
    assert state(rx1) == PrescriptionState.READY and state(rx2) == PrescriptionState.DRAFT
    # A change made outside the services (the patient's address, e.g. in the admin): the digests
    # recomputed when the code arrives differ, so nothing is signed either.
    second = create(clinician_client, rx1).json()
    Patient.objects.filter(pk=world.patient.pk).update(address_line1="99 Other Road")
    late = post(clinician_client, f"{API}{second['id']}/code/", {"code": world.signing.code()})
    assert late.status_code == 409 and late.json()["code"] == "ended"
    assert clinician_client.get(f"{API}{second['id']}/").json()["changed_prescriptions"] == [rx1.pk]
    assert state(rx1) == PrescriptionState.READY
    assert not AuditEvent.objects.filter(action="eprescribe.signed").exists()


@pytest.mark.req("ASVS-06")
@pytest.mark.django_db(transaction=True)
def test_another_users_session_is_not_found_for_read_code_push_or_cancel(
    world: PrescribingWorld, clinician_client: Client, make_user: Callable[..., User]
) -> None:
    rx = world.ready()
    session = create(clinician_client, rx).json()
    wilson = join(make_user("dr.wilson", first_name="James", last_name="Wilson"), world.practice)  # same practice
    Provider.objects.create(user=wilson, display_name="Dr. James Wilson")
    other = Client()
    assert other.login(username="dr.wilson", password=TEST_PASSWORD)
    url = f"{API}{session['id']}/"
    assert other.get(url).status_code == 404
    assert post(other, url + "code/", {"code": world.signing.code()}).status_code == 404
    assert post(other, url + "push/").status_code == 404
    assert post(other, url + "cancel/").status_code == 404
    # Nor can another user open a session over this prescriber's prescriptions.
    assert create(other, rx).status_code == 404
    assert clinician_client.get(url).json()["status"] == "awaiting_code"
    assert state(rx) == PrescriptionState.READY
    assert clinician_client.get(f"{API}not-a-uuid/").status_code == 404


@pytest.mark.req("NIST-02")
@pytest.mark.req("DEA-11")
@pytest.mark.django_db(transaction=True)
def test_wrong_codes_through_the_api_count_against_the_same_limit_as_the_page(
    world: PrescribingWorld, clinician_client: Client
) -> None:
    # Two code generators: ID.me itself locks one device after five wrong codes.
    ipad_at_idme, ipad_secret = world.signing.sandbox.add_totp_device(world.signing.account, "Office iPad")
    sync_devices(world.provider)
    ipad = ProviderDevice.objects.get(provider=world.provider, idme_device_id=ipad_at_idme.device_id)
    page_url = open_ceremony(clinician_client, world.ready())
    for _ in range(5):  # five wrong codes on the page
        clinician_client.post(
            page_url + "code/", {"device": world.signing.totp_device.pk, "code": wrong_code(world.signing.totp_secret)}
        )
    rx = world.ready()
    session = create(clinician_client, rx, device=ipad.pk).json()
    url = f"{API}{session['id']}/code/"
    responses = [post(clinician_client, url, {"code": wrong_code(ipad_secret)}) for _ in range(5)]
    assert [r.status_code for r in responses] == [400, 400, 400, 400, 429]
    assert responses[0].json()["code"] == "invalid_code"
    assert "That code is not correct. 4 attempts left." in responses[0].json()["detail"]
    assert responses[-1].json()["code"] == "locked" and int(responses[-1]["Retry-After"]) > 0
    assert "locked for your account" in responses[-1].json()["detail"]
    # Locked for the page too, and for the right code through the API.
    locked_create = post(clinician_client, API, {"prescriptions": [world.ready().pk]})
    assert locked_create.status_code == 429 and int(locked_create["Retry-After"]) > 0
    page_again = open_ceremony(clinician_client, world.ready())
    locked = clinician_client.post(page_again + "code/", {"device": ipad.pk, "code": world.signing.code(ipad_secret)})
    assert locked.status_code == 429
    assert state(rx) == PrescriptionState.READY
    assert AuditEvent.objects.filter(action="mfa.code_failed", actor=world.user).count() == 10


@pytest.mark.req("DEA-01")
@pytest.mark.req("NIST-07")
@pytest.mark.django_db(transaction=True)
def test_signing_needs_the_password_factor_a_recent_sign_in_or_the_password_in_the_call(
    world: PrescribingWorld, clinician_client: Client
) -> None:
    rx = world.ready()
    session = clinician_client.session
    session[AUTHENTICATED_AT_KEY] = time.time() - 13 * 3600
    session.save()
    refused = create(clinician_client, rx)
    assert refused.status_code == 403 and refused.json()["code"] == "reauthentication_required"
    wrong = create(clinician_client, rx, password="not my password")
    assert wrong.status_code == 403
    assert not SigningCeremony.objects.exists()
    created = create(clinician_client, rx, password=TEST_PASSWORD)
    assert created.status_code == 201
    # Device only (no EHR sign-in): refused before anything is looked up.
    anonymous = post(Client(), f"{API}{created.json()['id']}/code/", {"code": world.signing.code()})
    assert anonymous.status_code in (401, 403)
    assert state(rx) == PrescriptionState.READY


@pytest.mark.req("DEA-08")
@pytest.mark.req("DEA-11")
@pytest.mark.django_db(transaction=True)
def test_bad_selections_and_bodies_are_refused_and_cancel_signs_nothing(
    world: PrescribingWorld, clinician_client: Client
) -> None:
    rx, other_patients = world.ready(), world.ready(patient=world.other_patient)
    across = create(clinician_client, rx, other_patients)
    assert across.status_code == 400 and "one patient" in across.json()["detail"]
    assert post(clinician_client, API, {"prescriptions": []}).status_code == 400
    assert post(clinician_client, API, {"prescriptions": [999999]}).status_code == 404
    assert create(clinician_client, rx, device=999999).status_code == 400
    assert not SigningCeremony.objects.exists()
    session = create(clinician_client, rx, device=world.signing.push_device.pk).json()
    assert post(clinician_client, f"{API}{session['id']}/code/", {"code": "12345"}).status_code == 400
    assert clinician_client.get(f"{API}{session['id']}/?wait=99").status_code == 400
    cancelled = post(clinician_client, f"{API}{session['id']}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert "Cancelled. Nothing was signed." in cancelled.json()["message"]
    assert world.signing.phone.latest_push().status == "cancelled"
    assert state(rx) == PrescriptionState.READY


def test_the_schema_documents_every_new_operation_with_its_4xx_responses(tmp_path: Any) -> None:
    import yaml
    from django.core.management import call_command

    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    paths = yaml.safe_load(target.read_text())["paths"]
    expected = {
        "/api/v1/signing-sessions/": {"post": {"201", "400", "403", "404", "409", "429", "503"}},
        "/api/v1/signing-sessions/{id}/": {"get": {"200", "400", "404"}},
        "/api/v1/signing-sessions/{id}/code/": {"post": {"200", "400", "403", "404", "409", "429", "503"}},
        "/api/v1/signing-sessions/{id}/push/": {"post": {"200", "400", "403", "404", "409", "429", "503"}},
        "/api/v1/signing-sessions/{id}/cancel/": {"post": {"200", "404"}},
        "/api/v1/me/": {"get": {"200", "403"}},
        "/api/v1/credentials/dea-registrations/": {"get": {"200"}, "post": {"201", "400"}},
        "/api/v1/credentials/state-licenses/": {"get": {"200"}, "post": {"201", "400"}},
        "/api/v1/audit-events/": {"get": {"200", "400", "403"}},
        "/api/v1/incident-reports/{id}/": {"get": {"200", "403", "404"}},
        "/api/v1/prescriptions/": {"get": {"200", "400"}},
    }
    for path, operations in expected.items():
        for method, statuses in operations.items():
            documented = {str(code) for code in paths[path][method]["responses"]}
            assert statuses <= documented, (path, method, documented)
    assert "requestBody" in paths["/api/v1/signing-sessions/{id}/code/"]["post"]
    names = {p["name"] for p in paths["/api/v1/prescriptions/"]["get"]["parameters"]}
    assert {"state", "patient", "created_after", "created_before", "controlled", "cursor"} <= names


@pytest.mark.req("DEA-16")
@pytest.mark.django_db(transaction=True)
def test_signing_is_refused_when_the_signing_key_or_id_me_is_unavailable(
    world: PrescribingWorld, clinician_client: Client, settings: Any
) -> None:
    from tests.idme_fixtures import clear_idme_client_caches

    rx = world.ready()
    settings.EPCS_SIGNING_KEY = "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n"
    refused = create(clinician_client, rx)
    assert refused.status_code == 503 and "signing key is unavailable" in refused.json()["detail"]
    assert not SigningCeremony.objects.exists()
    settings.EPCS_SIGNING_KEY = ""
    session = create(clinician_client, rx).json()
    settings.IDME_BASE_URL = "http://127.0.0.1:9/idme-sandbox"  # nothing listens there
    clear_idme_client_caches()
    pushed = post(clinician_client, f"{API}{session['id']}/push/", {"device": world.signing.push_device.pk})
    assert pushed.status_code == 503 and "ID.me cannot be reached" in pushed.json()["detail"]
    coded = post(clinician_client, f"{API}{session['id']}/code/", {"code": world.signing.code()})
    assert coded.status_code == 503 and "could not be checked" in coded.json()["detail"]
    assert state(rx) == PrescriptionState.READY


@pytest.mark.req("ASVS-11")
@pytest.mark.django_db(transaction=True)
def test_a_session_opened_in_another_practice_is_not_found(
    world: PrescribingWorld, clinician_client: Client, other_practice: Practice
) -> None:
    """dr.house, a locum, opens a session in his first practice: working in the other one (the
    X-Practice-Id header) its id is 404 for every call, and that practice's selection cannot
    name this practice's prescriptions."""
    join(world.user, other_practice, PracticeRole.PRESCRIBER)
    here = {"X-Practice-Id": str(world.practice.pk)}
    there = {"X-Practice-Id": str(other_practice.pk)}
    rx = world.ready()
    created = clinician_client.post(API, json.dumps({"prescriptions": [rx.pk]}), "application/json", headers=here)
    assert created.status_code == 201, created.content
    url = f"{API}{created.json()['id']}/"
    assert clinician_client.get(url, headers=here).json()["status"] == "awaiting_code"
    answers = [
        clinician_client.get(url, headers=there),
        clinician_client.post(
            url + "code/", json.dumps({"code": world.signing.code()}), "application/json", headers=there
        ),
        clinician_client.post(url + "push/", "{}", "application/json", headers=there),
        clinician_client.post(url + "cancel/", "{}", "application/json", headers=there),
        clinician_client.post(API, json.dumps({"prescriptions": [rx.pk]}), "application/json", headers=there),
    ]
    for answer in answers:
        assert answer.status_code == 404 and answer.json()["code"] == "not_found", answer.content
    # Two practices and none named: the call says to choose one.
    unnamed = create(clinician_client, rx)
    assert unnamed.status_code == 403 and "X-Practice-Id" in unnamed.json()["detail"]
    assert clinician_client.get(url, headers=here).json()["status"] == "awaiting_code"
    assert state(rx) == PrescriptionState.READY


@pytest.mark.req("DEA-01")
@pytest.mark.req("DEA-11")
@pytest.mark.req("NIST-07")
@pytest.mark.django_db(transaction=True)
def test_a_personal_token_signs_with_epcs_sign_and_the_password_in_each_two_factor_call(
    world: PrescribingWorld,
) -> None:
    rx = world.ready()
    without_sign = token_client(world.user, "prescriptions:read", "prescriptions:write")
    refused = create(without_sign, rx, password=TEST_PASSWORD)
    assert refused.status_code == 403 and "epcs:sign" in refused.json()["detail"]
    script = token_client(world.user, "prescriptions:read", "prescriptions:write", "epcs:sign")
    # A token is not the password factor (DEA-01): no password, no session.
    no_password = create(script, rx)
    assert no_password.status_code == 403 and no_password.json()["code"] == "reauthentication_required"
    unknown = create(script, rx, password=TEST_PASSWORD, pin="1234")
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["code"] == "unknown_field"
    assert not SigningCeremony.objects.exists()
    created = create(script, rx, password=TEST_PASSWORD)
    assert created.status_code == 201, created.content
    session = created.json()
    assert session["review"]["prescriber_address"] == "1 Princeton Plaza, Princeton, NJ 08540"
    code_url = f"{API}{session['id']}/code/"
    # The password counted for that call only: the code needs it again.
    again = post(script, code_url, {"code": world.signing.code()})
    assert again.status_code == 403 and again.json()["code"] == "reauthentication_required"
    assert script.get(f"{API}{session['id']}/").json()["status"] == "awaiting_code"  # prescriptions:read
    answered = post(script, code_url, {"code": world.signing.code(), "password": TEST_PASSWORD})
    assert answered.status_code == 200 and answered.json()["status"] == "signed", answered.content
    assert signed(rx)
    # The ceremony's audit events, the 2FA's included, are in the practice's chain.
    opened = AuditEvent.objects.get(action="eprescribe.signing_review_opened")
    started = AuditEvent.objects.filter(action="mfa.challenge_started", actor=world.user).latest("id")
    assert opened.chain_id == started.chain_id == world.practice.pk
    assert AuditEvent.objects.filter(action="eprescribe.signed", chain_id=world.practice.pk).count() == 1


@pytest.mark.req("ASVS-02")
@pytest.mark.django_db(transaction=True)
def test_code_submission_has_the_stricter_limit_of_two_factor_steps(
    world: PrescribingWorld, clinician_client: Client, settings: Any
) -> None:
    settings.API_RATE_LIMITS = {**settings.API_RATE_LIMITS, "sensitive": "3/minute"}
    session = create(clinician_client, world.ready()).json()  # the first two-factor call
    url = f"{API}{session['id']}/code/"
    answers = [post(clinician_client, url, {"code": "12345"}) for _ in range(3)]
    assert [a.status_code for a in answers] == [400, 400, 429]
    assert answers[-1].json()["code"] == "throttled" and int(answers[-1]["Retry-After"]) > 0
    # Reading the session is not a two-factor step.
    assert clinician_client.get(f"{API}{session['id']}/").status_code == 200
