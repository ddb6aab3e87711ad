"""eRx Info: the EPCS permission status and "Report lost or stolen device" (DEA-04, NIST-05).

The status is the permission in the practice the prescriber is working in; the permissions the
prescriber holds in their other practices are mentioned in one line each (their own data: the
prescriber sees where they may sign).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from epcs_access.services import pending_request_for
from providers.credentials.rules import today
from providers.epcs import epcs_block_reason
from providers.erx_info import ErxSection
from providers.models import EpcsPermission, Provider
from providers.practices import current_practice


def epcs_live(request: HttpRequest, provider: Provider) -> dict[str, Any]:
    """The EPCS status depends on the date (a registration expires) and on the practice worked
    in: both are part of the cache key."""
    practice = current_practice(request)
    return {"today": today(), "practice_id": practice.pk if practice else None}


def epcs_section(request: HttpRequest, provider: Provider) -> dict[str, Any]:
    practice = current_practice(request)
    # Every practice's permission in one read: this practice's, and the others' for one line each.
    permissions = list(
        EpcsPermission.objects.filter(provider=provider)
        .select_related("practice", "registration")
        .order_by("practice__name")
    )
    permission = next((p for p in permissions if practice is not None and p.practice_id == practice.pk), None)
    elsewhere = [p for p in permissions if p is not permission]
    registrations = list(provider.dea_registrations.all())
    return {
        "provider": provider,
        "practice": practice,
        "permission": permission,
        "pending_request": pending_request_for(provider, practice),
        "epcs_block_reason": epcs_block_reason(
            provider, practice, on=today(), permission=permission, registrations=registrations
        ),
        "other_practices": list(elsewhere),
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
