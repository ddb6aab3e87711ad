"""The eRx Info tab: identity confirmation, ID.me devices and prescriber credentials.

Each section belongs to the app that owns its data; this module only stacks them in the
seed's order. A section is a template plus a function that builds its context.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

from mfa.erx_section import devices_section
from providers import services
from providers.credentials_section import credentials_section
from providers.identity_section import identity_section
from providers.models import Provider

Section = Callable[[HttpRequest, Provider], dict[str, Any]]

# (template, context builder), top to bottom as on the seed's eRx Info screen.
SECTIONS: tuple[tuple[str, Section], ...] = (
    ("providers/erx/identity.html", identity_section),
    ("mfa/erx_devices.html", devices_section),
    ("providers/erx/credentials.html", credentials_section),
)


def erx_info_tab(request: HttpRequest) -> HttpResponse:
    from providers.views import render_tab

    provider = services.current_provider(request)
    sections = [{"template": template, **build(request, provider)} for template, build in SECTIONS]
    return render_tab(request, "erx-info", "providers/tab_erx_info.html", {"provider": provider, "sections": sections})
