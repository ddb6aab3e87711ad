"""Errors from talking to ID.me. Each carries a message a person can act on."""

from __future__ import annotations


class IdmeError(Exception):
    """Base class: something about an ID.me call failed."""


class IdmeUnavailable(IdmeError):
    """ID.me could not be reached or answered with a server error (timeout, 5xx, bad JSON)."""


class IdmeRejected(IdmeError):
    """ID.me understood the request and refused it (4xx). `code` is ID.me's error code."""

    def __init__(self, message: str, code: str = "rejected", status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class IdmeNotFound(IdmeRejected):
    """The user, device or transaction does not exist or is not linked to this client (404)."""


class IdmeRateLimited(IdmeRejected):
    """Too many requests (429); `retry_after` is in seconds when ID.me said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message, code="rate_limited", status=429)
        self.retry_after = retry_after


class IdmeTokenInvalid(IdmeError):
    """An ID token failed validation: signature, iss, aud, exp, iat, nonce or assurance level."""
