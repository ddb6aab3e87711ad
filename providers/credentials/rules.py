"""Which DEA registrations count, and why one does not (DEA-04, DEA-05, DEA-20).

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

from django.db.models import QuerySet
from django.utils import timezone

from providers.models import DeaRegistration, Provider, StateLicense


def today() -> dt.date:
    return timezone.localdate()


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
