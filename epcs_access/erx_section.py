"""eRx Info: the EPCS permission status and "Report lost or stolen device" (DEA-04, NIST-05)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from epcs_access.services import pending_request_for
from providers.credentials.rules import today
from providers.epcs import epcs_block_reason, permission_for
from providers.erx_info import ErxSection
from providers.models import Provider


def epcs_live(request: HttpRequest, provider: Provider) -> dict[str, Any]:
    """The EPCS status depends on the date (a registration expires): it is part of the cache key."""
    return {"today": today()}


def epcs_section(request: HttpRequest, provider: Provider) -> dict[str, Any]:
    permission = permission_for(provider)
    registrations = list(provider.dea_registrations.all())
    return {
        "provider": provider,
        "permission": permission,
        "pending_request": pending_request_for(provider),
        "epcs_block_reason": epcs_block_reason(
            provider, on=today(), permission=permission, registrations=registrations
        ),
    }


# The status reads the DEA registrations and their verification (the credentials section's
# data) as well as the permission and its requests.
EPCS_SECTION = ErxSection(
    name="epcs",
    template="epcs_access/erx/epcs.html",
    build=epcs_section,
    order=40,
    live=epcs_live,
    depends_on=("credentials",),
)
