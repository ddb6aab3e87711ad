"""eRx Info: the ID.Me Device Information section.

Reads the mirror only (two queries whatever the number of devices); when the mirror is
stale it queues a background sync and says so, never waiting for ID.me.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest

from mfa import services
from mfa.links import update_mfa_device_url
from providers.models import Provider


def devices_section(request: HttpRequest, provider: Provider) -> dict[str, Any]:
    state = services.sync_state(provider)
    for notice in services.pop_notices(provider, state):
        messages.warning(request, notice)
    devices = services.devices_for(provider) if provider.idme_uuid else []
    checking = services.request_background_sync(provider, state)
    return {
        "provider": provider,
        "linked": bool(provider.idme_uuid),
        "identity_confirmed": provider.identity_confirmed,
        "devices": devices,
        "has_primary": any(device.is_primary for device in devices),
        "state": state,
        "last_synced_at": state.last_synced_at if state else None,
        "unreachable": bool(state and state.last_error),
        "last_attempt_at": state.last_attempt_at if state else None,
        "checking": checking,
        "update_url": update_mfa_device_url(request),
    }
