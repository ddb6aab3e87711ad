"""eRx Info: the ID.Me Device Information section."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from providers.models import Provider


def devices_section(request: HttpRequest, provider: Provider) -> dict[str, Any]:
    return {"provider": provider}
