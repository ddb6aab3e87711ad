"""eRx Info: the EPCS permission status and "Report lost or stolen device" (DEA-04, NIST-05)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from epcs_access.services import pending_request_for
from providers.credentials.rules import today
from providers.epcs import epcs_block_reason, permission_for
from providers.erx_info import ErxSection
from providers.models import Provider


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


EPCS_SECTION = ErxSection(name="epcs", template="epcs_access/erx/epcs.html", build=epcs_section, order=40)
