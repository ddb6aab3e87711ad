"""The eRx Info tab: identity confirmation, ID.me devices and prescriber credentials."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from providers import services


def erx_info_tab(request: HttpRequest) -> HttpResponse:
    from providers.views import render_tab

    provider = services.provider_for(services.signed_in_user(request))
    return render_tab(request, "erx-info", "providers/tab_erx_info.html", {"provider": provider})
