"""Second-factor challenges: a 6-digit code or a push, checked by ID.me, completed once.

The one place for the EHR's 2FA security rules:

- A challenge belongs to one provider, one of their ID.me devices, one *purpose* (what the
  approval authorises, e.g. "epcs_sign") and one *subject* (e.g. "ceremony:<uuid>"). At most
  one challenge per (purpose, subject) is ever approved; starting a new one cancels the
  subject's other pending challenges (Resend, switching from push to code).
- Codes are checked by ID.me (`idme_client.partner_client().verify_totp`), which refuses a
  reused code (NIST-01). The EHR limits attempts too (NIST-02, ASVS-02): 5 wrong codes end
  the challenge and its subject; 10 wrong codes in 15 minutes lock every challenge of the
  provider for 15 minutes. Failures are counted in the audit trail itself (durable, shared by
  every process, tamper-evident), so the limiter survives restarts and cache flushes.
- One code check at a time per challenge: a submission *claims* the challenge in a short
  transaction, asks ID.me without holding any database lock, then records the answer under
  `select_for_update`. Concurrent submissions of the same code get "already being checked".
- Completion runs under `select_for_update`: the status change and the purpose's handler
  (registered with `register_completion`) happen in one transaction, exactly once, whatever
  races it (two pollers, two approvals, a push approval and a code). If the handler refuses,
  nothing it did is kept and the challenge is marked failed.

Push challenges are polled by mfa.tasks (one batch request for all pending pushes).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Subquery
from django.http import HttpRequest
from django.utils import timezone

import audit
from audit.models import AuditEvent, Outcome
from ehr.db.locks import transaction_lock
from idme_client import PartnerClient, partner_client
from idme_client.errors import IdmeError, IdmeNotFound, IdmeRateLimited, IdmeRejected, IdmeUnavailable
from mfa.models import ChallengeMethod, ChallengeStatus, DeviceKind, ProviderDevice, VerificationChallenge
from mfa.outcomes import CodeResult, IdmeAnswer, Sentence, StartRefusal
from providers.models import Provider, User

if TYPE_CHECKING:
    from idme_client.types import PushStatusValue, PushTransaction, TotpResult

logger = logging.getLogger(__name__)

# --- limits (documented in docs/signing.md) ----------------------------------
MAX_FAILURES_PER_CHALLENGE = 5
PROVIDER_FAILURE_LIMIT = 10
PROVIDER_FAILURE_WINDOW = dt.timedelta(minutes=15)
PROVIDER_LOCKOUT = dt.timedelta(minutes=15)
CODE_CHALLENGE_LIFETIME = dt.timedelta(minutes=5)
PUSH_EXPIRES_IN_SECONDS = 120
# A claim older than this is abandoned (the process checking the code died).
CLAIM_TIMEOUT = dt.timedelta(seconds=20)
# A pending push this far past its expiry is expired by the EHR even if ID.me is silent.
EXPIRY_GRACE = dt.timedelta(seconds=3)

# Audit actions whose events count as failed code attempts for the provider lockout.
CODE_FAILURE_ACTIONS = ("mfa.code_failed", "mfa.code_replayed")
LOCKOUT_ACTION = "mfa.2fa_locked"

CompletionHandler = Callable[[VerificationChallenge], None]
_HANDLERS: dict[str, CompletionHandler] = {}
_REFUSAL_HANDLERS: dict[str, Callable[[VerificationChallenge, CompletionRefused], None]] = {}
_SENTENCES: dict[str, Mapping[Sentence, str]] = {}

# mfa's own words, for a purpose that does not word a sentence itself (see mfa.outcomes.Sentence).
PLAIN_SENTENCES: dict[Sentence, str] = {
    Sentence.INVALID_CODE: "That code is not correct. {attempts_left} {attempts} left.",
    Sentence.CODE_REPLAYED: (
        "That code has already been used. Wait for your code generator to show a new code. "
        "{attempts_left} {attempts} left."
    ),
    Sentence.CHALLENGE_FAILED: "Too many wrong codes: this request has ended. Start again.",
    Sentence.LOCKED: "Too many wrong codes: two-factor authentication is locked for your account until {until}.",
    Sentence.CODE_UNCHECKED: "ID.me cannot be reached right now, so the code could not be checked.",
    Sentence.DEVICE_LOCKED: "ID.me has locked this device after too many wrong codes.",
    Sentence.DEVICE_GONE: "ID.me no longer knows this device. Update your devices on eRx Info.",
    Sentence.PUSH_UNSENT: "ID.me cannot be reached right now. Try again soon.",
    Sentence.PUSH_DENIED: "The request was denied on your phone.",
    Sentence.PUSH_EXPIRED: "The push request expired before it was approved.",
    Sentence.PUSH_CANCELLED: "The push request was cancelled.",
    Sentence.CODE_EXPIRED: "The time to enter a code ran out.",
    Sentence.CANCELLED: "Cancelled.",
    Sentence.ENDED: "This has ended and cannot be retried. {reason}",
    Sentence.ERROR: "Something went wrong while completing this request. Try again.",
}


class ChallengeError(Exception):
    """A challenge cannot be started. `code` says why (decide on it, e.g. the HTTP status via
    mfa.outcomes.http_status); the message is mfa's sentence for the person."""

    def __init__(self, message: str, *, code: StartRefusal) -> None:
        super().__init__(message)
        self.code = code


# CompletionRefused.code when a completion handler failed unexpectedly (not a purpose's own refusal).
HANDLER_FAILED = "error"


class CompletionRefused(Exception):
    """Raised by a completion handler: the approval is valid but the purpose cannot be
    fulfilled (e.g. a prescription changed). Nothing is kept; the message is shown.

    `code` is the purpose's own typed reason (a StrEnum value of the purpose's app) and
    `details` what it needs to record the refusal; both reach the purpose's `on_refused`
    hook and the ChallengeOutcome, so callers never read the message to decide anything."""

    def __init__(self, message: str, *, code: str = "", details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.details = dict(details or {})


@dataclass(frozen=True)
class ChallengeOutcome:
    """What happened to one code submission."""

    result: CodeResult
    message: str
    challenge: VerificationChallenge
    attempts_left: int | None = None
    locked_until: dt.datetime | None = None
    # With result REFUSED: the completion handler's CompletionRefused.code.
    refusal_code: str = ""

    @property
    def approved(self) -> bool:
        return self.result is CodeResult.APPROVED


def register_completion(
    purpose: str,
    handler: CompletionHandler,
    on_refused: Callable[[VerificationChallenge, CompletionRefused], None] | None = None,
    sentences: Mapping[Sentence, str] | None = None,
) -> None:
    """Run `handler(challenge)` when a challenge of `purpose` is approved (once, in the
    transaction that marks it approved). Call from AppConfig.ready().

    When the handler refuses, everything it did is rolled back; `on_refused(challenge,
    refusal)` then runs in the transaction that marks the challenge failed, so the purpose
    can record why (e.g. end the signing ceremony and name what changed).

    `sentences` are the purpose's own words for what mfa tells the person (mfa's plain
    PLAIN_SENTENCES for any it leaves out)."""
    _HANDLERS[purpose] = handler
    if on_refused is not None:
        _REFUSAL_HANDLERS[purpose] = on_refused
    else:
        _REFUSAL_HANDLERS.pop(purpose, None)
    _SENTENCES[purpose] = dict(sentences or {})


def sentence(purpose: str, which: Sentence, **facts: object) -> str:
    """What mfa tells the person, in the words of the purpose's app (or mfa's plain words)."""
    template = _SENTENCES.get(purpose, {}).get(which) or PLAIN_SENTENCES[which]
    return template.format(**facts).strip()


def _partner() -> PartnerClient:
    return partner_client()


def _actor(provider: Provider) -> User:
    return provider.user


def _record(
    challenge: VerificationChallenge,
    action: str,
    *,
    outcome: str,
    request: HttpRequest | None,
    details: dict[str, Any] | None = None,
) -> None:
    """Audit one step of `challenge`, done by its provider."""
    audit.record(
        action, actor=_actor(challenge.provider), target=challenge, outcome=outcome, request=request, details=details
    )


def _device_label(device: ProviderDevice) -> str:
    return f"{device.name or device.get_kind_display()} ({device.get_kind_display()})"[:120]


# --- the provider lockout ----------------------------------------------------
def provider_locked_until(provider: Provider, now: dt.datetime | None = None) -> dt.datetime | None:
    """When the provider's 2FA lockout ends, or None when they are not locked out."""
    now = now or timezone.now()
    last_lock = (
        AuditEvent.objects.filter(
            actor_id=provider.user_id, action=LOCKOUT_ACTION, occurred_at__gt=now - PROVIDER_LOCKOUT
        )
        .order_by("-occurred_at")
        .values_list("occurred_at", flat=True)
        .first()
    )
    return last_lock + PROVIDER_LOCKOUT if last_lock else None


def _recent_failures(provider: Provider, now: dt.datetime) -> int:
    return AuditEvent.objects.filter(
        actor_id=provider.user_id, action__in=CODE_FAILURE_ACTIONS, occurred_at__gt=now - PROVIDER_FAILURE_WINDOW
    ).count()


ALREADY_APPROVED_MESSAGE = "This has already been approved."
BUSY_MESSAGE = "Your code is already being checked. Please wait a moment."


def _locked_message(purpose: str, until: dt.datetime) -> str:
    return sentence(purpose, Sentence.LOCKED, until=f"{timezone.localtime(until):%H:%M}")


# --- starting ----------------------------------------------------------------
def _ended(failed: VerificationChallenge) -> ChallengeError:
    """An earlier challenge of the subject failed: the subject cannot be retried."""
    return ChallengeError(
        sentence(failed.purpose, Sentence.ENDED, reason=failed.status_reason), code=StartRefusal.ENDED
    )


def _check_can_start(provider: Provider, device: ProviderDevice, kind: str, purpose: str, subject: str) -> None:
    if device.provider_id != provider.pk:
        raise ChallengeError("That device does not belong to you.", code=StartRefusal.NOT_YOUR_DEVICE)
    if device.kind != kind:
        raise ChallengeError("That device cannot be used this way.", code=StartRefusal.WRONG_DEVICE_KIND)
    if not provider.idme_uuid:
        raise ChallengeError(
            "Your ID.me account is not linked. Verify your identity with ID.me on eRx Info.",
            code=StartRefusal.NOT_LINKED,
        )
    until = provider_locked_until(provider)
    if until:
        raise ChallengeError(_locked_message(purpose, until), code=StartRefusal.LOCKED)
    siblings = VerificationChallenge.objects.filter(purpose=purpose, subject=subject)
    if siblings.filter(status=ChallengeStatus.APPROVED).exists():
        raise ChallengeError(ALREADY_APPROVED_MESSAGE, code=StartRefusal.ALREADY_APPROVED)
    failed = siblings.filter(status=ChallengeStatus.FAILED).first()
    if failed is not None:
        raise _ended(failed)


def _create(
    *,
    provider: Provider,
    device: ProviderDevice,
    method: str,
    purpose: str,
    subject: str,
    context: dict[str, Any] | None,
    expires_at: dt.datetime,
    txid: str = "",
    match_number: str = "",
    request: HttpRequest | None,
) -> tuple[VerificationChallenge, list[str]]:
    """Create the challenge, superseding the subject's pending ones (a pending code challenge
    for the same device is returned instead). Returns it and the ID.me transaction ids of
    superseded pushes (to cancel after commit)."""
    with transaction.atomic():
        # One creation per subject at a time, taken before any row lock: the locked siblings
        # change under concurrent creations, which deadlocked without the former global lock.
        transaction_lock(f"mfa.challenge:{purpose}:{subject}")
        siblings = list(
            VerificationChallenge.objects.select_for_update().filter(purpose=purpose, subject=subject).order_by("pk")
        )
        if any(s.status == ChallengeStatus.APPROVED for s in siblings):
            raise ChallengeError(ALREADY_APPROVED_MESSAGE, code=StartRefusal.ALREADY_APPROVED)
        failed = next((s for s in siblings if s.status == ChallengeStatus.FAILED), None)
        if failed is not None:
            raise _ended(failed)
        now = timezone.now()
        pending = [s for s in siblings if s.status == ChallengeStatus.PENDING]
        if method == ChallengeMethod.CODE:
            # Code challenges are reused: concurrent submissions share one challenge (and its claim).
            for sibling in pending:
                if (
                    sibling.method == ChallengeMethod.CODE
                    and sibling.device_id == device.pk
                    and now < sibling.expires_at
                ):
                    return sibling, []
        if any(s.verifying_since and now - s.verifying_since < CLAIM_TIMEOUT for s in pending):
            raise ChallengeError(BUSY_MESSAGE, code=StartRefusal.BUSY)
        # Failures follow the subject: switching device or resending does not reset them
        # (each new challenge carries the running total, so the latest holds the maximum).
        carried = max((s.failed_attempts for s in siblings), default=0)
        superseded_txids: list[str] = []
        for sibling in siblings:
            if sibling.status == ChallengeStatus.PENDING:
                sibling.status = ChallengeStatus.CANCELLED
                sibling.status_reason = "Replaced by a new request."
                sibling.completed_at = now
                sibling.save(update_fields=["status", "status_reason", "completed_at"])
                if sibling.idme_txid:
                    superseded_txids.append(sibling.idme_txid)
        challenge = VerificationChallenge.objects.create(
            provider=provider,
            device=device,
            device_label=_device_label(device),
            idme_device_id=device.idme_device_id,
            purpose=purpose,
            subject=subject,
            context=context or {},
            method=method,
            expires_at=expires_at,
            idme_txid=txid,
            match_number=match_number,
            failed_attempts=carried,
        )
        audit.record(
            "mfa.challenge_started",
            actor=_actor(provider),
            target=challenge,
            request=request,
            details={"purpose": purpose, "subject": subject, "method": method, "device": challenge.device_label},
        )
    return challenge, superseded_txids


def _cancel_at_idme(txids: list[str]) -> None:
    for txid in txids:
        try:
            _partner().cancel_push(txid)
        except IdmeError as exc:  # best effort: the EHR no longer accepts it anyway
            logger.info("Could not cancel push %s at ID.me: %s", txid, exc)


def start_code_challenge(
    *,
    provider: Provider,
    device: ProviderDevice,
    purpose: str,
    subject: str,
    context: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> VerificationChallenge:
    """A challenge answered by a 6-digit code from the device's code generator."""
    _check_can_start(provider, device, DeviceKind.TOTP, purpose, subject)
    challenge, superseded = _create(
        provider=provider,
        device=device,
        method=ChallengeMethod.CODE,
        purpose=purpose,
        subject=subject,
        context=context,
        expires_at=timezone.now() + CODE_CHALLENGE_LIFETIME,
        request=request,
    )
    _cancel_at_idme(superseded)
    return challenge


def start_push_challenge(
    *,
    provider: Provider,
    device: ProviderDevice,
    purpose: str,
    subject: str,
    title: str,
    message: str,
    context: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> VerificationChallenge:
    """Ask ID.me to push `title`/`message` to the device; a worker polls for the answer."""
    _check_can_start(provider, device, DeviceKind.PUSH, purpose, subject)
    try:
        push: PushTransaction = _partner().create_push(
            provider.idme_uuid, device.idme_device_id, title, message, expires_in=PUSH_EXPIRES_IN_SECONDS
        )
    except IdmeRateLimited as exc:
        audit.record(
            "mfa.push_rate_limited",
            actor=_actor(provider),
            outcome=Outcome.DENIED,
            request=request,
            details={"purpose": purpose, "subject": subject, "retry_after": exc.retry_after},
        )
        wait = f" Try again in {int(exc.retry_after)} seconds" if exc.retry_after else " Try again later"
        raise ChallengeError(
            f"ID.me is limiting push requests to your phone.{wait}, or use a code.", code=StartRefusal.PUSH_RATE_LIMITED
        ) from exc
    except IdmeNotFound as exc:
        raise ChallengeError(
            "ID.me no longer knows that device. Update your devices on eRx Info and try again.",
            code=StartRefusal.DEVICE_GONE,
        ) from exc
    except IdmeRejected as exc:
        raise ChallengeError(f"ID.me refused to send the push: {exc}", code=StartRefusal.PUSH_REFUSED) from exc
    except IdmeUnavailable as exc:
        raise ChallengeError(
            sentence(purpose, Sentence.PUSH_UNSENT),
            code=StartRefusal.UNAVAILABLE,
        ) from exc
    try:
        challenge, superseded = _create(
            provider=provider,
            device=device,
            method=ChallengeMethod.PUSH,
            purpose=purpose,
            subject=subject,
            context=context,
            expires_at=push.expires_at,
            txid=push.txid,
            match_number=push.match_number or "",
            request=request,
        )
    except ChallengeError:
        _cancel_at_idme([push.txid])
        raise
    _cancel_at_idme(superseded)
    from mfa.tasks import ensure_push_poller

    transaction.on_commit(ensure_push_poller)
    return challenge


# --- codes -------------------------------------------------------------------
def _claim(challenge_id: Any, now: dt.datetime) -> tuple[VerificationChallenge, CodeResult | None]:
    """Take the right to check one code for this challenge; the reason when refused."""
    with transaction.atomic():
        challenge = VerificationChallenge.objects.select_for_update().select_related("provider").get(pk=challenge_id)
        if challenge.status != ChallengeStatus.PENDING:
            return challenge, CodeResult.NOT_PENDING
        if challenge.method != ChallengeMethod.CODE:
            return challenge, CodeResult.NOT_PENDING
        if now >= challenge.expires_at:
            _finish_locked(challenge, ChallengeStatus.EXPIRED, sentence(challenge.purpose, Sentence.CODE_EXPIRED))
            audit.record(
                "mfa.challenge_expired",
                actor=_actor(challenge.provider),
                target=challenge,
                outcome=Outcome.DENIED,
                details={"purpose": challenge.purpose, "subject": challenge.subject},
            )
            return challenge, CodeResult.EXPIRED
        if provider_locked_until(challenge.provider, now):
            return challenge, CodeResult.LOCKED
        if challenge.verifying_since and now - challenge.verifying_since < CLAIM_TIMEOUT:
            return challenge, CodeResult.BUSY
        challenge.verifying_since = now
        challenge.save(update_fields=["verifying_since"])
        return challenge, None


def _refused_claim(
    challenge: VerificationChallenge, refusal: CodeResult, now: dt.datetime, request: HttpRequest | None
) -> ChallengeOutcome:
    """The outcome of a submission that could not claim the challenge (nothing was asked of ID.me)."""
    if refusal is CodeResult.LOCKED:
        until = provider_locked_until(challenge.provider, now) or now
        _record(challenge, "mfa.code_refused_locked", outcome=Outcome.DENIED, request=request)
        return ChallengeOutcome(refusal, _locked_message(challenge.purpose, until), challenge, locked_until=until)
    if refusal is CodeResult.EXPIRED:
        return ChallengeOutcome(refusal, challenge.status_reason, challenge)
    if refusal is CodeResult.BUSY:
        return ChallengeOutcome(refusal, BUSY_MESSAGE, challenge)
    return ChallengeOutcome(CodeResult.NOT_PENDING, status_message(challenge), challenge)


def _ask_idme(challenge: VerificationChallenge, code: str) -> tuple[IdmeAnswer, TotpResult | None]:
    """ID.me's answer to the code (malformed input never reaches ID.me, but counts as wrong)."""
    if not (len(code) == 6 and code.isdigit()):
        return IdmeAnswer.INVALID_CODE, None
    try:
        result = _partner().verify_totp(challenge.provider.idme_uuid, challenge.idme_device_id, code)
    except IdmeNotFound:
        return IdmeAnswer.DEVICE_GONE, None
    except IdmeError as exc:
        logger.warning("ID.me code check failed: %s", exc)
        return IdmeAnswer.UNAVAILABLE, None
    if result.allowed:
        return IdmeAnswer.ALLOW, result
    return IdmeAnswer(result.reason or IdmeAnswer.INVALID_CODE), result


def submit_code(challenge: VerificationChallenge, code: str, request: HttpRequest | None = None) -> ChallengeOutcome:
    """Check a 6-digit code with ID.me; approve (and run the handler) or count a failure."""
    code = (code or "").strip().replace(" ", "")
    now = timezone.now()
    challenge, refusal = _claim(challenge.pk, now)
    if refusal is not None:
        return _refused_claim(challenge, refusal, now, request)
    answer, result = _ask_idme(challenge, code)
    if answer is IdmeAnswer.ALLOW:
        return _approve_answer(challenge.pk, request)
    return _record_refused_answer(challenge.pk, answer, result, request)


def _approve_answer(challenge_id: Any, request: HttpRequest | None) -> ChallengeOutcome:
    """ID.me accepted the code: complete the challenge (its purpose's handler may refuse)."""
    completed, refusal = complete_challenge(challenge_id, via="code", request=request)
    challenge = VerificationChallenge.objects.get(pk=challenge_id)
    if completed:
        return ChallengeOutcome(CodeResult.APPROVED, "Approved.", challenge)
    if refusal:
        return ChallengeOutcome(CodeResult.REFUSED, str(refusal), challenge, refusal_code=refusal.code)
    return ChallengeOutcome(CodeResult.NOT_PENDING, status_message(challenge), challenge)


def _record_refused_answer(
    challenge_id: Any, answer: IdmeAnswer, result: TotpResult | None, request: HttpRequest | None
) -> ChallengeOutcome:
    """ID.me did not accept the code (or could not answer): record it on the locked challenge."""
    with transaction.atomic():
        challenge = VerificationChallenge.objects.select_for_update().select_related("provider").get(pk=challenge_id)
        challenge.verifying_since = None
        if challenge.status != ChallengeStatus.PENDING:
            challenge.save(update_fields=["verifying_since"])
            return ChallengeOutcome(CodeResult.NOT_PENDING, status_message(challenge), challenge)
        if answer is IdmeAnswer.UNAVAILABLE:
            return _record_unavailable(challenge, request)
        if answer in (IdmeAnswer.DEVICE_LOCKED, IdmeAnswer.DEVICE_GONE):
            return _record_device_refusal(challenge, answer, result, request)
        return _record_wrong_code(challenge, replayed=answer is IdmeAnswer.CODE_REPLAYED, request=request)


def _record_unavailable(challenge: VerificationChallenge, request: HttpRequest | None) -> ChallengeOutcome:
    challenge.save(update_fields=["verifying_since"])
    _record(challenge, "mfa.code_check_unavailable", outcome=Outcome.ERROR, request=request)
    return ChallengeOutcome(CodeResult.UNAVAILABLE, sentence(challenge.purpose, Sentence.CODE_UNCHECKED), challenge)


def _record_device_refusal(
    challenge: VerificationChallenge, answer: IdmeAnswer, result: TotpResult | None, request: HttpRequest | None
) -> ChallengeOutcome:
    """ID.me locked the device or no longer knows it: the challenge ends."""
    message = sentence(
        challenge.purpose, Sentence.DEVICE_LOCKED if answer is IdmeAnswer.DEVICE_LOCKED else Sentence.DEVICE_GONE
    )
    _finish_locked(challenge, ChallengeStatus.FAILED, message)
    _record(challenge, "mfa.code_failed", outcome=Outcome.FAILURE, request=request, details={"reason": answer})
    locked_until = result.locked_until if result else None
    return ChallengeOutcome(CodeResult.DEVICE_LOCKED, message, challenge, locked_until=locked_until)


def _record_wrong_code(
    challenge: VerificationChallenge, *, replayed: bool, request: HttpRequest | None
) -> ChallengeOutcome:
    """Count a wrong (or reused) code; enough of them end the challenge or lock the provider."""
    now = timezone.now()
    provider = challenge.provider
    challenge.failed_attempts += 1
    challenge.save(update_fields=["verifying_since", "failed_attempts"])
    audit.record(
        "mfa.code_replayed" if replayed else "mfa.code_failed",
        actor=_actor(provider),
        target=challenge,
        outcome=Outcome.FAILURE,
        request=request,
        details={
            "reason": IdmeAnswer.CODE_REPLAYED if replayed else IdmeAnswer.INVALID_CODE,
            "failed_attempts": challenge.failed_attempts,
            "subject": challenge.subject,
        },
    )
    if _recent_failures(provider, now) >= PROVIDER_FAILURE_LIMIT and not provider_locked_until(provider, now):
        return _lock_provider(challenge, now, request)
    attempts_left = MAX_FAILURES_PER_CHALLENGE - challenge.failed_attempts
    if attempts_left <= 0:
        return _end_challenge(challenge, request)
    result, which = (
        (CodeResult.CODE_REPLAYED, Sentence.CODE_REPLAYED)
        if replayed
        else (CodeResult.INVALID_CODE, Sentence.INVALID_CODE)
    )
    attempts = "attempt" if attempts_left == 1 else "attempts"
    message = sentence(challenge.purpose, which, attempts_left=attempts_left, attempts=attempts)
    return ChallengeOutcome(result, message, challenge, attempts_left=attempts_left)


def _lock_provider(challenge: VerificationChallenge, now: dt.datetime, request: HttpRequest | None) -> ChallengeOutcome:
    """The provider reached the failure limit: lock every challenge of theirs (NIST-02)."""
    audit.record(
        LOCKOUT_ACTION,
        actor=_actor(challenge.provider),
        target=challenge.provider,
        outcome=Outcome.DENIED,
        request=request,
        details={"failures": PROVIDER_FAILURE_LIMIT, "minutes": int(PROVIDER_LOCKOUT.total_seconds() // 60)},
    )
    until = now + PROVIDER_LOCKOUT
    message = _locked_message(challenge.purpose, until)
    _finish_locked(challenge, ChallengeStatus.FAILED, message)
    return ChallengeOutcome(CodeResult.LOCKED, message, challenge, attempts_left=0, locked_until=until)


def _end_challenge(challenge: VerificationChallenge, request: HttpRequest | None) -> ChallengeOutcome:
    """The challenge's own limit of wrong codes is reached: it and its subject end."""
    message = sentence(challenge.purpose, Sentence.CHALLENGE_FAILED)
    _finish_locked(challenge, ChallengeStatus.FAILED, message)
    _record(
        challenge,
        "mfa.challenge_failed",
        outcome=Outcome.FAILURE,
        request=request,
        details={"failed_attempts": challenge.failed_attempts, "subject": challenge.subject},
    )
    return ChallengeOutcome(CodeResult.CHALLENGE_FAILED, message, challenge, attempts_left=0)


# --- completion --------------------------------------------------------------
def _finish_locked(challenge: VerificationChallenge, status: str, reason: str) -> None:
    """Set a final status on a challenge row the caller holds locked."""
    challenge.status = status
    challenge.status_reason = reason[:300]
    challenge.completed_at = timezone.now()
    challenge.verifying_since = None
    challenge.save(update_fields=["status", "status_reason", "completed_at", "verifying_since"])


def complete_challenge(
    challenge_id: Any, *, via: str, request: HttpRequest | None = None
) -> tuple[bool, CompletionRefused | None]:
    """Approve a pending challenge and run its purpose's handler, exactly once.

    Returns (True, None) when this call approved it; (False, None) when it was no longer
    pending (someone else completed it); (False, refusal) when the handler refused.
    """
    try:
        with transaction.atomic():
            challenge = _approve_locked(challenge_id, via, request)
            if challenge is None:
                return False, None
            handler = _HANDLERS.get(challenge.purpose)
            if handler is None:
                raise CompletionRefused(f"Nothing is registered to complete '{challenge.purpose}'.")
            handler(challenge)
            return True, None
    except CompletionRefused as exc:
        refusal = exc
    except Exception:
        logger.exception("Completion handler for challenge %s failed", challenge_id)
        purpose = VerificationChallenge.objects.values_list("purpose", flat=True).get(pk=challenge_id)
        refusal = CompletionRefused(sentence(purpose, Sentence.ERROR), code=HANDLER_FAILED)
    _fail_after_refusal(challenge_id, refusal, request)
    return False, refusal


def _approve_locked(challenge_id: Any, via: str, request: HttpRequest | None) -> VerificationChallenge | None:
    """Mark a pending challenge approved (in the caller's transaction, under row locks on it and
    its subject's siblings); None when it is not pending or the subject was approved already."""
    # The challenge and the subject's other challenges, locked in one statement in pk order (the
    # order _create locks them in): one approval per subject. Its provider and user rows are
    # locked with it, as before.
    pk = VerificationChallenge._meta.pk.to_python(challenge_id)
    this = VerificationChallenge.objects.filter(pk=pk)
    subject_rows = list(
        VerificationChallenge.objects.select_for_update()
        .select_related("provider__user")
        .filter(purpose=Subquery(this.values("purpose")), subject=Subquery(this.values("subject")))
        .order_by("pk")
    )
    challenge = next((row for row in subject_rows if row.pk == pk), None)
    if challenge is None:
        raise VerificationChallenge.DoesNotExist(f"No challenge {challenge_id}")
    if challenge.status != ChallengeStatus.PENDING:
        return None
    siblings = [row for row in subject_rows if row.pk != pk]
    if any(s.status == ChallengeStatus.APPROVED for s in siblings):
        _finish_locked(challenge, ChallengeStatus.CANCELLED, "Already approved by another request.")
        return None
    challenge.status = ChallengeStatus.APPROVED
    challenge.status_reason = ""
    challenge.completed_at = timezone.now()
    challenge.verifying_since = None
    challenge.save(update_fields=["status", "status_reason", "completed_at", "verifying_since"])
    if challenge.device_id:
        ProviderDevice.objects.filter(pk=challenge.device_id).update(last_used_at=challenge.completed_at)
    audit.record(
        "mfa.challenge_approved",
        actor=_actor(challenge.provider),
        target=challenge,
        request=request,
        details={"purpose": challenge.purpose, "subject": challenge.subject, "via": via},
    )
    return challenge


def _fail_after_refusal(challenge_id: Any, refusal: CompletionRefused, request: HttpRequest | None) -> None:
    message = str(refusal)
    with transaction.atomic():
        challenge = (
            VerificationChallenge.objects.select_for_update().select_related("provider__user").get(pk=challenge_id)
        )
        if challenge.status != ChallengeStatus.PENDING:
            return
        _finish_locked(challenge, ChallengeStatus.FAILED, message)
        audit.record(
            "mfa.completion_failed",
            actor=_actor(challenge.provider),
            target=challenge,
            outcome=Outcome.FAILURE,
            request=request,
            details={
                "purpose": challenge.purpose,
                "subject": challenge.subject,
                "reason": message,
                "code": refusal.code,
            },
        )
        on_refused = _REFUSAL_HANDLERS.get(challenge.purpose)
        if on_refused is not None:
            on_refused(challenge, refusal)


def _finish(challenge_id: Any, status: str, reason: str, action: str, request: HttpRequest | None = None) -> bool:
    with transaction.atomic():
        challenge = (
            VerificationChallenge.objects.select_for_update().select_related("provider__user").get(pk=challenge_id)
        )
        if challenge.status != ChallengeStatus.PENDING:
            return False
        _finish_locked(challenge, status, reason)
        _record(
            challenge,
            action,
            outcome=Outcome.SUCCESS if status == ChallengeStatus.CANCELLED else Outcome.DENIED,
            request=request,
            details={"purpose": challenge.purpose, "subject": challenge.subject},
        )
        return True


# --- push --------------------------------------------------------------------
# ID.me's final answers other than "approved": the challenge's status, what the person reads, the audit action.
_PUSH_ENDINGS: dict[PushStatusValue, tuple[ChallengeStatus, Sentence, str]] = {
    "denied": (ChallengeStatus.DENIED, Sentence.PUSH_DENIED, "mfa.push_denied"),
    "expired": (ChallengeStatus.EXPIRED, Sentence.PUSH_EXPIRED, "mfa.push_expired"),
    "cancelled": (ChallengeStatus.CANCELLED, Sentence.PUSH_CANCELLED, "mfa.push_cancelled"),
}


def apply_push_status(challenge: VerificationChallenge, push: PushTransaction | None) -> None:
    """Bring a pending push challenge in step with ID.me's answer (None: ID.me has no answer)."""
    if challenge.status != ChallengeStatus.PENDING:
        return
    status: PushStatusValue = push.status if push else "pending"
    if status == "approved":
        complete_challenge(challenge.pk, via="push")
        return
    if status not in _PUSH_ENDINGS and timezone.now() > challenge.expires_at + EXPIRY_GRACE:
        status = "expired"  # still pending at ID.me past the expiry: the EHR expires it
    if status in _PUSH_ENDINGS:
        final, which, action = _PUSH_ENDINGS[status]
        _finish(challenge.pk, final, sentence(challenge.purpose, which), action)


def refresh_push(challenge: VerificationChallenge) -> VerificationChallenge:
    """Ask ID.me about one push challenge now and apply the answer; returns it reloaded."""
    if challenge.status == ChallengeStatus.PENDING and challenge.method == ChallengeMethod.PUSH:
        try:
            push = _partner().push_status(challenge.idme_txid)
        except IdmeError as exc:
            logger.info("Push status of %s unavailable: %s", challenge.idme_txid, exc)
            push = None
        apply_push_status(challenge, push)
    challenge.refresh_from_db()
    return challenge


def _push_answers(pending: list[VerificationChallenge]) -> dict[str, PushTransaction]:
    answers: dict[str, PushTransaction] = {}
    try:
        for push in _partner().push_statuses([c.idme_txid for c in pending]):
            answers[push.txid] = push
    except IdmeError as exc:
        logger.warning("Batch push status failed: %s", exc)
    return answers


def poll_pending_pushes(
    on_progress: Callable[[], None] | None = None, fan_out: Callable[[list[str]], list[str]] | None = None
) -> int:
    """One polling round: ask ID.me about every pending push (batch requests of 100 ids) and
    apply the answers. Approvals are completed here, one after another, unless `fan_out` is
    given: it receives the ids (text) of the round's approved challenges, hands some of them to other
    processes (the Celery poller: `complete_approved_pushes` tasks, which ask ID.me again
    before completing) and returns those this round completes itself. Returns how many push
    challenges are still pending afterwards."""
    pending = list(
        VerificationChallenge.objects.filter(status=ChallengeStatus.PENDING, method=ChallengeMethod.PUSH).order_by(
            "created_at"
        )
    )
    if not pending:
        return 0
    answers = _push_answers(pending)
    approved = [str(c.pk) for c in pending if (a := answers.get(c.idme_txid)) and a.status == "approved"]
    if fan_out is not None and approved:
        handed_over = set(approved) - set(fan_out(approved))
        pending = [c for c in pending if str(c.pk) not in handed_over]
    for challenge in pending:
        answer = answers.get(challenge.idme_txid)
        apply_push_status(challenge, answer)
        if on_progress is not None and answer is not None and answer.status != "pending":
            on_progress()
    return VerificationChallenge.objects.filter(status=ChallengeStatus.PENDING, method=ChallengeMethod.PUSH).count()


def complete_approved_pushes(challenge_ids: list[str]) -> int:
    """Complete push challenges a polling round found approved, in another process: ID.me is
    asked again about them (one batch request), so a queued message alone approves nothing.
    Exactly once as ever: complete_challenge locks the challenge and checks it is still
    pending. Returns how many were approved here."""
    pending = list(
        VerificationChallenge.objects.filter(
            pk__in=challenge_ids, status=ChallengeStatus.PENDING, method=ChallengeMethod.PUSH
        ).order_by("created_at")
    )
    if not pending:
        return 0
    answers = _push_answers(pending)
    done = 0
    for challenge in pending:
        answer = answers.get(challenge.idme_txid)
        if answer is not None and answer.status == "approved":
            done += complete_challenge(challenge.pk, via="push")[0]
        else:
            apply_push_status(challenge, answer)
    return done


# --- cancelling and reading --------------------------------------------------
def cancel_challenge(challenge: VerificationChallenge, request: HttpRequest | None = None) -> bool:
    """Cancel a pending challenge (and its push at ID.me). False when it was not pending."""
    reason = sentence(challenge.purpose, Sentence.CANCELLED)
    cancelled = _finish(challenge.pk, ChallengeStatus.CANCELLED, reason, "mfa.challenge_cancelled", request)
    if cancelled and challenge.idme_txid:
        _cancel_at_idme([challenge.idme_txid])
    challenge.refresh_from_db()
    return cancelled


def expire_if_overdue(challenge: VerificationChallenge) -> VerificationChallenge:
    """Expire a pending challenge whose time is up (used when reading its state)."""
    if challenge.status == ChallengeStatus.PENDING and timezone.now() > challenge.expires_at + EXPIRY_GRACE:
        which = Sentence.PUSH_EXPIRED if challenge.method == ChallengeMethod.PUSH else Sentence.CODE_EXPIRED
        message = sentence(challenge.purpose, which)
        _finish(challenge.pk, ChallengeStatus.EXPIRED, message, "mfa.challenge_expired")
        challenge.refresh_from_db()
    return challenge


def status_message(challenge: VerificationChallenge) -> str:
    """mfa's sentence for where a challenge stands (its final reason once it ended)."""
    if challenge.status_reason:
        return challenge.status_reason
    return {
        ChallengeStatus.APPROVED: "Already approved.",
        ChallengeStatus.PENDING: "Waiting for approval.",
    }.get(ChallengeStatus(challenge.status), f"This request is {challenge.get_status_display().lower()}.")


def seconds_left(challenge: VerificationChallenge, now: dt.datetime | None = None) -> int:
    now = now or timezone.now()
    return max(0, int((challenge.expires_at - now).total_seconds()))
