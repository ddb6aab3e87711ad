"""eRx Info: the Identity Confirmation section."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from providers.models import Provider


def identity_section(request: HttpRequest, provider: Provider) -> dict[str, Any]:
    return {"provider": provider}
