"""The EHR's password policy (ASVS-02, ASVS-12): how many failed passwords lock what.
(The REST API's rate limits are `ehr.api_throttle`.)

`PASSWORD_LIMITER` is the one limiter every EHR password check goes through (the EHR's
authentication backend, `providers.backends`, calls it): a counter per account plus a
counter per client address across usernames. The counting itself is the neutral
`common.throttle.AttemptLimiter`, which the ID.me sandbox builds its own limiters from.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from common.throttle import AttemptLimiter


class PasswordRefusal(StrEnum):
    """Why a password check was refused before the password was looked at."""

    ACCOUNT_LOCKED = "account_locked"
    CLIENT_LOCKED = "client_locked"


@dataclass(frozen=True)
class PasswordLimiter:
    """One counter per account and one per client address; either one locks.

    `account` is the normalised username (the caller normalises it as sign-in does);
    `client` is the client address, or None when there is no request (then only the
    account counts). A success clears the account's counter, never the client's: one
    good password must not buy an address fresh guesses at other accounts.
    """

    per_account: AttemptLimiter
    per_client: AttemptLimiter

    def refusal(self, account: str, client: str | None) -> PasswordRefusal | None:
        if self.per_account.is_locked(account):
            return PasswordRefusal.ACCOUNT_LOCKED
        if client and self.per_client.is_locked(client):
            return PasswordRefusal.CLIENT_LOCKED
        return None

    def failure(self, account: str, client: str | None) -> None:
        self.per_account.failure(account)
        if client:
            self.per_client.failure(client)

    def success(self, account: str) -> None:
        self.per_account.reset(account)


WINDOW_SECONDS = 15 * 60
# 10 failed passwords for one account in 15 minutes lock that account for the rest of the
# window; 50 failed passwords from one client address (any usernames) lock that address.
PASSWORD_LIMITER = PasswordLimiter(
    per_account=AttemptLimiter("login", limit=10, window_seconds=WINDOW_SECONDS),
    per_client=AttemptLimiter("login_client", limit=50, window_seconds=WINDOW_SECONDS),
)
