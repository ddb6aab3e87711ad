"""The signing ceremony page, through the Django test client, against the live ID.me sandbox."""

from __future__ import annotations

import html
import re
import time
from typing import Any

import pytest
from django.test import Client

from audit.models import AuditEvent
from eprescribe.ceremony import DEA_STATEMENT
from eprescribe.models import Prescription, PrescriptionState
from mfa import challenges
from mfa.models import ChallengeStatus, ProviderDevice, VerificationChallenge
from mfa.services import sync_devices
from providers.models import EpcsPermission, EpcsPermissionState, Provider, User
from providers.reauth import AUTHENTICATED_AT_KEY
from tests.conftest import TEST_PASSWORD, join
from tests.eprescribe.ceremony_world import PrescribingWorld, make_prescribing_world, open_ceremony
from tests.idme_fixtures import IdmeSandboxHandle
from tests.mfa.challenge_world import wrong_code

DEA_STATEMENT_TEXT = (
    "By completing the two-factor authentication protocol at this time, you are legally signing the "
    "prescription(s) and authorizing the transmission of the above information to the pharmacy for "
    "dispensing. The two-factor authentication protocol may only be completed by the practitioner whose "
    "name and DEA registration number appear above."
)


@pytest.fixture
def world(idme_sandbox_live: IdmeSandboxHandle, clinician: User) -> PrescribingWorld:
    return make_prescribing_world(idme_sandbox_live, clinician)


def text(response: Any) -> str:
    return re.sub(r"\s+", " ", html.unescape(response.content.decode()))


def state(rx: Prescription) -> str:
    rx.refresh_from_db()
    return rx.state


@pytest.mark.req("DEA-06")
@pytest.mark.req("DEA-09")
@pytest.mark.req("DEA-10")
@pytest.mark.django_db(transaction=True)
def test_review_shows_every_required_field_the_statement_and_the_2fa_step_on_one_page(
    world: PrescribingWorld, clinician_client: Client
) -> None:
    rx1 = world.ready()
    rx2 = world.ready(medication=world.alprazolam, quantity=30)
    page = clinician_client.get(open_ceremony(clinician_client, rx1, rx2))
    assert page.status_code == 200
    body = text(page)
    assert DEA_STATEMENT == DEA_STATEMENT_TEXT
    assert DEA_STATEMENT_TEXT in body
    for expected in (
        "Pat Doe",  # patient full name
        "22 Elm Street, Trenton, NJ 08608",  # patient address
        "Oxycodone",
        "5 mg",
        "tablet",
        "20 tablets",
        "30 tablets",
        "Alprazolam",
        "0.5 mg",
        "Take 1 tablet by mouth every 6 hours as needed for pain",
        "Dr. Gregory House",  # prescriber name
        "1 Princeton Plaza, Princeton, NJ 08540",  # prescriber address
        world.registration.number,
        "Refills",
        "Date written",
    ):
        assert expected in body, expected
    # The 2FA prompt is on the same page: the primary (code generator) preselected.
    assert "Enter the 6-digit code" in body
    assert f'<input type="hidden" name="device" value="{world.signing.totp_device.pk}">' in body
    assert "Send push notification" in body
    assert body.index("Enter the 6-digit code") < body.index("Send push notification")


@pytest.mark.req("DEA-10")
@pytest.mark.django_db(transaction=True)
def test_with_several_code_generators_the_page_asks_which_one(
    world: PrescribingWorld, clinician_client: Client
) -> None:
    from mfa.services import sync_devices

    world.signing.sandbox.add_totp_device(world.signing.account, "Office iPad")
    sync_devices(world.provider)
    body = text(clinician_client.get(open_ceremony(clinician_client, world.ready())))
    assert "Which code generator?" in body
    assert "the codes on each device will be different" in body
    assert f'value="{world.signing.totp_device.pk}" aria-describedby="several-generators-note" checked' in body
    assert "Office iPad" in body


@pytest.mark.req("DEA-08")
@pytest.mark.django_db(transaction=True)
def test_a_selection_across_two_patients_is_refused(world: PrescribingWorld, clinician_client: Client) -> None:
    mine = world.ready()
    theirs = world.ready(patient=world.other_patient)
    response = clinician_client.post("/eprescribe/sign/", {"prescription": [mine.pk, theirs.pk]})
    assert response.status_code == 400
    assert "One signing covers one patient's prescriptions" in text(response)
    assert "epcs_ceremonies" not in clinician_client.session
    assert AuditEvent.objects.filter(action="eprescribe.signing_refused").count() == 1
    assert state(mine) == state(theirs) == PrescriptionState.READY


@pytest.mark.req("DEA-07")
@pytest.mark.req("ASVS-10")
@pytest.mark.django_db(transaction=True)
def test_only_ready_controlled_prescriptions_and_real_ids_can_be_selected(
    world: PrescribingWorld, clinician_client: Client
) -> None:
    from eprescribe.services import create_prescription

    draft = create_prescription(
        actor=world.user,
        prescriber=world.provider,
        practice=world.practice,
        fields={
            "patient": world.patient,
            "dea_registration": world.registration,
            "medication": world.oxycodone,
            "quantity": 10,
            "directions": "Take 1 tablet daily",
            "refills": 0,
            "pharmacy": world.pharmacy,
        },
    )
    response = clinician_client.post("/eprescribe/sign/", {"prescription": [draft.pk]})
    assert response.status_code == 400 and "not ready for signing" in text(response)
    for bad in ([], ["abc"], ["1; DROP TABLE"], ["99999999"]):
        response = clinician_client.post("/eprescribe/sign/", {"prescription": bad})
        assert response.status_code in (400, 404), bad
    assert clinician_client.get("/eprescribe/sign/").status_code == 405


@pytest.mark.req("ASVS-06")
@pytest.mark.req("DEA-05")
@pytest.mark.django_db(transaction=True)
def test_another_provider_cannot_see_or_sign_this_ceremony(
    world: PrescribingWorld, clinician_client: Client, make_user: Any
) -> None:
    rx = world.ready()
    ceremony_url = open_ceremony(clinician_client, rx)
    # Start a challenge so the ceremony exists outside the owner's session too.
    clinician_client.post(
        ceremony_url + "code/", {"device": world.signing.totp_device.pk, "code": wrong_code(world.signing.totp_secret)}
    )
    wilson = make_user("dr.wilson", first_name="James", last_name="Wilson")
    Provider.objects.create(user=wilson, display_name="Dr. James Wilson")
    join(wilson, world.practice)  # a prescriber of the same practice
    intruder = Client()
    assert intruder.login(username="dr.wilson", password=TEST_PASSWORD)
    assert intruder.get(ceremony_url).status_code == 404
    status = intruder.get(ceremony_url + "status/")
    assert status.status_code == 404 and status.json()["error"] == "not_found"
    code = world.signing.code()
    assert (
        intruder.post(ceremony_url + "code/", {"device": world.signing.totp_device.pk, "code": code}).status_code == 404
    )
    assert intruder.post(ceremony_url + "cancel/").status_code == 404
    # Selecting someone else's prescription looks like a missing one.
    assert intruder.post("/eprescribe/sign/", {"prescription": [rx.pk]}).status_code == 404
    assert state(rx) == PrescriptionState.READY
    # Signed-out: the sign-in page, never the ceremony.
    assert Client().get(ceremony_url).status_code == 302


@pytest.mark.req("DEA-11")
@pytest.mark.req("DEA-01")
@pytest.mark.django_db(transaction=True)
def test_a_valid_code_signs_every_selected_prescription(world: PrescribingWorld, clinician_client: Client) -> None:
    rx1, rx2 = world.ready(), world.ready(medication=world.alprazolam)
    ceremony_url = open_ceremony(clinician_client, rx1, rx2)
    response = clinician_client.post(
        ceremony_url + "code/", {"device": world.signing.totp_device.pk, "code": world.signing.code()}
    )
    assert response.status_code == 302 and response["Location"] == ceremony_url
    for rx in (rx1, rx2):
        rx.refresh_from_db()
        assert rx.is_signed and rx.signature and rx.device_label.startswith("Office iPhone")
    challenge = VerificationChallenge.objects.get(subject__endswith=ceremony_url.rstrip("/").rsplit("/", 1)[-1])
    assert challenge.status == ChallengeStatus.APPROVED and rx1.challenge_id == str(challenge.pk)
    page = text(clinician_client.get(ceremony_url))
    assert "Signed." in page and "2 prescriptions signed" in page
    assert "Enter the 6-digit code" not in page


@pytest.mark.req("DEA-11")
@pytest.mark.req("NIST-02")
@pytest.mark.django_db(transaction=True)
def test_wrong_codes_sign_nothing_say_how_many_attempts_are_left_and_end_after_five(
    world: PrescribingWorld, clinician_client: Client
) -> None:
    rx = world.ready()
    ceremony_url = open_ceremony(clinician_client, rx)
    data = {"device": world.signing.totp_device.pk, "code": wrong_code(world.signing.totp_secret)}
    first = clinician_client.post(ceremony_url + "code/", data)
    assert first.status_code == 400
    assert "That code is not correct. 4 attempts left." in text(first)
    assert DEA_STATEMENT_TEXT in text(first)  # still the same page (DEA-10)
    for _ in range(4):
        last = clinician_client.post(ceremony_url + "code/", data)
    assert "Too many wrong codes: this signing has ended and nothing was signed." in text(last)
    after = clinician_client.post(ceremony_url + "code/", {**data, "code": world.signing.code()})
    assert after.status_code == 409 and "ended" in text(after)
    # eprescribe words the refusal; the page also says why the signing ended.
    assert "This signing has ended and cannot be retried." in text(after) and "Too many wrong codes" in text(after)
    assert state(rx) == PrescriptionState.READY
    assert AuditEvent.objects.filter(action="mfa.code_failed", actor=world.user).count() == 5


@pytest.mark.req("ASVS-03")
@pytest.mark.django_db(transaction=True)
def test_a_reused_code_is_shown_as_reused(world: PrescribingWorld, clinician_client: Client) -> None:
    code = world.signing.code()
    first_url = open_ceremony(clinician_client, world.ready())
    assert (
        clinician_client.post(first_url + "code/", {"device": world.signing.totp_device.pk, "code": code}).status_code
        == 302
    )
    second_rx = world.ready()
    second_url = open_ceremony(clinician_client, second_rx)
    response = clinician_client.post(second_url + "code/", {"device": world.signing.totp_device.pk, "code": code})
    assert response.status_code == 400
    assert "That code has already been used" in text(response)
    assert state(second_rx) == PrescriptionState.READY
    assert AuditEvent.objects.filter(action="mfa.code_replayed", actor=world.user).count() == 1


@pytest.mark.req("DEA-01")
@pytest.mark.req("NIST-07")
@pytest.mark.django_db(transaction=True)
def test_signing_needs_a_sign_in_within_the_session_limits(world: PrescribingWorld, clinician_client: Client) -> None:
    rx = world.ready()
    ceremony_url = open_ceremony(clinician_client, rx)
    session = clinician_client.session
    session[AUTHENTICATED_AT_KEY] = time.time() - 13 * 3600
    session.save()
    response = clinician_client.post(
        ceremony_url + "code/", {"device": world.signing.totp_device.pk, "code": world.signing.code()}
    )
    assert response.status_code == 302 and "/account/reauthenticate/" in response["Location"]
    assert state(rx) == PrescriptionState.READY
    # Device only (no EHR session): never reaches the ceremony.
    anonymous = Client().post(ceremony_url + "code/", {"device": world.signing.totp_device.pk, "code": "123456"})
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]


@pytest.mark.req("DEA-04")
@pytest.mark.django_db(transaction=True)
def test_signing_is_refused_while_epcs_is_blocked(world: PrescribingWorld, clinician_client: Client) -> None:
    rx = world.ready()
    ceremony_url = open_ceremony(clinician_client, rx)
    EpcsPermission.objects.filter(provider=world.provider).update(state=EpcsPermissionState.REVOKED)
    page = text(clinician_client.get(ceremony_url))
    assert "Your EPCS permission was revoked" in page and "Enter the 6-digit code" not in page
    response = clinician_client.post(
        ceremony_url + "code/", {"device": world.signing.totp_device.pk, "code": world.signing.code()}
    )
    assert response.status_code == 400
    assert state(rx) == PrescriptionState.READY
    assert not VerificationChallenge.objects.exists()


@pytest.mark.req("DEA-04")
@pytest.mark.django_db(transaction=True)
def test_a_dea_registration_expiring_today_stops_signing_the_same_day(
    world: PrescribingWorld, clinician_client: Client
) -> None:
    from django.utils import timezone

    rx = world.ready()
    ceremony_url = open_ceremony(clinician_client, rx)
    world.registration.expires_on = timezone.localdate()
    world.registration.save(update_fields=["expires_on"])
    assert "expired on" in text(clinician_client.get(ceremony_url))
    response = clinician_client.post(
        ceremony_url + "code/", {"device": world.signing.totp_device.pk, "code": world.signing.code()}
    )
    assert response.status_code == 400 and "expired on" in text(response)
    assert state(rx) == PrescriptionState.READY


@pytest.mark.req("DEA-02")
@pytest.mark.django_db(transaction=True)
def test_signing_needs_an_ial2_identity(world: PrescribingWorld, clinician_client: Client) -> None:
    rx = world.ready()
    ceremony_url = open_ceremony(clinician_client, rx)
    Provider.objects.filter(pk=world.provider.pk).update(identity_ial="ial1")
    response = clinician_client.post(
        ceremony_url + "code/", {"device": world.signing.totp_device.pk, "code": world.signing.code()}
    )
    assert response.status_code == 400 and "IAL2" in text(response)
    assert state(rx) == PrescriptionState.READY
    assert not VerificationChallenge.objects.exists()


@pytest.mark.req("NIST-02")
@pytest.mark.django_db(transaction=True)
def test_the_tenth_wrong_code_locks_two_factor_and_the_page_answers_429(
    world: PrescribingWorld, clinician_client: Client
) -> None:
    # Two code generators: ID.me itself locks one device after five wrong codes.
    ipad_at_idme, ipad_secret = world.signing.sandbox.add_totp_device(world.signing.account, "Office iPad")
    sync_devices(world.provider)
    ipad = ProviderDevice.objects.get(provider=world.provider, idme_device_id=ipad_at_idme.device_id)
    data = {"device": world.signing.totp_device.pk, "code": wrong_code(world.signing.totp_secret)}
    first_url = open_ceremony(clinician_client, world.ready())
    for _ in range(5):
        clinician_client.post(first_url + "code/", data)
    rx = world.ready()
    second_url = open_ceremony(clinician_client, rx)
    ipad_data = {"device": ipad.pk, "code": wrong_code(ipad_secret)}
    responses = [clinician_client.post(second_url + "code/", ipad_data) for _ in range(5)]
    assert [r.status_code for r in responses] == [400, 400, 400, 400, 429]
    assert "two-factor authentication is locked for your account until" in text(responses[-1])
    assert "Nothing was signed." in text(responses[-1])
    # While locked, the right code is refused with the same status, and nothing is signed.
    third_url = open_ceremony(clinician_client, world.ready())
    locked = clinician_client.post(third_url + "code/", {**ipad_data, "code": world.signing.code(ipad_secret)})
    assert locked.status_code == 429 and "locked for your account" in text(locked)
    assert state(rx) == PrescriptionState.READY


@pytest.mark.req("DEA-16")
@pytest.mark.django_db(transaction=True)
def test_signing_is_refused_when_the_signing_key_or_id_me_is_unavailable(
    world: PrescribingWorld, clinician_client: Client, settings: Any
) -> None:
    rx = world.ready()
    ceremony_url = open_ceremony(clinician_client, rx)
    settings.EPCS_SIGNING_KEY = "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n"
    response = clinician_client.post(
        ceremony_url + "code/", {"device": world.signing.totp_device.pk, "code": world.signing.code()}
    )
    assert response.status_code == 400 and "signing key is unavailable" in text(response)
    settings.EPCS_SIGNING_KEY = ""
    from tests.idme_fixtures import clear_idme_client_caches

    settings.IDME_BASE_URL = "http://127.0.0.1:9/idme-sandbox"  # nothing listens there
    clear_idme_client_caches()
    pushed = clinician_client.post(ceremony_url + "push/", {"device": world.signing.push_device.pk})
    # ID.me unreachable is 503 whether the push or the code meets it (one status mapping, mfa.outcomes).
    assert pushed.status_code == 503 and "ID.me cannot be reached" in text(pushed)
    coded = clinician_client.post(
        ceremony_url + "code/", {"device": world.signing.totp_device.pk, "code": world.signing.code()}
    )
    assert coded.status_code == 503 and "could not be checked" in text(coded)
    assert state(rx) == PrescriptionState.READY


# --- push ---------------------------------------------------------------------------------
@pytest.mark.req("DEA-10")
@pytest.mark.req("NIST-03")
@pytest.mark.django_db(transaction=True)
def test_push_waits_on_the_same_page_with_number_countdown_cancel_resend_and_refresh(
    world: PrescribingWorld, clinician_client: Client
) -> None:
    rx = world.ready()
    ceremony_url = open_ceremony(clinician_client, rx)
    response = clinician_client.post(ceremony_url + "push/", {"device": world.signing.push_device.pk})
    assert response.status_code == 302
    push = world.signing.phone.latest_push()
    assert push.title == "Sign 1 controlled-substance prescription"
    assert "Pat Doe" in push.message and "Oxycodone 5 mg tablet" in push.message
    page = text(clinician_client.get(ceremony_url))
    assert DEA_STATEMENT_TEXT in page
    assert f'<strong class="match-number" id="match-number">{push.match_number}</strong>' in page
    assert "Expires in" in page and 'role="timer"' in page
    for control in (">Cancel<", ">Resend<", ">Refresh<"):
        assert control in page
    assert "eprescribe/ceremony.js" in page
    status = clinician_client.get(ceremony_url + "status/").json()
    assert status["status"] == "pending" and status["match_number"] == push.match_number
    assert 100 <= status["seconds_left"] <= 120
    # The phone approves; a polling round (what the worker runs) signs.
    world.signing.phone.answer(push)
    challenges.poll_pending_pushes()
    assert clinician_client.get(ceremony_url + "status/").json()["status"] == "approved"
    assert state(rx) == PrescriptionState.SIGNED or state(rx) == PrescriptionState.TRANSMITTED
    assert "Signed." in text(clinician_client.get(ceremony_url))


@pytest.mark.req("DEA-11")
@pytest.mark.django_db(transaction=True)
def test_a_denied_or_cancelled_push_signs_nothing(world: PrescribingWorld, clinician_client: Client) -> None:
    rx = world.ready()
    ceremony_url = open_ceremony(clinician_client, rx)
    clinician_client.post(ceremony_url + "push/", {"device": world.signing.push_device.pk})
    world.signing.phone.answer(world.signing.phone.latest_push(), decision="deny")
    challenges.poll_pending_pushes()
    page = text(clinician_client.get(ceremony_url))
    assert "The request was denied on your phone. Nothing was signed." in page
    assert "Send push notification" in page  # may try again
    clinician_client.post(ceremony_url + "push/", {"device": world.signing.push_device.pk})
    assert clinician_client.post(ceremony_url + "cancel/").status_code == 302
    assert "Cancelled. Nothing was signed." in text(clinician_client.get(ceremony_url))
    late = world.signing.phone.latest_push()
    late.refresh_from_db()
    assert late.status == "cancelled"
    assert state(rx) == PrescriptionState.READY


@pytest.mark.req("DEA-11")
@pytest.mark.django_db(transaction=True)
def test_a_prescription_changed_during_the_push_is_not_signed(
    world: PrescribingWorld, clinician_client: Client
) -> None:
    from eprescribe.services import update_prescription

    rx = world.ready()
    ceremony_url = open_ceremony(clinician_client, rx)
    clinician_client.post(ceremony_url + "push/", {"device": world.signing.push_device.pk})
    update_prescription(rx, practice=rx.practice, actor=world.user, changes={"quantity": 10})  # clears "ready" (DEA-07)
    # The edit ends the ceremony (DEA-19): its push is withdrawn at ID.me, nothing can approve it.
    push = world.signing.phone.latest_push()
    push.refresh_from_db()
    assert push.status == "cancelled"
    challenges.poll_pending_pushes()
    challenge = VerificationChallenge.objects.get()
    assert challenge.status == ChallengeStatus.CANCELLED
    assert "Nothing was signed" in challenge.status_reason
    assert clinician_client.get(ceremony_url + "status/").json()["status"] == "ended"
    assert state(rx) == PrescriptionState.DRAFT
    assert not AuditEvent.objects.filter(action="eprescribe.signed").exists()
