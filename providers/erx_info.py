"""The eRx Info tab: identity confirmation, ID.me devices and prescriber credentials.

Each section belongs to the app that owns its data; this module only stacks them in the
seed's order. A section is a name, a template and a function that builds its context; each is
rendered from a cached fragment (providers.erx_cache) until one of its writes bumps its version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

from mfa.erx_section import devices_live, devices_section
from providers import erx_cache, services
from providers.credentials_section import credentials_live, credentials_section
from providers.identity_section import identity_section
from providers.models import Provider

Section = Callable[[HttpRequest, Provider], dict[str, Any]]

# (name, template, context builder, per-view part, other sections it shows), top to bottom
# as on the seed's eRx Info screen.
SECTIONS: tuple[tuple[str, str, Section, Section | None, tuple[str, ...]], ...] = (
    (erx_cache.IDENTITY, "providers/erx/identity.html", identity_section, None, ()),
    (erx_cache.DEVICES, "mfa/erx_devices.html", devices_section, devices_live, ()),
    # The credentials section also shows the EPCS status and "Report lost or stolen device".
    (erx_cache.CREDENTIALS, "providers/erx/credentials.html", credentials_section, credentials_live, (erx_cache.EPCS,)),
)


def erx_info_tab(request: HttpRequest) -> HttpResponse:
    from providers.views import render_tab

    provider = services.current_provider(request)
    sections = [
        erx_cache.render_section(request, provider, name, template, build, live=live, depends_on=depends_on)
        for name, template, build, live, depends_on in SECTIONS
    ]
    return render_tab(request, "erx-info", "providers/tab_erx_info.html", {"provider": provider, "sections": sections})
