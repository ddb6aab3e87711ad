"""Typed outcomes of second-factor challenges, and the one mapping from outcome to HTTP status.

mfa owns these codes: `mfa.challenges` reports them (ChallengeOutcome.result,
ChallengeError.code) and every caller, page or API, in any app that uses challenges
(eprescribe, the EPCS permission approvals), turns them into a status with `http_status`.
Callers decide on these codes, never on the wording of a message.

The values are wire values: they appear in JSON bodies ("result", "error") and audit
details, so they never change.
"""

from __future__ import annotations

from enum import StrEnum
from http import HTTPStatus


class CodeResult(StrEnum):
    """What happened to one code submission (ChallengeOutcome.result)."""

    APPROVED = "approved"
    INVALID_CODE = "invalid_code"
    CODE_REPLAYED = "code_replayed"
    # The challenge's own limit of wrong codes was reached: it and its subject ended.
    CHALLENGE_FAILED = "challenge_failed"
    # Too many wrong codes for the provider: every challenge is locked for a while.
    LOCKED = "locked"
    EXPIRED = "expired"
    # Another submission of this challenge is being checked right now.
    BUSY = "busy"
    NOT_PENDING = "not_pending"
    # ID.me locked the device, or no longer knows it: the challenge ended.
    DEVICE_LOCKED = "device_locked"
    UNAVAILABLE = "unavailable"
    # The approval was valid but the purpose's completion handler refused it.
    REFUSED = "refused"


class StartRefusal(StrEnum):
    """Why a challenge could not be started (ChallengeError.code)."""

    NOT_YOUR_DEVICE = "not_your_device"
    WRONG_DEVICE_KIND = "wrong_device_kind"
    NOT_LINKED = "not_linked"
    LOCKED = "locked"
    ALREADY_APPROVED = "already_approved"
    # An earlier challenge of the subject failed: the subject cannot be retried.
    ENDED = "ended"
    BUSY = "busy"
    PUSH_RATE_LIMITED = "push_rate_limited"
    DEVICE_GONE = "device_gone"
    PUSH_REFUSED = "push_refused"
    UNAVAILABLE = "unavailable"


class IdmeAnswer(StrEnum):
    """ID.me's answer to one code check, as mfa.challenges records it (audit detail "reason")."""

    ALLOW = "allow"
    INVALID_CODE = "invalid_code"
    CODE_REPLAYED = "code_replayed"
    DEVICE_LOCKED = "device_locked"
    DEVICE_GONE = "device_gone"
    UNAVAILABLE = "unavailable"


_STATUS: dict[CodeResult | StartRefusal, HTTPStatus] = {
    CodeResult.APPROVED: HTTPStatus.OK,
    CodeResult.INVALID_CODE: HTTPStatus.BAD_REQUEST,
    CodeResult.CODE_REPLAYED: HTTPStatus.BAD_REQUEST,
    # Too many attempts is 429 (RFC 6585), not 423: nothing is locked in the WebDAV sense.
    CodeResult.LOCKED: HTTPStatus.TOO_MANY_REQUESTS,
    CodeResult.DEVICE_LOCKED: HTTPStatus.TOO_MANY_REQUESTS,
    CodeResult.UNAVAILABLE: HTTPStatus.SERVICE_UNAVAILABLE,
    CodeResult.CHALLENGE_FAILED: HTTPStatus.CONFLICT,
    CodeResult.EXPIRED: HTTPStatus.CONFLICT,
    CodeResult.BUSY: HTTPStatus.CONFLICT,
    CodeResult.NOT_PENDING: HTTPStatus.CONFLICT,
    CodeResult.REFUSED: HTTPStatus.CONFLICT,
    StartRefusal.NOT_YOUR_DEVICE: HTTPStatus.CONFLICT,
    StartRefusal.WRONG_DEVICE_KIND: HTTPStatus.CONFLICT,
    StartRefusal.NOT_LINKED: HTTPStatus.CONFLICT,
    StartRefusal.LOCKED: HTTPStatus.TOO_MANY_REQUESTS,
    StartRefusal.ALREADY_APPROVED: HTTPStatus.CONFLICT,
    StartRefusal.ENDED: HTTPStatus.CONFLICT,
    StartRefusal.BUSY: HTTPStatus.CONFLICT,
    StartRefusal.PUSH_RATE_LIMITED: HTTPStatus.TOO_MANY_REQUESTS,
    StartRefusal.DEVICE_GONE: HTTPStatus.CONFLICT,
    StartRefusal.PUSH_REFUSED: HTTPStatus.CONFLICT,
    StartRefusal.UNAVAILABLE: HTTPStatus.SERVICE_UNAVAILABLE,
}


def http_status(code: CodeResult | StartRefusal) -> int:
    """The HTTP status of a response that reports `code` (pages and API alike)."""
    return int(_STATUS[code])


class Sentence(StrEnum):
    """What mfa tells a person about a challenge. mfa has a plain sentence for each
    (mfa.challenges.PLAIN_SENTENCES); the app that owns a purpose words its own with
    `register_completion(..., sentences=...)` (e.g. eprescribe adds "Nothing was signed.").

    Placeholders: {attempts_left} and {attempts} ("attempt"/"attempts"), {until} (HH:MM),
    {reason} (why an earlier challenge of the subject ended)."""

    INVALID_CODE = "invalid_code"
    CODE_REPLAYED = "code_replayed"
    CHALLENGE_FAILED = "challenge_failed"
    LOCKED = "locked"
    CODE_UNCHECKED = "code_unchecked"
    DEVICE_LOCKED = "device_locked"
    DEVICE_GONE = "device_gone"
    PUSH_UNSENT = "push_unsent"
    PUSH_DENIED = "push_denied"
    PUSH_EXPIRED = "push_expired"
    PUSH_CANCELLED = "push_cancelled"
    CODE_EXPIRED = "code_expired"
    CANCELLED = "cancelled"
    ENDED = "ended"
    ERROR = "error"
