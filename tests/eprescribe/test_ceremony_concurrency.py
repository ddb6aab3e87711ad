"""Races around one signing: simultaneous codes, double approvals, a push approval plus a
code, and a Celery worker killed while it polls ID.me. Each must sign exactly once."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from audit.models import AuditEvent
from eprescribe.models import Prescription, PrescriptionState
from mfa import challenges
from mfa.models import ChallengeStatus, VerificationChallenge
from providers.models import User
from tests.eprescribe.ceremony_world import PrescribingWorld, make_prescribing_world, open_ceremony
from tests.idme_fixtures import IdmeSandboxHandle
from tests.mfa.challenge_world import start_worker, stop_worker, wait_for


@pytest.fixture
def world(idme_sandbox_live: IdmeSandboxHandle, clinician: User) -> PrescribingWorld:
    return make_prescribing_world(idme_sandbox_live, clinician)


@pytest.fixture
def worker_env(idme_sandbox_live: IdmeSandboxHandle, monkeypatch: pytest.MonkeyPatch) -> str:
    """Worker processes started after this talk to the live sandbox."""
    monkeypatch.setenv("IDME_BASE_URL", idme_sandbox_live.base_url)
    return idme_sandbox_live.base_url


def signed_events(rx: Prescription) -> int:
    return AuditEvent.objects.filter(action="eprescribe.signed", target_id=str(rx.pk)).count()


def is_signed(rx: Prescription) -> bool:
    rx.refresh_from_db()
    return rx.is_signed


@pytest.mark.req("DEA-11")
@pytest.mark.req("NIST-01")
@pytest.mark.django_db(transaction=True)
def test_twenty_simultaneous_submissions_of_one_valid_code_sign_exactly_once(
    world: PrescribingWorld, clinician_client: Client
) -> None:
    rx = world.ready()
    ceremony_url = open_ceremony(clinician_client, rx)
    code = world.signing.code()
    cookies = clinician_client.cookies
    barrier = threading.Barrier(20)
    statuses: list[int] = []

    def submit() -> None:
        client = Client()
        client.cookies = copy.deepcopy(cookies)
        try:
            barrier.wait()
            response = client.post(ceremony_url + "code/", {"device": world.signing.totp_device.pk, "code": code})
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(statuses) == 20
    assert statuses.count(302) == 1, statuses
    assert all(status in (302, 400, 409) for status in statuses), statuses
    assert is_signed(rx)
    assert signed_events(rx) == 1
    assert VerificationChallenge.objects.filter(status=ChallengeStatus.APPROVED).count() == 1


@pytest.mark.req("DEA-11")
@pytest.mark.django_db(transaction=True)
def test_a_push_approval_plus_a_code_sign_once(world: PrescribingWorld, clinician_client: Client) -> None:
    rx = world.ready()
    ceremony_url = open_ceremony(clinician_client, rx)
    clinician_client.post(ceremony_url + "push/", {"device": world.signing.push_device.pk})
    world.signing.phone.answer(world.signing.phone.latest_push())
    # The code and a polling round race each other.
    barrier = threading.Barrier(2)
    outcome: dict[str, Any] = {}

    def by_code() -> None:
        try:
            barrier.wait()
            outcome["code"] = clinician_client.post(
                ceremony_url + "code/", {"device": world.signing.totp_device.pk, "code": world.signing.code()}
            ).status_code
        finally:
            connection.close()

    def by_poll() -> None:
        try:
            barrier.wait()
            challenges.poll_pending_pushes()
        finally:
            connection.close()

    threads = [threading.Thread(target=by_code), threading.Thread(target=by_poll)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    challenges.poll_pending_pushes()
    assert is_signed(rx)
    assert signed_events(rx) == 1
    assert VerificationChallenge.objects.filter(status=ChallengeStatus.APPROVED).count() == 1


@pytest.mark.worker
@pytest.mark.req("DEA-11")
@pytest.mark.req("NIST-04")
@pytest.mark.django_db(transaction=True)
def test_the_worker_signs_a_push_approved_twice_once(
    world: PrescribingWorld,
    clinician_client: Client,
    worker_env: str,
    celery_worker_process: subprocess.Popen[bytes],
) -> None:
    from idme_sandbox.authenticators import PushAlreadyAnswered

    rx = world.ready()
    ceremony_url = open_ceremony(clinician_client, rx)
    assert clinician_client.post(ceremony_url + "push/", {"device": world.signing.push_device.pk}).status_code == 302
    push = world.signing.phone.latest_push()
    world.signing.phone.answer(push)
    with pytest.raises(PushAlreadyAnswered):
        world.signing.phone.answer(push)
    # The worker and this process both see "approved".
    challenges.poll_pending_pushes()
    assert wait_for(lambda: clinician_client.get(ceremony_url + "status/").json()["status"] == "approved", 60)
    assert is_signed(rx)
    assert signed_events(rx) == 1


@pytest.mark.worker
@pytest.mark.req("DEA-11")
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_poll_loses_nothing_and_the_next_one_signs_once(
    world: PrescribingWorld,
    clinician_client: Client,
    worker_env: str,
    celery_worker_process: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    rx = world.ready()
    ceremony_url = open_ceremony(clinician_client, rx)
    clinician_client.post(ceremony_url + "push/", {"device": world.signing.push_device.pk})
    log = tmp_path / "worker.log"
    # Wait until the worker is inside the polling task, then kill it outright.
    assert wait_for(lambda: b"mfa.poll_push_challenges" in log.read_bytes(), 60), log.read_text()
    os.kill(celery_worker_process.pid, signal.SIGKILL)
    celery_worker_process.wait(timeout=30)
    world.signing.phone.answer(world.signing.phone.latest_push())
    challenge = VerificationChallenge.objects.get()
    assert challenge.status == ChallengeStatus.PENDING  # nobody polls now
    assert not is_signed(rx)
    replacement = start_worker(tmp_path / "worker-2.log", worker_env, purge=False)
    try:
        assert wait_for(lambda: is_signed(rx), 60), (tmp_path / "worker-2.log").read_text()
        challenges.poll_pending_pushes()  # a late extra round changes nothing
    finally:
        stop_worker(replacement)
    challenge.refresh_from_db()
    assert challenge.status == ChallengeStatus.APPROVED
    assert signed_events(rx) == 1
    rx.refresh_from_db()
    assert rx.state in (PrescriptionState.SIGNED, PrescriptionState.TRANSMITTED, PrescriptionState.TRANSMISSION_FAILED)
