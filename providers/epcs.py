"""May this prescriber sign controlled substance prescriptions right now? (DEA-02..05)

`epcs_block_reason` is the one question the signing code asks. It reads only; it never
changes anything, so it can be called on every page and inside the signing transaction.

What counts (DEA-05, DEA-20): a DEA registration counts for signing, for EPCS permission and
for approving as a registrant only when it is *current* (not revoked, before its expiry date)
and *verified*: an access manager other than the prescriber checked it against the DEA
registry and its number, state, schedules and expiry are still the ones that were checked
(`registration_is_verified`). `registration_counts` is that rule; every caller uses it.

Dates: a DEA registration counts until its expiry date; on that date (in the practice's
time zone, `timezone.localdate()`) it is expired and signing with it stops the same day,
with no nightly job in between (DEA-04).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from providers.models import DeaRegistration, EpcsPermission, EpcsPermissionState, Provider, StateLicense


def today() -> dt.date:
    return timezone.localdate()


def registration_is_current(registration: DeaRegistration, on: dt.date | None = None) -> bool:
    """Not revoked and not yet at its expiry date (whether or not it is verified)."""
    on = on or today()
    return registration.revoked_at is None and on < registration.expires_on


def registration_is_verified(registration: DeaRegistration) -> bool:
    """Verified against the DEA registry, and unchanged since (number, state, expiry, schedules)."""
    return (
        registration.verified_at is not None
        and bool(registration.verified_fingerprint)
        and registration.verified_fingerprint == registration.verification_fingerprint()
    )


def registration_counts(registration: DeaRegistration, on: dt.date | None = None) -> bool:
    """THE rule: current and verified. Signing, EPCS permission and approving all ask this;
    `registration_block_reason` words why not."""
    return registration_block_reason(registration, on) is None


def license_is_verified(license_: StateLicense) -> bool:
    """Verified against the state board, and unchanged since (state, number, expiry)."""
    return (
        license_.verified_at is not None
        and bool(license_.verified_fingerprint)
        and license_.verified_fingerprint == license_.verification_fingerprint()
    )


def _candidates(provider: Provider | None, on: dt.date) -> QuerySet[DeaRegistration]:
    # The database narrows to current, verified-once rows; registration_counts decides.
    rows = DeaRegistration.objects.filter(revoked_at__isnull=True, expires_on__gt=on, verified_at__isnull=False)
    return rows.filter(provider=provider) if provider is not None else rows


def current_registrations(provider: Provider, on: dt.date | None = None) -> list[DeaRegistration]:
    """The provider's registrations that count today (current and verified)."""
    on = on or today()
    return [r for r in _candidates(provider, on).order_by("number") if registration_counts(r, on)]


def registrations_that_count(provider: Provider | None = None, on: dt.date | None = None) -> QuerySet[DeaRegistration]:
    """A queryset of the registrations that count today (of `provider`, or of everyone), for
    forms that offer registrations to choose from."""
    on = on or today()
    pks = [r.pk for r in _candidates(provider, on) if registration_counts(r, on)]
    return DeaRegistration.objects.filter(pk__in=pks)


def has_current_registration(
    provider: Provider, on: dt.date | None = None, registrations: list[DeaRegistration] | None = None
) -> bool:
    """At least one registration counts (current and verified). `registrations`: the
    provider's registrations when the caller has read them already."""
    on = on or today()
    if registrations is not None:
        return any(registration_counts(r, on) for r in registrations)
    return bool(current_registrations(provider, on))


def has_registration_in_force(provider: Provider, on: dt.date | None = None) -> bool:
    """At least one registration not revoked and not expired, verified or not. Only the DEA-04
    revocation asks this: a registration waiting for (re-)verification stops signing, but it
    does not end the EPCS permission the way an expiry or a revocation does."""
    on = on or today()
    return provider.dea_registrations.filter(revoked_at__isnull=True, expires_on__gt=on).exists()


def permission_for(provider: Provider) -> EpcsPermission | None:
    return EpcsPermission.objects.filter(provider=provider).first()


def registration_block_reason(registration: DeaRegistration, on: dt.date | None = None) -> str | None:
    """Why this registration does not count today (revoked, expired, unverified), or None."""
    on = on or today()
    if registration.revoked_at is not None:
        return f"DEA registration {registration.number} has been revoked. Choose another registration."
    if on >= registration.expires_on:
        return (
            f"DEA registration {registration.number} expired on {registration.expires_on:%m/%d/%Y}. "
            "Update it under Prescriber Credentials on eRx Info or choose another registration."
        )
    if not registration_is_verified(registration):
        return (
            f"DEA registration {registration.number} has not been verified against the DEA registry. "
            "An EPCS access manager verifies it on the Credential Verification page before it can be used to sign."
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
    provider, is not revoked, has not expired and is verified (`registration_counts`). A page
    that has already read the provider's permission and registrations passes them in to save
    the queries.
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
            "You have no current, verified DEA registration. Add or renew it under Prescriber Credentials on "
            "eRx Info; an EPCS access manager verifies it against the DEA registry before you can sign "
            "controlled substance prescriptions."
        )
    return None
