"""eRx Info: the Identity Confirmation section (DEA-02)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from providers.identity import CONFIRMED_TEXT, epcs_permissions_url
from providers.models import Provider


def identity_section(request: HttpRequest, provider: Provider) -> dict[str, Any]:
    return {
        "provider": provider,
        "confirmed": provider.identity_confirmed,
        "confirmed_text": CONFIRMED_TEXT,
        "epcs_permissions_url": epcs_permissions_url(),
    }
