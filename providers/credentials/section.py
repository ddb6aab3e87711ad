"""eRx Info: the prescriber credentials section (DEA numbers, state licenses, Medicaid id,
prescribing name). The EPCS status below it is epcs_access's section."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from providers.credentials.forms import PrescriberDetailsForm
from providers.credentials.rules import license_is_verified, registration_block_reason, registration_is_verified, today
from providers.credentials.services import expires_soon
from providers.erx_info import ErxSection
from providers.models import Provider


def credentials_live(request: HttpRequest, provider: Provider) -> dict[str, Any]:
    """Expiry warnings and each registration's status depend on the date: it is part of the
    cache key."""
    return {"today": today()}


def credentials_section(request: HttpRequest, provider: Provider) -> dict[str, Any]:
    on = today()
    dea_registrations = list(provider.dea_registrations.select_related("verified_by"))
    registrations = [
        {
            "registration": registration,
            "problem": registration_block_reason(registration, on),
            "verified": registration_is_verified(registration),
            "expires_soon": expires_soon(registration.expires_on, on),
            "schedules": ", ".join(
                label
                for name, label in (
                    ("schedule_2", "II"),
                    ("schedule_2n", "IIN"),
                    ("schedule_3", "III"),
                    ("schedule_3n", "IIIN"),
                    ("schedule_4", "IV"),
                    ("schedule_5", "V"),
                )
                if getattr(registration, name)
            ),
        }
        for registration in dea_registrations
    ]
    licenses = [
        {
            "license": license_,
            "expired": license_.expires_on <= on,
            "verified": license_is_verified(license_),
            "expires_soon": expires_soon(license_.expires_on, on),
        }
        for license_ in provider.state_licenses.select_related("verified_by")
    ]
    details_form = PrescriberDetailsForm(
        initial={"medicaid_id": provider.medicaid_id, "prescribing_name": provider.prescribing_name}
    )
    return {
        "provider": provider,
        "registrations": registrations,
        "licenses": licenses,
        "details_form": details_form,
    }


CREDENTIALS_SECTION = ErxSection(
    name="credentials",
    template="providers/erx/credentials.html",
    build=credentials_section,
    order=30,
    live=credentials_live,
)
