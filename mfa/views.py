"""Device screens: the return from ID.me, "Refresh devices", "Select as the primary device", help.

Thin: each view calls mfa.services and lands back on eRx Info with a message.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from idme_client import IdmeError
from mfa import services
from mfa.links import update_mfa_device_url
from mfa.models import ProviderDevice
from providers import services as provider_services
from providers.reauth import reauthentication_required


def erx_info_url() -> str:
    return reverse("provider-settings", kwargs={"tab": "erx-info"})


def _sync_and_tell(request: HttpRequest) -> HttpResponse:
    provider = provider_services.current_provider(request)
    try:
        result = services.sync_devices(provider, request=request)
    except IdmeError as exc:
        messages.warning(request, f"{services.failure_sentence(exc)} The devices shown are as of the last sync.")
    else:
        if not result.linked:
            messages.info(request, result.summary())
        elif result.changed:
            messages.success(request, result.summary())
        else:
            messages.info(request, result.summary())
    return HttpResponseRedirect(erx_info_url())


@login_required
@require_GET
def devices_returned(request: HttpRequest) -> HttpResponse:
    """ID.me's Sign In & Security sends the clinician here: sync, then eRx Info names the changes."""
    return _sync_and_tell(request)


@login_required
@require_POST
def refresh_devices(request: HttpRequest) -> HttpResponse:
    """The "Refresh devices" button."""
    return _sync_and_tell(request)


@login_required
@require_POST
@reauthentication_required
def select_primary(request: HttpRequest) -> HttpResponse:
    """ "Select as the primary device" (one form, one button per device, `device_id` names it).

    Only this provider's synced devices (ASVS-06): any other id is 404. Needs a password
    entry in the last 15 minutes (ASVS-05).
    """
    provider = provider_services.current_provider(request)
    raw_id = request.POST.get("device_id", "")
    if not raw_id.isdigit() or len(raw_id) > 18:
        return HttpResponseBadRequest("Choose one of your devices with its Select as the primary device button.")
    try:
        device = services.select_primary_device(provider, int(raw_id), request=request)
    except ProviderDevice.DoesNotExist as exc:
        raise Http404("No such device among your ID.me devices.") from exc
    except services.PrimaryDeviceBusy as exc:
        messages.warning(request, str(exc))
        return HttpResponseRedirect(erx_info_url())
    messages.success(request, f"{device.label} is now your primary device.")
    return HttpResponseRedirect(erx_info_url())


@login_required
@require_GET
def help_change_phone(request: HttpRequest) -> HttpResponse:
    """What happens to my MFA when I change my phone?"""
    return render(
        request,
        "mfa/help_change_phone.html",
        {"update_url": update_mfa_device_url(request), "erx_info_url": erx_info_url()},
    )
