"""eRx Info: the prescriber credentials section (DEA numbers, state licenses, Medicaid id)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from providers.models import Provider


def credentials_section(request: HttpRequest, provider: Provider) -> dict[str, Any]:
    return {"provider": provider}
