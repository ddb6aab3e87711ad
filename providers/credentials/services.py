"""Prescriber credentials on eRx Info: DEA registrations, state licenses, Medicaid id and the
prescribing name. The business rules live here; forms only parse and report.

- A DEA number must pass the DEA rule (providers.validators.validate_dea_number): format,
  practitioner prefix, second letter = first letter of the registrant's last name (or 9 for a
  mid-level practitioner "M" prefix), check digit (DEA-18).
- A registration used on prescriptions keeps its number and cannot be deleted (the database
  PROTECTs it); it can be marked revoked instead, which stops signing with it at once (DEA-04).
- Every change is audited (DEA-13).
- A registration or license entered here is unverified; changing a verified one makes it
  unverified again (DEA-20). Access managers verify them (providers.credentials.verification).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError
from django.http import HttpRequest
from django.utils import timezone

import audit
from audit.models import Outcome
from providers import erx_cache
from providers.epcs import revoke_without_current_registration
from providers.models import DeaRegistration, Provider, StateLicense
from providers.validators import validate_dea_number

SCHEDULE_FIELDS = ("schedule_2", "schedule_2n", "schedule_3", "schedule_3n", "schedule_4", "schedule_5")
DEA_FIELDS = ("number", "state", "expires_on", *SCHEDULE_FIELDS)
LICENSE_FIELDS = ("state", "number", "expires_on")


class CredentialError(Exception):
    """The change was refused; the message is for the clinician. Nothing was saved."""


def registrant_last_name(provider: Provider) -> str:
    """The last name the DEA number's second letter must match."""
    last = provider.user.last_name.strip()
    if last:
        return last
    parts = provider.display_name.replace(",", " ").split()
    return parts[-1] if parts else ""


def normalize_dea_number(number: str) -> str:
    return number.strip().upper()


def check_dea_number(provider: Provider, number: str, exclude_pk: int | None = None) -> str:
    """The normalized number, or ValidationError (rule, or already registered)."""
    number = normalize_dea_number(number)
    validate_dea_number(number, registrant_last_name(provider))
    taken = DeaRegistration.objects.filter(number=number)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise ValidationError("This DEA number is already registered in the EHR.", code="dea_taken")
    return number


def registration_in_use(registration: DeaRegistration) -> bool:
    """True when any row (e.g. a prescription) points at this registration."""
    for relation in registration._meta.related_objects:
        model = relation.related_model
        if model._default_manager.filter(**{relation.field.name: registration}).exists():
            return True
    return False


def _values(instance: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(instance, name) for name in fields}


# --- DEA registrations ----------------------------------------------------------
def add_dea_registration(request: HttpRequest | None, provider: Provider, data: dict[str, Any]) -> DeaRegistration:
    with transaction.atomic():
        number = check_dea_number(provider, str(data["number"]))
        registration = DeaRegistration.objects.create(
            provider=provider, **{**{k: data[k] for k in DEA_FIELDS}, "number": number}
        )
        audit.record(
            "credentials.dea_added",
            request=request,
            target=registration,
            details={"provider_id": provider.pk, **_values(registration, DEA_FIELDS)},
        )
        erx_cache.bump_section(erx_cache.CREDENTIALS, provider.pk)
    return registration


def update_dea_registration(
    request: HttpRequest | None, registration: DeaRegistration, data: dict[str, Any]
) -> DeaRegistration:
    with transaction.atomic():
        locked = DeaRegistration.objects.select_for_update().get(pk=registration.pk)
        number = check_dea_number(locked.provider, str(data["number"]), exclude_pk=locked.pk)
        if number != locked.number and registration_in_use(locked):
            raise ValidationError(
                "This registration is used on prescriptions, so its number cannot change. "
                "Add the new number as another registration.",
                code="dea_in_use",
            )
        before = _values(locked, DEA_FIELDS)
        for name in DEA_FIELDS:
            setattr(locked, name, number if name == "number" else data[name])
        locked.save()
        after = _values(locked, DEA_FIELDS)
        changed = {
            name: {"from": before[name], "to": after[name]} for name in DEA_FIELDS if before[name] != after[name]
        }
        audit.record("credentials.dea_changed", request=request, target=locked, details={"changes": changed})
        erx_cache.bump_section(erx_cache.CREDENTIALS, locked.provider_id)
        if changed:
            # DEA-20: a changed number, state, expiry or schedule is no longer what was verified.
            from providers.credentials.verification import clear_dea_verification

            clear_dea_verification(locked, sorted(changed), request)
        revoke_without_current_registration(
            locked.provider, reason="No current DEA registration after an edit", request=request
        )
    return locked


def revoke_dea_registration(request: HttpRequest | None, registration: DeaRegistration) -> DeaRegistration:
    """Mark a registration revoked by the DEA: signing with it stops at once."""
    with transaction.atomic():
        locked = DeaRegistration.objects.select_for_update().get(pk=registration.pk)
        if locked.revoked_at is None:
            locked.revoked_at = timezone.now()
            locked.save(update_fields=["revoked_at"])
            audit.record("credentials.dea_revoked", request=request, target=locked, details={"number": locked.number})
            erx_cache.bump_section(erx_cache.CREDENTIALS, locked.provider_id)
            revoke_without_current_registration(
                locked.provider, reason=f"DEA registration {locked.number} revoked", request=request
            )
    return locked


def remove_dea_registration(request: HttpRequest | None, registration: DeaRegistration) -> None:
    """Delete a registration nothing refers to; refused (with a clear message) otherwise."""
    number = registration.number
    provider = registration.provider
    try:
        with transaction.atomic():
            pk = registration.pk
            registration.delete()
            audit.record(
                "credentials.dea_removed",
                request=request,
                target=("providers.dearegistration", pk),
                details={"number": number, "provider_id": provider.pk},
            )
            erx_cache.bump_section(erx_cache.CREDENTIALS, provider.pk)
            revoke_without_current_registration(provider, reason=f"DEA registration {number} removed", request=request)
    except ProtectedError as exc:
        audit.record(
            "credentials.dea_remove_refused",
            request=request,
            target=registration,
            outcome=Outcome.DENIED,
            details={"number": number, "reason": "in use on prescriptions"},
        )
        raise CredentialError(
            f"DEA registration {number} is used on prescriptions, so it cannot be removed: signed prescriptions "
            "must keep the registration they were signed with. If it is no longer valid, mark it revoked instead."
        ) from exc


# --- state licenses ---------------------------------------------------------------
def _check_license(provider: Provider, data: dict[str, Any], exclude_pk: int | None = None) -> None:
    taken = StateLicense.objects.filter(provider=provider, state=data["state"], number=data["number"])
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise ValidationError("You have already entered this license.", code="license_taken")


def add_state_license(request: HttpRequest | None, provider: Provider, data: dict[str, Any]) -> StateLicense:
    with transaction.atomic():
        _check_license(provider, data)
        license_ = StateLicense.objects.create(provider=provider, **{k: data[k] for k in LICENSE_FIELDS})
        audit.record(
            "credentials.license_added",
            request=request,
            target=license_,
            details={"provider_id": provider.pk, **_values(license_, LICENSE_FIELDS)},
        )
        erx_cache.bump_section(erx_cache.CREDENTIALS, provider.pk)
    return license_


def update_state_license(request: HttpRequest | None, license_: StateLicense, data: dict[str, Any]) -> StateLicense:
    with transaction.atomic():
        locked = StateLicense.objects.select_for_update().get(pk=license_.pk)
        _check_license(locked.provider, data, exclude_pk=locked.pk)
        before = _values(locked, LICENSE_FIELDS)
        for name in LICENSE_FIELDS:
            setattr(locked, name, data[name])
        locked.save()
        changed = {
            name: {"from": before[name], "to": getattr(locked, name)}
            for name in LICENSE_FIELDS
            if before[name] != getattr(locked, name)
        }
        audit.record("credentials.license_changed", request=request, target=locked, details={"changes": changed})
        erx_cache.bump_section(erx_cache.CREDENTIALS, locked.provider_id)
        if changed:
            from providers.credentials.verification import clear_license_verification

            clear_license_verification(locked, sorted(changed), request)
    return locked


def remove_state_license(request: HttpRequest | None, license_: StateLicense) -> None:
    with transaction.atomic():
        pk, state, number = license_.pk, license_.state, license_.number
        license_.delete()
        audit.record(
            "credentials.license_removed",
            request=request,
            target=("providers.statelicense", pk),
            details={"state": state, "number": number},
        )
        erx_cache.bump_section(erx_cache.CREDENTIALS, license_.provider_id)


# --- Medicaid id and prescribing name ---------------------------------------------
def update_prescriber_details(
    request: HttpRequest | None, provider: Provider, *, medicaid_id: str, prescribing_name: str
) -> list[str]:
    with transaction.atomic():
        locked = Provider.objects.select_for_update().get(pk=provider.pk)
        values = {"medicaid_id": medicaid_id.strip(), "prescribing_name": prescribing_name.strip()}
        changed = [name for name, value in values.items() if getattr(locked, name) != value]
        for name in changed:
            setattr(locked, name, values[name])
        if changed:
            locked.save(update_fields=changed)
            audit.record("credentials.prescriber_details_changed", request=request, target=locked, details=values)
            erx_cache.bump_section(erx_cache.CREDENTIALS, locked.pk)
    return changed


def expires_soon(expires_on: dt.date, today: dt.date, days: int = 60) -> bool:
    return today < expires_on <= today + dt.timedelta(days=days)
