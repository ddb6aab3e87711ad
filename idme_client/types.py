"""Typed results of ID.me calls."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

DeviceType = Literal["totp", "push"]
PushStatusValue = Literal["pending", "approved", "denied", "expired", "cancelled"]
# Why ID.me refused a code (an unknown reason from a newer server is read as "invalid_code").
TotpDenial = Literal["invalid_code", "code_replayed", "device_locked"]


@dataclass(frozen=True)
class Device:
    """An MFA device of a linked user, as the EPCS partner API lists it."""

    id: str
    name: str
    type: DeviceType
    added_at: dt.datetime
    last_used_at: dt.datetime | None = None


@dataclass(frozen=True)
class TotpResult:
    allowed: bool
    # None when allowed.
    reason: TotpDenial | None = None
    locked_until: dt.datetime | None = None


@dataclass(frozen=True)
class PushTransaction:
    txid: str
    status: PushStatusValue
    expires_at: dt.datetime
    match_number: str | None = None
    answered_at: dt.datetime | None = None


@dataclass(frozen=True)
class AuthorizationRequest:
    """What the EHR keeps in the session between the redirect to ID.me and the callback."""

    url: str
    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True)
class IdentityClaims:
    """The verified claims of an ID token (plus userinfo)."""

    uuid: str
    fname: str
    lname: str
    email: str
    ial: int
    aal: int
    issued_at: dt.datetime
    # ID.me's `birth_date` claim (YYYY-MM-DD) when the token carries one.
    birth_date: dt.date | None = None
