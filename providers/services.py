"""Business rules for people: profile changes and session control."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import update_session_auth_hash
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest

import audit
from providers.models import Provider, User
from providers.security import CredentialsEndReason, end_api_credentials


def signed_in_user(request: HttpRequest) -> User:
    """The User behind a request that login_required has already let through."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionError("no signed-in user")
    return user


def provider_for(user: User) -> Provider:
    """The provider profile of a signed-in user, created on first use."""
    provider, _ = Provider.objects.get_or_create(
        user=user, defaults={"display_name": user.get_full_name() or user.get_username()}
    )
    return provider


def current_provider(request: HttpRequest) -> Provider:
    """The provider profile of the signed-in user behind `request`."""
    return provider_for(signed_in_user(request))


def update_profile(request: HttpRequest, provider: Provider, email: str, changes: dict[str, Any]) -> None:
    with transaction.atomic():
        changed = [name for name, value in changes.items() if getattr(provider, name) != value]
        for name in changed:
            setattr(provider, name, changes[name])
        provider.save()
        if provider.user.email != email:
            provider.user.email = email
            provider.user.save(update_fields=["email"])
            changed.append("email")
        audit.record("provider.profile_updated", request=request, target=provider, details={"fields": changed})


def change_password(request: HttpRequest, user: User, new_password: str, *, keep_api_tokens: bool = False) -> None:
    """Set a new password; the person's API tokens and app authorizations end with the old one
    unless they chose to keep them (docs/api.md "Revocation")."""
    user.set_password(new_password)
    user.save(update_fields=["password"])
    update_session_auth_hash(request, user)
    audit.record("auth.password_changed", request=request, target=user, details={"kept_api_tokens": keep_api_tokens})
    if not keep_api_tokens:
        end_api_credentials(request, user, CredentialsEndReason.PASSWORD_CHANGED)


def sign_out_other_sessions(request: HttpRequest, user: User, *, keep_api_tokens: bool = False) -> None:
    """End every other session of this user at once; this one stays signed in. API tokens and
    app authorizations end too unless the person chose to keep them."""
    User.objects.filter(pk=user.pk).update(session_generation=F("session_generation") + 1)
    user.refresh_from_db(fields=["session_generation"])
    update_session_auth_hash(request, user)
    audit.record(
        "auth.other_sessions_ended", request=request, target=user, details={"kept_api_tokens": keep_api_tokens}
    )
    if not keep_api_tokens:
        end_api_credentials(request, user, CredentialsEndReason.OTHER_SESSIONS_ENDED)
