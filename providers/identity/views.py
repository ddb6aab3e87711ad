"""Identity proofing pages: eRx Info's "Verify with ID.me" and the return from ID.me.
The rules are in providers.identity.services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from idme_client.errors import IdmeUnavailable
from providers import services
from providers.identity.services import (
    FAILURE_MESSAGES,
    VerificationFailure,
    confirmation_message,
    finish_verification,
    start_verification,
)


def _erx_info_url() -> str:
    return reverse("provider-settings", kwargs={"tab": "erx-info"})


@login_required
@require_POST
def verify_with_idme(request: HttpRequest) -> HttpResponse:
    provider = services.current_provider(request)
    try:
        url = start_verification(request, provider)
    except IdmeUnavailable:
        messages.error(request, FAILURE_MESSAGES[VerificationFailure.UNAVAILABLE])
        return HttpResponseRedirect(_erx_info_url())
    return HttpResponseRedirect(url)


@login_required
@require_GET
def idme_callback(request: HttpRequest) -> HttpResponse:
    provider = services.current_provider(request)
    outcome = finish_verification(request, provider)
    if outcome.verified:
        messages.success(request, confirmation_message())
    else:
        messages.error(request, outcome.message)
    return HttpResponseRedirect(_erx_info_url())
