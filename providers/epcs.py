"""The EPCS permission as the apps below epcs_access see it (DEA-02..05).

`epcs_block_reason` is the one question the signing code asks: may this prescriber sign
controlled substance prescriptions right now? It reads only; it never changes anything, so it
can be called on every page and inside the signing transaction. It lives here, in providers,
because `eprescribe` asks it and `eprescribe` and `epcs_access` never import each other
(docs/architecture.md). The EPCS permission models stay in providers.models for the same reason.

The one change providers makes to a permission is DEA-04's: when a credential change leaves
the prescriber without a DEA registration in force, `revoke_without_current_registration`
ends the permission in the same transaction. Granting and the two-person rule are
`epcs_access`'s.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

import audit
from providers import erx_cache
from providers.credentials.rules import (
    has_current_registration,
    has_registration_in_force,
    registration_block_reason,
    today,
)
from providers.models import DeaRegistration, EpcsPermission, EpcsPermissionState, Practice, Provider


def permission_for(provider: Provider, practice: Practice | None) -> EpcsPermission | None:
    """The prescriber's EPCS permission in a practice (none outside any practice)."""
    if practice is None:
        return None
    return EpcsPermission.objects.filter(provider=provider, practice=practice).first()


# The default of `permission=`: not read by the caller, so epcs_block_reason reads it. A caller
# that holds the permission row (e.g. locked in the signing transaction) passes it instead.
NOT_READ: Any = object()


def epcs_block_reason(
    provider: Provider,
    practice: Practice | None,
    dea_registration: DeaRegistration | None = None,
    on: dt.date | None = None,
    *,
    permission: EpcsPermission | None = NOT_READ,
    registrations: list[DeaRegistration] | None = None,
) -> str | None:
    """None when `provider` may sign EPCS in `practice` now, otherwise a sentence for the clinician.

    Checks: identity IAL2-confirmed through ID.me; EPCS permission in this practice granted and
    not revoked; the chosen DEA registration (or, when none is given, at least one) belongs to
    the provider, is the one the permission names for this practice (when it names one), is not
    revoked, has not expired and is verified (`registration_counts`). A page
    that has already read the provider's permission and registrations passes them in to save
    the queries.
    """
    on = on or today()
    if not provider.identity_confirmed:
        return (
            "Your identity has not been confirmed at IAL2 through ID.me. "
            "Verify your identity on eRx Info before signing controlled substance prescriptions."
        )
    if permission is NOT_READ:
        permission = permission_for(provider, practice)
    if permission is None or permission.state == EpcsPermissionState.REQUESTED:
        return (
            "You do not have EPCS permission yet. An EPCS access manager enters it on the "
            "EPCS Permissions page and a second person who is a DEA registrant approves it."
        )
    if permission.state == EpcsPermissionState.REVOKED:
        when = f" on {timezone.localtime(permission.revoked_at):%m/%d/%Y}" if permission.revoked_at else ""
        reason = f" ({permission.revoked_reason})" if permission.revoked_reason else ""
        return (
            f"Your EPCS permission was revoked{when}{reason}. "
            "It must be granted again on the EPCS Permissions page before you can sign."
        )
    if dea_registration is not None:
        if dea_registration.provider_id != provider.pk:
            return "That DEA registration is not yours. Choose one of your own registrations."
        named = permission.registration
        if named is not None and dea_registration.pk != named.pk:
            return (
                f"Your EPCS permission in this practice is for DEA registration {named.number}. "
                "Choose that registration."
            )
        return registration_block_reason(dea_registration, on)
    if permission.registration is not None:
        return registration_block_reason(permission.registration, on)
    if not has_current_registration(provider, on, registrations):
        return (
            "You have no current, verified DEA registration. Add or renew it under Prescriber Credentials on "
            "eRx Info; an EPCS access manager verifies it against the DEA registry before you can sign "
            "controlled substance prescriptions."
        )
    return None


def revoke_without_current_registration(
    provider: Provider, *, reason: str, actor: Any = None, request: HttpRequest | None = None
) -> bool:
    """DEA-04: when the prescriber has no current DEA registration left, the permission ends
    in every practice (each revocation audited in that practice's chain).

    (Signing stops the same day anyway: `epcs_block_reason` checks the dates on every signing.)
    """
    with transaction.atomic():
        permissions = list(
            EpcsPermission.objects.select_for_update().filter(provider=provider, state=EpcsPermissionState.GRANTED)
        )
        if not permissions or has_registration_in_force(provider):
            return False
        for permission in permissions:
            permission.state = EpcsPermissionState.REVOKED
            permission.revoked_at = timezone.now()
            permission.revoked_reason = reason[:300]
            permission.approved_by = None
            permission.save()
            audit.record(
                "epcs.permission_revoked",
                actor=actor,
                target=permission,
                request=request,
                chain=permission.practice_id,
                details={"provider_id": provider.pk, "reason": reason, "immediate": True},
            )
        erx_cache.bump_section(erx_cache.EPCS, provider.pk)
    return True
