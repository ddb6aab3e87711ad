"""May this prescriber sign controlled substance prescriptions right now? (DEA-02..05)

`epcs_block_reason` is the one question the signing code asks. It reads only; it never
changes anything, so it can be called on every page and inside the signing transaction.

Dates: a DEA registration counts until its expiry date; on that date (in the practice's
time zone, `timezone.localdate()`) it is expired and signing with it stops the same day,
with no nightly job in between (DEA-04).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from providers.models import DeaRegistration, EpcsPermission, EpcsPermissionState, Provider


def today() -> dt.date:
    return timezone.localdate()


def registration_is_current(registration: DeaRegistration, on: dt.date | None = None) -> bool:
    """Not revoked and not yet at its expiry date."""
    on = on or today()
    return registration.revoked_at is None and on < registration.expires_on


def current_registrations(provider: Provider, on: dt.date | None = None) -> list[DeaRegistration]:
    on = on or today()
    return list(provider.dea_registrations.filter(revoked_at__isnull=True, expires_on__gt=on).order_by("number"))


def has_current_registration(
    provider: Provider, on: dt.date | None = None, registrations: list[DeaRegistration] | None = None
) -> bool:
    """`registrations`: the provider's registrations when the caller has read them already."""
    on = on or today()
    if registrations is not None:
        return any(r.revoked_at is None and r.expires_on > on for r in registrations)
    return provider.dea_registrations.filter(revoked_at__isnull=True, expires_on__gt=on).exists()


def permission_for(provider: Provider) -> EpcsPermission | None:
    return EpcsPermission.objects.filter(provider=provider).first()


def registration_block_reason(registration: DeaRegistration, on: dt.date | None = None) -> str | None:
    on = on or today()
    if registration.revoked_at is not None:
        return f"DEA registration {registration.number} has been revoked. Choose another registration."
    if on >= registration.expires_on:
        return (
            f"DEA registration {registration.number} expired on {registration.expires_on:%m/%d/%Y}. "
            "Update it under Prescriber Credentials on eRx Info or choose another registration."
        )
    return None


_NOT_READ: Any = object()


def epcs_block_reason(
    provider: Provider,
    dea_registration: DeaRegistration | None = None,
    on: dt.date | None = None,
    *,
    permission: EpcsPermission | None = _NOT_READ,
    registrations: list[DeaRegistration] | None = None,
) -> str | None:
    """None when `provider` may sign EPCS now, otherwise a sentence for the clinician.

    Checks: identity IAL2-confirmed through ID.me; EPCS permission granted and not revoked;
    the chosen DEA registration (or, when none is given, at least one) belongs to the
    provider, is not revoked and has not expired. A page that has already read the
    provider's permission and registrations passes them in to save the queries.
    """
    on = on or today()
    if not provider.identity_confirmed:
        return (
            "Your identity has not been confirmed at IAL2 through ID.me. "
            "Verify your identity on eRx Info before signing controlled substance prescriptions."
        )
    if permission is _NOT_READ:
        permission = permission_for(provider)
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
        return registration_block_reason(dea_registration, on)
    if not has_current_registration(provider, on, registrations):
        return (
            "You have no current DEA registration. Add or renew it under Prescriber Credentials on eRx Info "
            "before signing controlled substance prescriptions."
        )
    return None
