"""Issuing, finding and revoking tokens. Only SHA-256 digests are stored (ASVS-01)."""

from __future__ import annotations

import datetime as dt
import secrets

from django.utils import timezone

from idme_sandbox.models import Account, AuthorizationCode, Client, Token

ACCESS_TOKEN_SECONDS = Token.ACCESS_LIFETIME_SECONDS
REFRESH_TOKEN_SECONDS = Token.REFRESH_LIFETIME_SECONDS
CODE_SECONDS = AuthorizationCode.LIFETIME_SECONDS


def new_secret_value() -> str:
    """An opaque token or code: 256 bits from the operating system's CSPRNG."""
    return secrets.token_urlsafe(32)


def store_token(
    *, client: Client, account: Account | None, scope: str, access_token: str, refresh_token: str | None
) -> Token:
    now = timezone.now()
    return Token.objects.create(
        client=client,
        account=account,
        access_token_digest=Token.digest(access_token),
        refresh_token_digest=Token.digest(refresh_token) if refresh_token else "",
        scope=scope,
        issued_at=now,
        access_expires_at=now + dt.timedelta(seconds=ACCESS_TOKEN_SECONDS),
        refresh_expires_at=now + dt.timedelta(seconds=REFRESH_TOKEN_SECONDS) if refresh_token else None,
    )


def find_access_token(raw: str) -> Token | None:
    if not raw:
        return None
    return Token.objects.select_related("client", "account").filter(access_token_digest=Token.digest(raw)).first()


def find_refresh_token_for_update(raw: str) -> Token | None:
    """The token row of a refresh token, locked so two refreshes cannot both rotate it."""
    if not raw:
        return None
    return (
        Token.objects.select_for_update(of=("self",))
        .select_related("client", "account")
        .filter(refresh_token_digest=Token.digest(raw))
        .first()
    )


def revoke(token: Token) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])


def revoke_tokens_from_code(code: AuthorizationCode) -> int:
    """RFC 6749 4.1.2: a code used twice revokes the tokens issued from it.

    Tokens do not point at their code, so this revokes every token the client holds for
    the account since the code was issued (the code's tokens and their rotations).
    """
    return Token.objects.filter(
        client=code.client, account=code.account, issued_at__gte=code.created_at, revoked_at__isnull=True
    ).update(revoked_at=timezone.now())
