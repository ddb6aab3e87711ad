"""eRx Info: the ID.Me Device Information section.

Reads the mirror only (two queries whatever the number of devices, one when the table is
cached); when the mirror is stale it queues a background sync and says so, never waiting
for ID.me.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.http import HttpRequest
from django.utils import timezone

from mfa import services
from mfa.links import update_mfa_device_url
from mfa.models import DeviceKind, ProviderDevice, label_for
from providers.erx_info import ErxSection
from providers.models import Provider


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """One line of the device table, ready to print (the table is the page's hot loop)."""

    id: int
    label: str
    option: str
    added: str
    is_primary: bool


def device_rows(provider: Provider) -> list[DeviceRow]:
    """The provider's devices as table rows: one query, no model instances."""
    options = dict(DeviceKind.choices)
    rows = []
    for pk, name, kind, added_at, is_primary in (
        ProviderDevice.objects.filter(provider=provider)
        .order_by("added_at", "id")
        .values_list("pk", "name", "kind", "added_at", "is_primary")
    ):
        added = timezone.localtime(added_at)
        rows.append(
            DeviceRow(
                id=pk,
                label=label_for(name, kind),
                option=str(options.get(kind, kind)),
                added=f"{added:%b} {added.day}, {added.year}",
                is_primary=is_primary,
            )
        )
    return rows


def devices_live(request: HttpRequest, provider: Provider) -> dict[str, Any]:
    """What the section reads or does on every view: the sync state (one query), its notices
    as messages, and a background sync when the mirror is stale. Part of the cache key."""
    state = services.sync_state(provider)
    for notice in services.pop_notices(provider, state):
        messages.warning(request, notice)
    checking = services.request_background_sync(provider, state)
    return {
        "last_synced_at": state.last_synced_at if state else None,
        "last_error": state.last_error if state else "",
        "unreachable": bool(state and state.last_error),
        "last_attempt_at": state.last_attempt_at if state else None,
        "last_attempt_ms": int(state.last_attempt_at.timestamp() * 1000) if state and state.last_attempt_at else 0,
        "checking": checking,
        "update_url": update_mfa_device_url(request),
    }


def devices_section(request: HttpRequest, provider: Provider) -> dict[str, Any]:
    """The device table (built only when the section's fragment is not cached)."""
    devices = device_rows(provider) if provider.idme_uuid else []
    return {
        "provider": provider,
        "linked": bool(provider.idme_uuid),
        "identity_confirmed": provider.identity_confirmed,
        "devices": devices,
        "has_primary": any(device.is_primary for device in devices),
    }


DEVICES_SECTION = ErxSection(
    name="devices", template="mfa/erx_devices.html", build=devices_section, order=20, live=devices_live
)
