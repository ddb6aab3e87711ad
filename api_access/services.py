"""Business rules of API access: create, use and revoke personal access tokens; end every
API credential of a person (docs/api.md "Authentication").

A token is `ehr_pat_` + 43 characters from the CSPRNG (256 bits). Only its SHA-256 is kept
(ASVS-01, ASVS-12); it is looked up by that digest, so comparing the secret is an indexed
equality on a hash of it, never a character-by-character compare of the secret.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model

import audit
from api_access.models import TOKEN_PREFIX, PersonalAccessToken, token_digest
from audit.models import Outcome
from ehr.api_scopes import SCOPES, SIGN_SCOPE

# last_used_at is written at most this often per token (one UPDATE, not one per call).
LAST_USED_GRANULARITY = dt.timedelta(minutes=1)


class ApiAccessAction(StrEnum):
    """Audit actions of this app."""

    TOKEN_CREATED = "api.token_created"
    TOKEN_REVOKED = "api.token_revoked"
    APP_DISCONNECTED = "api.app_disconnected"
    TOKEN_REFUSED = "api.token_refused"
    CREDENTIALS_ENDED = "api.credentials_ended"


class RevokeReason(StrEnum):
    BY_OWNER = "by_owner"
    BY_ADMIN = "by_admin"
    PASSWORD_CHANGED = "password_changed"
    OTHER_SESSIONS_ENDED = "other_sessions_ended"


class TokenCheck(StrEnum):
    """Why a presented personal access token does (not) authenticate."""

    OK = "ok"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REVOKED = "revoked"
    INACTIVE_USER = "inactive_user"


@dataclass(frozen=True)
class CreatedToken:
    token: PersonalAccessToken
    # The token itself: shown to the person once, never stored.
    secret: str


@dataclass(frozen=True)
class Authenticated:
    check: TokenCheck
    token: PersonalAccessToken | None = None


@dataclass(frozen=True)
class ConnectedApp:
    """An app the person authorized that still holds a working token."""

    application_id: int
    name: str
    practice: str
    scopes: list[str]
    authorized_at: dt.datetime


@dataclass(frozen=True)
class EndedCredentials:
    personal_tokens: int
    oauth_tokens: int


class TokenRequestError(ValueError):
    """The name, scopes or lifetime asked for a new token are not acceptable."""


def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def create_token(
    user: Any, *, name: str, scopes: list[str], days: int | None = None, request: HttpRequest | None = None
) -> CreatedToken:
    """A new token for `user`; the secret is in the result and nowhere else."""
    days = settings.API_TOKEN_DEFAULT_DAYS if days is None else days
    if not 1 <= days <= settings.API_TOKEN_MAX_DAYS:
        raise TokenRequestError(f"A token lasts from 1 to {settings.API_TOKEN_MAX_DAYS} days.")
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown or not scopes:
        raise TokenRequestError("Choose at least one scope from the list.")
    name = name.strip()
    if not name:
        raise TokenRequestError("Give the token a name.")
    secret = new_secret()
    ordered = [scope for scope in SCOPES if scope in set(scopes)]
    lifetime = dt.timedelta(days=days)
    if SIGN_SCOPE in ordered:  # a token that can sign lasts no longer than a session (NIST-07)
        lifetime = min(lifetime, signing_token_lifetime())
    token = PersonalAccessToken.objects.create(
        user=user,
        name=name,
        digest=token_digest(secret),
        hint=secret[: len(TOKEN_PREFIX) + 4],
        scope=" ".join(ordered),
        expires_at=timezone.now() + lifetime,
    )
    audit.record(
        ApiAccessAction.TOKEN_CREATED,
        actor=user,
        target=token,
        request=request,
        details={"name": token.name, "scopes": ordered, "expires_at": token.expires_at.isoformat()},
    )
    return CreatedToken(token=token, secret=secret)


def signing_token_lifetime() -> dt.timedelta:
    return dt.timedelta(seconds=settings.API_SIGNING_TOKEN_SECONDS)


def oauth_grant_started_at(access_token: Any) -> dt.datetime:
    """When the person consented to the grant behind an OAuth access token: the first refresh
    token of its rotation chain (refreshes do not move it), else the token itself."""
    source = getattr(access_token, "source_refresh_token", None)
    if source is not None and source.token_family:
        first = (
            get_refresh_token_model()
            .objects.filter(token_family=source.token_family)
            .order_by("created")
            .values_list("created", flat=True)
            .first()
        )
        if first is not None:
            return first
    return access_token.created


def oauth_signing_grant_expired(access_token: Any) -> bool:
    """A grant that carries epcs:sign ends 12 hours after the consent, however often it is
    refreshed: the person signs in and consents again (NIST-07)."""
    if SIGN_SCOPE not in access_token.scope.split():
        return False
    return timezone.now() - oauth_grant_started_at(access_token) > signing_token_lifetime()


def authenticate(secret: str, request: HttpRequest | None = None) -> Authenticated:
    """Which token `secret` is, and whether it may be used now; notes its use. A refusal is
    in the audit trail (ASVS-09), with the token (never the secret) when it is known."""
    token = PersonalAccessToken.objects.select_related("user").filter(digest=token_digest(secret)).first()
    now = timezone.now()
    if token is None:
        check = TokenCheck.UNKNOWN
    elif token.revoked_at is not None:
        check = TokenCheck.REVOKED
    elif now >= token.expires_at:
        check = TokenCheck.EXPIRED
    elif not token.user.is_active:
        check = TokenCheck.INACTIVE_USER
    else:
        check = TokenCheck.OK
    if check is not TokenCheck.OK:
        audit.record(
            ApiAccessAction.TOKEN_REFUSED,
            actor=token.user if token else None,
            target=token,
            outcome=Outcome.DENIED,
            request=request,
            details={"reason": check.value, **({"name": token.name} if token else {})},
        )
        return Authenticated(check, token)
    assert token is not None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_GRANULARITY:
        PersonalAccessToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return Authenticated(TokenCheck.OK, token)


def tokens_of(user: Any) -> list[PersonalAccessToken]:
    """The person's tokens that still work, newest first."""
    return list(PersonalAccessToken.objects.filter(user=user, revoked_at__isnull=True, expires_at__gt=timezone.now()))


def revoke_token(
    user: Any, token_id: int, *, reason: RevokeReason = RevokeReason.BY_OWNER, request: HttpRequest | None = None
) -> PersonalAccessToken:
    """Revoke one of the person's own tokens (another person's id: DoesNotExist)."""
    with transaction.atomic():
        token = PersonalAccessToken.objects.select_for_update().get(pk=token_id, user=user)
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.revoked_reason = reason
            token.save(update_fields=["revoked_at", "revoked_reason"])
            audit.record(
                ApiAccessAction.TOKEN_REVOKED,
                actor=user,
                target=token,
                request=request,
                details={"name": token.name, "reason": reason},
            )
    return token


def connected_apps(user: Any) -> list[ConnectedApp]:
    """The apps holding a working token of `user` (a live refresh token or an unexpired access
    token), most recently authorized first."""
    now = timezone.now()
    refresh_tokens = (
        get_refresh_token_model()
        .objects.filter(user=user, revoked__isnull=True)
        .select_related("application__practice_link__practice", "access_token")
    )
    access_tokens = (
        get_access_token_model()
        .objects.filter(user=user, expires__gt=now)
        .select_related("application__practice_link__practice")
    )
    seen: list[tuple[Any, str, dt.datetime]] = [
        (token.application, token.access_token.scope if token.access_token else "", token.created)
        for token in refresh_tokens
    ] + [(token.application, token.scope, token.created) for token in access_tokens]
    found: dict[int, ConnectedApp] = {}
    for application, scope, created in sorted(seen, key=lambda item: item[2], reverse=True):
        if application is None or application.pk in found:
            continue
        link = getattr(application, "practice_link", None)
        found[application.pk] = ConnectedApp(
            application_id=application.pk,
            name=application.name,
            practice=str(link.practice) if link else "",
            scopes=scope.split(),
            authorized_at=created,
        )
    return list(found.values())


def disconnect_app(user: Any, application_id: int, *, request: HttpRequest | None = None) -> int:
    """End every token `user` gave the app; how many there were (0: nothing to disconnect)."""
    with transaction.atomic():
        refresh_tokens = list(
            get_refresh_token_model().objects.filter(user=user, application_id=application_id, revoked__isnull=True)
        )
        for refresh_token in refresh_tokens:
            refresh_token.revoke()
        access_tokens = list(get_access_token_model().objects.filter(user=user, application_id=application_id))
        for access_token in access_tokens:
            access_token.revoke()
        ended = len(refresh_tokens) + len(access_tokens)
        if ended:
            audit.record(
                ApiAccessAction.APP_DISCONNECTED,
                actor=user,
                target=("oauth2_provider.application", application_id),
                request=request,
                details={"tokens": ended},
            )
    return ended


def revoke_all_for_user(user: Any, *, reason: RevokeReason, request: HttpRequest | None = None) -> EndedCredentials:
    """End every personal access token and every OAuth grant, access and refresh token of `user`."""
    now = timezone.now()
    with transaction.atomic():
        personal = PersonalAccessToken.objects.filter(user=user, revoked_at__isnull=True).update(
            revoked_at=now, revoked_reason=reason
        )
        refresh_tokens = list(get_refresh_token_model().objects.filter(user=user, revoked__isnull=True))
        for refresh_token in refresh_tokens:
            refresh_token.revoke()  # also deletes its access token
        access_tokens = list(get_access_token_model().objects.filter(user=user))
        for access_token in access_tokens:
            access_token.revoke()
        get_grant_model().objects.filter(user=user).delete()
        ended = EndedCredentials(personal_tokens=personal, oauth_tokens=len(refresh_tokens) + len(access_tokens))
        if personal or ended.oauth_tokens:
            audit.record(
                ApiAccessAction.CREDENTIALS_ENDED,
                actor=user,
                target=user,
                request=request,
                details={"reason": reason, "personal_tokens": personal, "oauth_tokens": ended.oauth_tokens},
            )
    return ended
