"""What a device sync must change: a pure comparison of the mirror with what ID.me lists.

`diff(local, remote)` reads no database and calls nothing; `mfa.services.sync_devices` asks
ID.me, locks the mirror, computes the plan and applies it (writes and audit events).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from idme_client import Device
from mfa.models import ProviderDevice, label_for

NAME_MAX_LENGTH = 100  # ProviderDevice.name


@dataclass(frozen=True)
class Rename:
    """A mirrored device whose shown name changes (a rename at ID.me, or a new kind of an unnamed one)."""

    idme_device_id: str
    old: str
    new: str


@dataclass(frozen=True)
class SyncPlan:
    """The changes that make the mirror match ID.me's list."""

    # Listed by ID.me, not mirrored yet (in ID.me's order).
    added: tuple[Device, ...] = ()
    # Mirrored and still listed: each mirror row is refreshed from its ID.me device.
    kept: tuple[tuple[ProviderDevice, Device], ...] = ()
    renamed: tuple[Rename, ...] = ()
    # Mirrored but no longer listed (in the mirror's order).
    removed: tuple[ProviderDevice, ...] = ()
    # The provider's primary device is among the removed ones.
    primary_lost: bool = False

    @property
    def added_labels(self) -> tuple[str, ...]:
        return tuple(label_for(mirrored_name(d), d.type) for d in self.added)

    @property
    def removed_labels(self) -> tuple[str, ...]:
        return tuple(d.label for d in self.removed)


def mirrored_name(device: Device) -> str:
    """The name the mirror keeps for an ID.me device (cut to the column's length)."""
    return device.name[:NAME_MAX_LENGTH]


def diff(local: Sequence[ProviderDevice], remote: Sequence[Device]) -> SyncPlan:
    """Compare the mirror (`local`) with ID.me's list (`remote`), matching on the ID.me device id."""
    by_id = {device.idme_device_id: device for device in local}
    added: list[Device] = []
    kept: list[tuple[ProviderDevice, Device]] = []
    renamed: list[Rename] = []
    for device in remote:
        mirror = by_id.pop(device.id, None)
        if mirror is None:
            added.append(device)
            continue
        kept.append((mirror, device))
        new_label = label_for(mirrored_name(device), device.type)
        if new_label != mirror.label:
            renamed.append(Rename(device.id, mirror.label, new_label))
    removed = tuple(by_id.values())
    return SyncPlan(
        added=tuple(added),
        kept=tuple(kept),
        renamed=tuple(renamed),
        removed=removed,
        primary_lost=any(device.is_primary for device in removed),
    )
