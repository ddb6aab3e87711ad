"""Addresses at ID.me the device screens link to."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse


def return_url(request: HttpRequest) -> str:
    """Where ID.me's Sign In & Security sends the clinician back to (registered at ID.me)."""
    return request.build_absolute_uri(reverse("mfa:devices-returned"))


def update_mfa_device_url(request: HttpRequest) -> str:
    """ID.me's Sign In & Security page, with the way back to the EHR ("Update MFA Device")."""
    query = urlencode({"client_id": settings.IDME_CLIENT_ID, "return_to": return_url(request)})
    return f"{settings.IDME_BASE_URL}/account/security/?{query}"
