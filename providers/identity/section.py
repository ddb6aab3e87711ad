"""eRx Info: the Identity Confirmation section (DEA-02, DEA-20)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from providers.erx_info import ErxSection
from providers.identity.binding import pending_mismatch_for
from providers.identity.services import CONFIRMED_TEXT, epcs_permissions_url
from providers.models import Provider


def identity_section(request: HttpRequest, provider: Provider) -> dict[str, Any]:
    confirmed = provider.identity_confirmed
    return {
        "provider": provider,
        "confirmed": confirmed,
        "confirmed_text": CONFIRMED_TEXT,
        "epcs_permissions_url": epcs_permissions_url(),
        "pending_mismatch": None if confirmed else pending_mismatch_for(provider),
    }


IDENTITY_SECTION = ErxSection(name="identity", template="providers/erx/identity.html", build=identity_section, order=10)
