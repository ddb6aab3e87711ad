"""ASVS-11 / DEA-19: a signing ceremony belongs to the practice it was opened in. Its completion
(here: a push approved on the phone and completed by the poller, against the live ID.me
sandbox) signs nothing when a prescription has moved to another practice or the EPCS
permission in the ceremony's practice was revoked after the review."""

from __future__ import annotations

import pytest
from django.test import Client

from eprescribe.models import CeremonyState, Prescription, SigningCeremony
from mfa import challenges
from mfa.models import ChallengeStatus, VerificationChallenge
from providers.models import EpcsPermission, EpcsPermissionState, Practice, PracticeRole, User
from tests.conftest import join
from tests.eprescribe.ceremony_world import PrescribingWorld, make_prescribing_world, open_ceremony
from tests.eprescribe.conftest import grant_epcs
from tests.eprescribe.test_ceremony_binding import approve_on_phone, ceremony_of
from tests.idme_fixtures import IdmeSandboxHandle

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.req("ASVS-11")]


@pytest.fixture
def world(idme_sandbox_live: IdmeSandboxHandle, clinician: User) -> PrescribingWorld:
    return make_prescribing_world(idme_sandbox_live, clinician)


def signed_count() -> int:
    return Prescription.objects.filter(signed_at__isnull=False).count()


def start_push(world: PrescribingWorld, client: Client) -> tuple[Prescription, str]:
    rx = world.ready()
    ceremony_url = open_ceremony(client, rx)
    assert ceremony_of(ceremony_url).practice == world.practice
    assert client.post(ceremony_url + "push/", {"device": world.signing.push_device.pk}).status_code == 302
    return rx, ceremony_url


@pytest.mark.req("DEA-19")
def test_a_prescription_moved_to_another_practice_after_the_review_is_not_signed(
    world: PrescribingWorld, clinician_client: Client, other_practice: Practice
) -> None:
    rx, ceremony_url = start_push(world, clinician_client)
    # Behind the services' back (as a database change would): the prescription now is B's.
    Prescription.objects.filter(pk=rx.pk).update(practice=other_practice)
    approve_on_phone(world)
    challenges.poll_pending_pushes()  # what the Celery poller runs
    assert signed_count() == 0
    assert VerificationChallenge.objects.get().status == ChallengeStatus.FAILED
    ceremony = ceremony_of(ceremony_url)
    assert ceremony.state == CeremonyState.ENDED and ceremony.changed_prescription_ids == [rx.pk]


def test_a_permission_revoked_in_the_ceremonys_practice_after_the_review_signs_nothing(
    world: PrescribingWorld, clinician_client: Client, other_practice: Practice
) -> None:
    rx, ceremony_url = start_push(world, clinician_client)
    # The same prescriber may sign in practice B: that permission does not count in A.
    join(world.user, other_practice, PracticeRole.PRESCRIBER)
    grant_epcs(world.provider, other_practice)
    EpcsPermission.objects.filter(provider=world.provider, practice=world.practice).update(
        state=EpcsPermissionState.REVOKED
    )
    approve_on_phone(world)
    challenges.poll_pending_pushes()
    assert signed_count() == 0
    challenge = VerificationChallenge.objects.get()
    assert challenge.status == ChallengeStatus.FAILED
    assert "revoked" in challenges.status_message(challenge)
    rx.refresh_from_db()
    assert not rx.is_signed
    assert SigningCeremony.objects.get(pk=ceremony_of(ceremony_url).pk).state != CeremonyState.SIGNED


def test_a_ceremony_of_another_practice_is_not_found_after_switching(
    world: PrescribingWorld, clinician_client: Client, other_practice: Practice
) -> None:
    rx, ceremony_url = start_push(world, clinician_client)
    join(world.user, other_practice, PracticeRole.PRESCRIBER)
    assert clinician_client.post("/practice/choose/", {"practice": other_practice.pk}).status_code == 302
    assert clinician_client.get(ceremony_url).status_code == 404
    assert clinician_client.get(ceremony_url + "status/").status_code == 404
    assert clinician_client.post(ceremony_url + "cancel/").status_code == 404
    assert VerificationChallenge.objects.get().status == ChallengeStatus.PENDING
    assert clinician_client.post("/practice/choose/", {"practice": world.practice.pk}).status_code == 302
    page = clinician_client.get(ceremony_url)
    assert page.status_code == 200
    # The review shows the practice and its address (the prescriber's practice location).
    assert "Princeton Plainsboro Teaching Hospital, 1 Princeton Plaza, Princeton, NJ 08540" in page.content.decode()
    assert not Prescription.objects.get(pk=rx.pk).is_signed
