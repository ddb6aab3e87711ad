"""2FA challenges against the live ID.me sandbox: codes, limits, pushes, exactly-once completion.

A test purpose ("test.record") is registered through the public `register_completion` so the
tests can count how often a completion ran; the ceremony's own purpose is tested in
tests/eprescribe/test_ceremony*.py.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest

from audit.models import AuditEvent
from idme_sandbox import authenticators
from idme_sandbox.models import PartnerDecision, PushStatus
from mfa import challenges
from mfa.models import ChallengeStatus, VerificationChallenge
from mfa.outcomes import CodeResult, Sentence, StartRefusal, http_status
from providers.models import Provider, User
from tests.idme_fixtures import IdmeSandboxHandle
from tests.mfa.challenge_world import SigningWorld, expire_push_at_sandbox, make_signing_world, wrong_code

PURPOSE = "test.record"
completions: list[str] = []
completion_lock = threading.Lock()


def record_completion(challenge: VerificationChallenge) -> None:
    with completion_lock:
        completions.append(challenge.subject)


def refuse_completion(challenge: VerificationChallenge) -> None:
    raise challenges.CompletionRefused("The thing to approve changed meanwhile.")


@pytest.fixture(autouse=True)
def _registered() -> Iterator[None]:
    completions.clear()
    challenges.register_completion(PURPOSE, record_completion)
    challenges.register_completion("test.refuse", refuse_completion)
    yield
    completions.clear()


@pytest.fixture
def world(idme_sandbox_live: IdmeSandboxHandle, clinician: User) -> SigningWorld:
    return make_signing_world(idme_sandbox_live, clinician)


def subject() -> str:
    return f"test:{uuid.uuid4()}"


def code_challenge(world: SigningWorld, subject_: str | None = None, device: object = None) -> VerificationChallenge:
    return challenges.start_code_challenge(
        provider=world.provider,
        device=device or world.totp_device,  # type: ignore[arg-type]
        purpose=PURPOSE,
        subject=subject_ or subject(),
    )


def push_challenge(world: SigningWorld, subject_: str | None = None) -> VerificationChallenge:
    return challenges.start_push_challenge(
        provider=world.provider,
        device=world.push_device,
        purpose=PURPOSE,
        subject=subject_ or subject(),
        title="Sign 1 controlled-substance prescription",
        message="Patient: Pat Doe. Oxycodone 5 mg tablet x 20.",
    )


def actions(world: SigningWorld, action: str) -> int:
    return AuditEvent.objects.filter(actor=world.user, action=action).count()


# --- codes -------------------------------------------------------------------
@pytest.mark.req("DEA-01")
@pytest.mark.django_db(transaction=True)
def test_a_valid_code_from_the_device_approves_and_completes_once(world: SigningWorld) -> None:
    challenge = code_challenge(world)
    outcome = challenges.submit_code(challenge, world.code())
    assert outcome.approved
    challenge.refresh_from_db()
    assert challenge.status == ChallengeStatus.APPROVED and challenge.completed_at is not None
    assert completions == [challenge.subject]
    # Submitting again changes nothing and completes nothing.
    again = challenges.submit_code(challenge, world.code())
    assert again.result == "not_pending"
    assert completions == [challenge.subject]
    assert actions(world, "mfa.challenge_approved") == 1


@pytest.mark.req("NIST-01")
@pytest.mark.req("ASVS-03")
@pytest.mark.django_db(transaction=True)
def test_a_reused_code_is_refused_shown_and_audited(world: SigningWorld) -> None:
    code = world.code()
    assert challenges.submit_code(code_challenge(world), code).approved
    second = code_challenge(world)
    outcome = challenges.submit_code(second, code)
    assert outcome.result == "code_replayed"
    assert "already been used" in outcome.message
    second.refresh_from_db()
    assert second.status == ChallengeStatus.PENDING and second.failed_attempts == 1
    assert actions(world, "mfa.code_replayed") == 1
    assert len(completions) == 1


@pytest.mark.req("NIST-02")
@pytest.mark.req("ASVS-02")
@pytest.mark.django_db(transaction=True)
def test_five_wrong_codes_end_the_challenge_and_its_subject(world: SigningWorld) -> None:
    challenge = code_challenge(world)
    results = [challenges.submit_code(challenge, wrong_code(world.totp_secret)) for _ in range(5)]
    assert [r.attempts_left for r in results[:4]] == [4, 3, 2, 1]
    assert "not correct" in results[0].message
    assert results[4].result == "challenge_failed"
    challenge.refresh_from_db()
    assert challenge.status == ChallengeStatus.FAILED
    # Even the right code does nothing now, and the subject cannot be retried.
    assert challenges.submit_code(challenge, world.code()).result == "not_pending"
    with pytest.raises(challenges.ChallengeError, match="ended"):
        code_challenge(world, challenge.subject)
    assert completions == []
    assert actions(world, "mfa.code_failed") == 5
    assert actions(world, "mfa.challenge_failed") == 1


@pytest.mark.req("NIST-02")
@pytest.mark.django_db(transaction=True)
def test_switching_device_or_restarting_does_not_reset_the_failures(world: SigningWorld) -> None:
    subject_ = subject()
    first = code_challenge(world, subject_)
    for _ in range(3):
        challenges.submit_code(first, wrong_code(world.totp_secret))
    push = push_challenge(world, subject_)  # supersedes the code challenge
    assert push.failed_attempts == 3
    again = code_challenge(world, subject_)
    assert again.failed_attempts == 3
    outcomes = [challenges.submit_code(again, wrong_code(world.totp_secret)) for _ in range(2)]
    assert outcomes[-1].result == "challenge_failed"


@pytest.mark.req("NIST-02")
@pytest.mark.req("ASVS-02")
@pytest.mark.django_db(transaction=True)
def test_ten_wrong_codes_in_15_minutes_lock_the_provider_for_15_minutes(world: SigningWorld) -> None:
    second_secret_device, second_secret = world.sandbox.add_totp_device(world.account, "Office iPad")
    from mfa.models import ProviderDevice
    from mfa.services import sync_devices

    sync_devices(world.provider)
    ipad = ProviderDevice.objects.get(provider=world.provider, idme_device_id=second_secret_device.device_id)
    first = code_challenge(world)
    for _ in range(5):
        challenges.submit_code(first, wrong_code(world.totp_secret))
    second = code_challenge(world, device=ipad)
    outcomes = [challenges.submit_code(second, wrong_code(second_secret)) for _ in range(5)]
    assert outcomes[-1].result == "locked"
    assert "locked" in outcomes[-1].message
    assert outcomes[-1].locked_until is not None
    assert actions(world, challenges.LOCKOUT_ACTION) == 1
    until = challenges.provider_locked_until(world.provider)
    assert until is not None
    # While locked nothing starts, and a code is refused without asking ID.me.
    with pytest.raises(challenges.ChallengeError, match="locked"):
        code_challenge(world)
    with pytest.raises(challenges.ChallengeError, match="locked"):
        push_challenge(world)
    asked_before = PartnerDecision.objects.count()
    third = VerificationChallenge.objects.create(
        provider=world.provider,
        device=world.totp_device,
        device_label="Office iPhone",
        idme_device_id=world.totp_device.idme_device_id,
        purpose=PURPOSE,
        subject=subject(),
        method="code",
        expires_at=until,
    )
    refused = challenges.submit_code(third, world.code())
    assert refused.result == "locked"
    assert PartnerDecision.objects.count() == asked_before
    assert completions == []
    # 15 minutes later the lock is over.
    import datetime as dt

    assert challenges.provider_locked_until(world.provider, until + dt.timedelta(seconds=1)) is None


@pytest.mark.req("ASVS-10")
@pytest.mark.django_db(transaction=True)
def test_malformed_codes_never_reach_id_me_and_count_as_failures(world: SigningWorld) -> None:
    challenge = code_challenge(world)
    before = PartnerDecision.objects.count()
    for bad in ("", "12345", "abcdef", "1234567", "12 34 5x"):
        outcome = challenges.submit_code(challenge, bad)
    assert outcome.result == "challenge_failed"
    assert PartnerDecision.objects.count() == before


@pytest.mark.req("ASVS-06")
@pytest.mark.django_db(transaction=True)
def test_another_providers_device_cannot_be_used(world: SigningWorld, make_user: object) -> None:
    other_user = make_user("dr.wilson", first_name="James", last_name="Wilson")  # type: ignore[operator]
    other = Provider.objects.create(user=other_user, display_name="Dr. James Wilson", idme_uuid="x" * 32)
    with pytest.raises(challenges.ChallengeError, match="does not belong"):
        challenges.start_code_challenge(provider=other, device=world.totp_device, purpose=PURPOSE, subject=subject())


# --- concurrency -----------------------------------------------------------------
@pytest.mark.req("NIST-01")
@pytest.mark.django_db(transaction=True)
def test_twenty_simultaneous_submissions_of_one_valid_code_complete_exactly_once(world: SigningWorld) -> None:
    subject_ = subject()
    code = world.code()
    barrier = threading.Barrier(20)
    results: list[str] = []

    def submit() -> None:
        from django.db import connection

        try:
            barrier.wait()
            challenge = code_challenge(world, subject_)
            results.append(challenges.submit_code(challenge, code).result)
        except challenges.ChallengeError as exc:
            results.append(f"refused: {exc}")
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == 20
    assert results.count("approved") == 1, results
    assert completions == [subject_]
    assert VerificationChallenge.objects.filter(subject=subject_, status=ChallengeStatus.APPROVED).count() == 1


# --- push --------------------------------------------------------------------------
@pytest.mark.req("NIST-03")
@pytest.mark.req("NIST-04")
@pytest.mark.django_db(transaction=True)
def test_a_push_approved_with_the_number_completes_once_even_if_polled_twice(world: SigningWorld) -> None:
    challenge = push_challenge(world)
    push = world.phone.latest_push()
    assert challenge.idme_txid == push.txid
    assert challenge.match_number == push.match_number
    assert push.title == "Sign 1 controlled-substance prescription" and "Oxycodone" in push.message
    # expiry within 10 minutes (NIST-04): the EHR asks for 120 s
    assert (challenge.expires_at - challenge.created_at).total_seconds() <= 125
    assert challenges.poll_pending_pushes() == 1  # still pending
    world.phone.answer(push)
    # A second approval of the same push is refused by ID.me ...
    with pytest.raises(authenticators.PushAlreadyAnswered):
        world.phone.answer(push)
    # ... and two pollers seeing "approved" complete it once.
    barrier = threading.Barrier(2)

    def poll() -> None:
        from django.db import connection

        barrier.wait()
        challenges.poll_pending_pushes()
        connection.close()

    threads = [threading.Thread(target=poll) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    challenges.refresh_push(challenge)
    challenge.refresh_from_db()
    assert challenge.status == ChallengeStatus.APPROVED
    assert completions == [challenge.subject]


@pytest.mark.req("NIST-03")
@pytest.mark.req("DEA-11")
@pytest.mark.django_db(transaction=True)
def test_approvals_handed_to_other_processes_complete_once_and_only_when_idme_says_approved(
    world: SigningWorld,
) -> None:
    from mfa.tasks import complete_approved_pushes

    approved = [push_challenge(world) for _ in range(2)]
    for challenge in approved:
        push = next(p for p in world.phone.pushes() if p.txid == challenge.idme_txid)
        world.phone.answer(push)
    waiting = push_challenge(world)  # not answered on the phone
    handed_over: list[list[str]] = []

    def hand_everything_over(ids: list[str]) -> list[str]:
        handed_over.append(ids)
        return []  # the poller completes none itself

    assert challenges.poll_pending_pushes(fan_out=hand_everything_over) == 3
    assert handed_over == [[str(c.pk) for c in approved]]
    assert completions == []  # handed over, not completed by the round
    # The task asks ID.me again: a message naming a challenge nobody approved approves nothing.
    assert complete_approved_pushes([*handed_over[0], str(waiting.pk)]) == 2
    assert complete_approved_pushes(handed_over[0]) == 0  # delivered twice: nothing more
    challenges.poll_pending_pushes(fan_out=hand_everything_over)  # a later round: nothing to hand over
    assert len(handed_over) == 1
    for challenge in approved:
        challenge.refresh_from_db()
        assert challenge.status == ChallengeStatus.APPROVED
    waiting.refresh_from_db()
    assert waiting.status == ChallengeStatus.PENDING
    assert sorted(completions) == sorted(c.subject for c in approved)


@pytest.mark.req("NIST-03")
@pytest.mark.django_db(transaction=True)
def test_a_wrong_number_on_the_phone_denies_and_completes_nothing(world: SigningWorld) -> None:
    challenge = push_challenge(world)
    push = world.phone.latest_push()
    wrong = "10" if push.match_number != "10" else "11"
    with pytest.raises(authenticators.WrongMatchNumber):
        world.phone.answer(push, number=wrong)
    challenges.refresh_push(challenge)
    challenge.refresh_from_db()
    assert challenge.status == ChallengeStatus.DENIED
    assert "denied" in challenges.status_message(challenge)
    assert completions == []


@pytest.mark.req("DEA-11")
@pytest.mark.django_db(transaction=True)
def test_denied_or_expired_pushes_complete_nothing(world: SigningWorld) -> None:
    denied = push_challenge(world)
    world.phone.answer(world.phone.latest_push(), decision="deny")
    expired = push_challenge(world)
    expire_push_at_sandbox(world.phone.latest_push())
    challenges.poll_pending_pushes()
    denied.refresh_from_db()
    expired.refresh_from_db()
    assert (denied.status, expired.status) == (ChallengeStatus.DENIED, ChallengeStatus.EXPIRED)
    assert completions == []
    assert actions(world, "mfa.push_denied") == 1 and actions(world, "mfa.push_expired") == 1


@pytest.mark.req("NIST-04")
@pytest.mark.django_db(transaction=True)
def test_resend_cancels_the_first_push_and_its_late_approval_does_nothing(world: SigningWorld) -> None:
    subject_ = subject()
    first = push_challenge(world, subject_)
    first_push = world.phone.latest_push()
    second = push_challenge(world, subject_)
    first.refresh_from_db()
    assert first.status == ChallengeStatus.CANCELLED
    first_push.refresh_from_db()
    assert first_push.status == PushStatus.CANCELLED  # cancelled at ID.me too
    with pytest.raises(authenticators.AuthenticatorError):
        world.phone.answer(first_push)
    world.phone.answer(world.phone.latest_push())
    challenges.poll_pending_pushes()
    second.refresh_from_db()
    assert second.status == ChallengeStatus.APPROVED
    assert completions == [subject_]


@pytest.mark.req("DEA-11")
@pytest.mark.django_db(transaction=True)
def test_approval_plus_a_code_on_the_same_subject_completes_once(world: SigningWorld) -> None:
    # The push is approved on the phone, then (before any poll) a code is entered.
    subject_ = subject()
    push_ch = push_challenge(world, subject_)
    world.phone.answer(world.phone.latest_push())
    assert challenges.submit_code(code_challenge(world, subject_), world.code()).approved
    challenges.poll_pending_pushes()
    push_ch.refresh_from_db()
    assert push_ch.status == ChallengeStatus.CANCELLED
    assert completions == [subject_]
    # The other order: the poll completes the push first, then the code is refused.
    other = subject()
    push_challenge(world, other)
    world.phone.answer(world.phone.latest_push())
    challenges.poll_pending_pushes()
    with pytest.raises(challenges.ChallengeError, match="already been approved"):
        code_challenge(world, other)
    assert completions == [subject_, other]


@pytest.mark.req("DEA-11")
@pytest.mark.django_db(transaction=True)
def test_a_refusing_handler_keeps_nothing_and_fails_the_challenge(world: SigningWorld) -> None:
    challenge = challenges.start_code_challenge(
        provider=world.provider, device=world.totp_device, purpose="test.refuse", subject=subject()
    )
    outcome = challenges.submit_code(challenge, world.code())
    assert outcome.result == "refused" and "changed meanwhile" in outcome.message
    challenge.refresh_from_db()
    assert challenge.status == ChallengeStatus.FAILED
    # The approval was rolled back with the handler's work: no "approved" event survives.
    assert actions(world, "mfa.challenge_approved") == 0
    assert actions(world, "mfa.completion_failed") == 1


@pytest.mark.req("NIST-05")
@pytest.mark.django_db(transaction=True)
def test_a_device_removed_at_id_me_cannot_approve(world: SigningWorld) -> None:
    challenge = code_challenge(world)
    code = world.code()
    world.sandbox_totp.delete()
    outcome = challenges.submit_code(challenge, code)
    assert not outcome.approved
    challenge.refresh_from_db()
    assert challenge.status == ChallengeStatus.FAILED
    assert completions == []


@pytest.mark.django_db(transaction=True)
def test_cancel_ends_a_pending_push_here_and_at_id_me(world: SigningWorld) -> None:
    challenge = push_challenge(world)
    assert challenges.cancel_challenge(challenge)
    assert challenge.status == ChallengeStatus.CANCELLED
    assert world.phone.latest_push().status == PushStatus.CANCELLED
    assert not challenges.cancel_challenge(challenge)


# --- who words the messages -------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_a_purpose_words_what_mfa_reports_and_mfa_plain_words_fill_the_gaps(world: SigningWorld) -> None:
    challenges.register_completion(
        "test.worded",
        record_completion,
        sentences={Sentence.INVALID_CODE: "Wrong code, nothing approved: {attempts_left} {attempts} left."},
    )
    # Its own code generator: ID.me locks a device after five wrong codes, whatever the purpose.
    ipad_at_idme, ipad_secret = world.sandbox.add_totp_device(world.account, "Office iPad")
    from mfa.models import ProviderDevice
    from mfa.services import sync_devices

    sync_devices(world.provider)
    ipad = ProviderDevice.objects.get(provider=world.provider, idme_device_id=ipad_at_idme.device_id)
    worded = challenges.start_code_challenge(
        provider=world.provider, device=ipad, purpose="test.worded", subject=subject()
    )
    outcome = challenges.submit_code(worded, wrong_code(ipad_secret))
    assert outcome.result is CodeResult.INVALID_CODE
    assert outcome.message == "Wrong code, nothing approved: 4 attempts left."
    # A purpose that words nothing gets mfa's plain sentences, which speak for no purpose.
    plain = code_challenge(world)
    outcomes = [challenges.submit_code(plain, wrong_code(world.totp_secret)) for _ in range(5)]
    assert outcomes[0].message == "That code is not correct. 4 attempts left."
    assert outcomes[-1].result is CodeResult.CHALLENGE_FAILED
    assert outcomes[-1].message == "Too many wrong codes: this request has ended. Start again."
    plain.refresh_from_db()
    assert plain.status_reason == outcomes[-1].message
    assert http_status(outcomes[-1].result) == 409
    with pytest.raises(challenges.ChallengeError) as ended:
        code_challenge(world, plain.subject)
    assert ended.value.code is StartRefusal.ENDED and http_status(ended.value.code) == 409
