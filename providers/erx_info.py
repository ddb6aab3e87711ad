"""The eRx Info tab: a registry of sections, stacked by their order.

Each section belongs to the app that owns its data and registers itself from its
AppConfig.ready() (identity and credentials: providers; ID.Me devices: mfa; EPCS status and
"Report lost or stolen device": epcs_access), the way `mfa.challenges.register_completion`
lets an app register a completion. This module never names the apps above it.

A section is a template plus a function that builds its context; its name is a stable
string (the cache keys on it, and the services that write its data bump it). Each section is
rendered from a cached fragment (providers.erx_cache) until one of its writes bumps its
version: `live` is what must be read or done on every view (its values join the context and
the cache key), `depends_on` names other sections whose writes also change this one's output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse

from providers import erx_cache, services
from providers.models import Provider


@dataclass(frozen=True)
class ErxSection:
    name: str
    template: str
    build: Callable[[HttpRequest, Provider], dict[str, Any]]
    # Top to bottom as on the seed's eRx Info screen: smaller first.
    order: int
    live: Callable[[HttpRequest, Provider], dict[str, Any]] | None = None
    depends_on: tuple[str, ...] = ()


_SECTIONS: dict[str, ErxSection] = {}


def register_section(section: ErxSection) -> None:
    """Add (or replace, by name) a section of the eRx Info tab."""
    _SECTIONS[section.name] = section


def registered_sections() -> list[ErxSection]:
    return sorted(_SECTIONS.values(), key=lambda section: (section.order, section.name))


def erx_info_tab(request: HttpRequest) -> HttpResponse:
    from providers.views import render_tab

    provider = services.current_provider(request)
    sections = registered_sections()
    # Every section's version in one cache round trip, before any section reads its data.
    erx_cache.read_versions_for_view(
        request, {name for section in sections for name in (section.name, *section.depends_on)}, provider.pk
    )
    html = [
        erx_cache.render_section(
            request,
            provider,
            section.name,
            section.template,
            section.build,
            live=section.live,
            depends_on=section.depends_on,
        )
        for section in sections
    ]
    return render_tab(request, "erx-info", "providers/tab_erx_info.html", {"provider": provider, "sections": html})
