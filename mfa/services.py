"""Business rules of the device mirror: syncing with ID.me and choosing the primary device.

The devices live at ID.me; the EHR keeps what ID.me lists (ProviderDevice) plus its own choice
of primary device. Only this module writes ProviderDevice and DeviceSyncState rows.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

import audit
from audit.models import Outcome
from idme_client import IdmeError, IdmeNotFound, IdmeRateLimited, IdmeUnavailable, partner_client
from mfa import sync_plan
from mfa.models import DeviceKind, DeviceSyncState, ProviderDevice
from providers import erx_cache
from providers.models import Provider

logger = logging.getLogger(__name__)

# eRx Info starts a background sync when the mirror is older than this ...
STALE_AFTER = dt.timedelta(minutes=3)
# ... and queues at most one per provider in this interval (ID.me down: no hammering).
BACKGROUND_REQUEST_INTERVAL = dt.timedelta(seconds=60)

PRIMARY_REMOVED_NOTICE = "Your primary device was removed at ID.me; select a new one."
NOTICE_LIMIT = 10


@dataclass(frozen=True)
class SyncResult:
    """What one sync changed in the mirror (names as the clinician knows them)."""

    linked: bool = True
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()
    primary_removed: bool = False
    synced_at: dt.datetime | None = None
    # A newer sync had already been applied; this one changed nothing.
    superseded: bool = False
    notices: tuple[str, ...] = field(default=(), repr=False)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.renamed)

    def summary(self) -> str:
        """One line for the clinician, e.g. "Added: MyiPhone. Removed: android."."""
        if not self.linked:
            return "Your EHR account is not linked to ID.me yet, so there are no devices to sync."
        parts = []
        if self.added:
            parts.append("Added: " + ", ".join(self.added) + ".")
        if self.renamed:
            parts.append("Renamed: " + ", ".join(f"{old} to {new}" for old, new in self.renamed) + ".")
        if self.removed:
            parts.append("Removed: " + ", ".join(self.removed) + ".")
        return " ".join(parts) if parts else "Your devices are up to date with ID.me."


class MirrorReadiness(StrEnum):
    """Whether the device mirror can answer "which devices does this provider have"."""

    SYNCED = "synced"  # synced at least once (now or before)
    NOT_LINKED = "not_linked"  # no ID.me account linked: no devices to list
    UNREACHABLE = "unreachable"  # never synced and ID.me cannot answer now (a sync is queued)


class PrimaryDeviceBusy(Exception):
    """Two changes to the primary device collided and the retry collided too."""


# --- reading -----------------------------------------------------------------
def devices_for(provider: Provider) -> list[ProviderDevice]:
    """The provider's mirrored devices, oldest first (one query)."""
    return list(ProviderDevice.objects.filter(provider=provider).order_by("added_at", "id"))


def primary_device(provider: Provider) -> ProviderDevice | None:
    return ProviderDevice.objects.filter(provider=provider, is_primary=True).first()


def device_of(provider: Provider, device_id: Any) -> ProviderDevice:
    """One of this provider's devices; another provider's id raises DoesNotExist (-> 404)."""
    return ProviderDevice.objects.get(provider=provider, pk=device_id)


def sync_state(provider: Provider) -> DeviceSyncState | None:
    return DeviceSyncState.objects.filter(provider=provider).first()


def is_stale(state: DeviceSyncState | None, now: dt.datetime | None = None) -> bool:
    now = now or timezone.now()
    return state is None or state.last_synced_at is None or now - state.last_synced_at > STALE_AFTER


def device_label(device: ProviderDevice) -> str:
    return f"{device.label} ({DeviceKind(device.kind).label})"


# --- sync --------------------------------------------------------------------
def _locked_state(provider: Provider) -> DeviceSyncState:
    state, _ = DeviceSyncState.objects.get_or_create(provider=provider)
    return DeviceSyncState.objects.select_for_update().get(pk=state.pk)


def failure_sentence(exc: IdmeError) -> str:
    """What the clinician reads when a sync fails (the technical detail goes to the audit trail)."""
    if isinstance(exc, IdmeNotFound):
        return "ID.me no longer lists your account as linked to this EHR; verify your identity with ID.me again."
    if isinstance(exc, IdmeRateLimited):
        return "ID.me asked the EHR to slow down; your devices will be synced again shortly."
    if isinstance(exc, IdmeUnavailable):
        return "ID.me could not be reached."
    return "ID.me refused to list your devices."


def _record_failure(provider: Provider, attempt: dt.datetime, exc: IdmeError, request: HttpRequest | None) -> None:
    message = failure_sentence(exc)
    with transaction.atomic():
        state = _locked_state(provider)
        already_failing = bool(state.last_error)
        state.last_attempt_at = attempt
        state.last_error = message
        state.save(update_fields=["last_attempt_at", "last_error"])
        # One audit event when syncing starts failing, not one per page view while ID.me is down.
        if not already_failing:
            audit.record(
                "mfa.devices_sync_failed",
                request=request,
                target=provider,
                outcome=Outcome.ERROR,
                details={"error": type(exc).__name__, "detail": str(exc)[:300]},
            )


def sync_devices(provider: Provider, request: HttpRequest | None = None) -> SyncResult:
    """Make the mirror match what ID.me lists now; raises IdmeError when ID.me cannot answer.

    Upserts listed devices, drops vanished ones (clearing the primary choice if it vanished,
    with a notice for the clinician's next page), audits every binding, rename and removal.
    The call to ID.me happens outside any transaction; the writes happen under a lock on
    the provider's sync state, so concurrent syncs apply one after the other.
    """
    if not provider.idme_uuid:
        return SyncResult(linked=False)
    attempt = timezone.now()
    try:
        remote = partner_client().list_devices(provider.idme_uuid)
    except IdmeError as exc:
        _record_failure(provider, attempt, exc, request)
        raise
    with transaction.atomic():
        state = _locked_state(provider)
        if state.last_synced_at is not None and state.last_synced_at > attempt:
            # A sync that asked ID.me later than we did has already been applied.
            return SyncResult(synced_at=state.last_synced_at, superseded=True)
        # Rows are locked in id order everywhere (here and in select_primary_device): no deadlocks.
        local = list(ProviderDevice.objects.select_for_update().filter(provider=provider).order_by("id"))
        plan = sync_plan.diff(local, remote)
        first_sync = state.last_synced_at is None
        _apply_plan(provider, plan, attempt, request, first_sync=first_sync)
        notices = _sync_notices(provider, plan, request, background=request is None, first_sync=first_sync)
        state.last_synced_at = attempt
        state.last_attempt_at = attempt
        state.last_error = ""
        if notices:
            state.notices = (list(state.notices) + notices)[-NOTICE_LIMIT:]
        state.save()
        erx_cache.bump_section(erx_cache.DEVICES, provider.pk)
    return SyncResult(
        added=plan.added_labels,
        removed=plan.removed_labels,
        renamed=tuple((rename.old, rename.new) for rename in plan.renamed),
        primary_removed=plan.primary_lost,
        synced_at=attempt,
        notices=tuple(notices),
    )


def _apply_plan(
    provider: Provider,
    plan: sync_plan.SyncPlan,
    attempt: dt.datetime,
    request: HttpRequest | None,
    *,
    first_sync: bool,
) -> None:
    """Write the plan into the (locked) mirror and audit each change."""
    _refresh_kept(plan, attempt, request)
    _create_added(provider, plan, attempt, request, first_sync=first_sync)
    _delete_removed(provider, plan, request)


def _refresh_kept(plan: sync_plan.SyncPlan, attempt: dt.datetime, request: HttpRequest | None) -> None:
    for mirror, device in plan.kept:
        mirror.name = sync_plan.mirrored_name(device)
        mirror.kind = device.type
        mirror.added_at = device.added_at
        mirror.last_used_at = device.last_used_at
        mirror.last_synced_at = attempt
    by_id = {mirror.idme_device_id: mirror for mirror, _device in plan.kept}
    for rename in plan.renamed:
        audit.record(
            "mfa.device_renamed",
            request=request,
            target=by_id[rename.idme_device_id],
            details={"idme_device_id": rename.idme_device_id, "from": rename.old, "to": rename.new},
        )
    if plan.kept:
        ProviderDevice.objects.bulk_update(
            [mirror for mirror, _device in plan.kept],
            ["name", "kind", "added_at", "last_used_at", "last_synced_at"],
            batch_size=200,
        )


def _create_added(
    provider: Provider,
    plan: sync_plan.SyncPlan,
    attempt: dt.datetime,
    request: HttpRequest | None,
    *,
    first_sync: bool,
) -> None:
    new_rows = [
        ProviderDevice(
            provider=provider,
            idme_device_id=device.id,
            name=sync_plan.mirrored_name(device),
            kind=device.type,
            added_at=device.added_at,
            last_used_at=device.last_used_at,
            last_synced_at=attempt,
        )
        for device in plan.added
    ]
    for created in ProviderDevice.objects.bulk_create(new_rows, batch_size=200):
        # NIST-06: every binding of a new authenticator is recorded with its time.
        audit.record(
            "mfa.device_added",
            request=request,
            target=("mfa.providerdevice", created.pk or created.idme_device_id),
            details={
                "provider_id": provider.pk,
                "idme_device_id": created.idme_device_id,
                "name": created.label,
                "kind": created.kind,
                "added_at_idme": created.added_at.isoformat(),
                "source": "background" if request is None else "clinician",
                "first_sync": first_sync,
            },
        )


def _delete_removed(provider: Provider, plan: sync_plan.SyncPlan, request: HttpRequest | None) -> None:
    for gone in plan.removed:
        # NIST-05: a device removed at ID.me stops being offered for signing at once.
        audit.record(
            "mfa.device_removed",
            request=request,
            target=gone,
            details={
                "provider_id": provider.pk,
                "idme_device_id": gone.idme_device_id,
                "name": gone.label,
                "kind": gone.kind,
                "was_primary": gone.is_primary,
            },
        )
    if plan.removed:
        ProviderDevice.objects.filter(pk__in=[d.pk for d in plan.removed]).delete()


def _sync_notices(
    provider: Provider, plan: sync_plan.SyncPlan, request: HttpRequest | None, *, background: bool, first_sync: bool
) -> list[str]:
    """The sentences the clinician must hear on their next page about this sync."""
    notices: list[str] = []
    if plan.primary_lost:
        notices.append(PRIMARY_REMOVED_NOTICE)
        audit.record("mfa.primary_device_cleared", request=request, target=provider, details={"reason": "removed"})
    # The first sync mirrors what was there already: nothing to announce as new.
    if plan.added and background and not first_sync:
        # NIST-06: the holder hears about a binding they did not watch happen.
        notices.append(
            "A new device was added at ID.me: "
            + ", ".join(plan.added_labels)
            + ". If you did not add it, delete it at ID.me now (Update MFA Device)."
        )
    return notices


def ensure_mirror(provider: Provider, request: HttpRequest | None = None) -> MirrorReadiness:
    """A mirror that was never synced is not an answer: sync it now, before anyone is told
    they have no device. When ID.me cannot answer, a background sync is queued."""
    if not provider.idme_uuid:
        return MirrorReadiness.NOT_LINKED
    state = sync_state(provider)
    if state is not None and state.last_synced_at is not None:
        return MirrorReadiness.SYNCED
    try:
        sync_devices(provider, request)
    except IdmeError:
        request_background_sync(provider, sync_state(provider))
        return MirrorReadiness.UNREACHABLE
    return MirrorReadiness.SYNCED


def pop_notices(provider: Provider, state: DeviceSyncState | None) -> list[str]:
    """The notices waiting for the clinician (each shown once). No query when there are none."""
    if state is None or not state.notices:
        return []
    with transaction.atomic():
        locked = DeviceSyncState.objects.select_for_update().get(pk=state.pk)
        notices = [str(n) for n in locked.notices]
        locked.notices = []
        locked.save(update_fields=["notices"])
    state.notices = []
    return notices


def request_background_sync(provider: Provider, state: DeviceSyncState | None) -> bool:
    """Queue a background sync when the mirror is stale; never waits for ID.me.

    True when a sync is queued or was queued moments ago (the page says "checking").
    """
    if not provider.idme_uuid:
        return False
    now = timezone.now()
    if not is_stale(state, now):
        return False
    if (
        state is not None
        and state.background_requested_at
        and now - state.background_requested_at < (BACKGROUND_REQUEST_INTERVAL)
    ):
        return True
    if state is None:
        state, _ = DeviceSyncState.objects.get_or_create(provider=provider)
    DeviceSyncState.objects.filter(pk=state.pk).update(background_requested_at=now)
    state.background_requested_at = now
    provider_id = provider.pk
    transaction.on_commit(lambda: _enqueue_sync(provider_id))
    return True


def _enqueue_sync(provider_id: int) -> None:
    from mfa.device_tasks import sync_provider_devices

    try:
        sync_provider_devices.apply_async(args=(provider_id,), retry=False)
    except Exception:  # the page must render even when the broker is down
        logger.warning("Could not queue a device sync for provider %s", provider_id, exc_info=True)


# --- primary device ------------------------------------------------------------
def select_primary_device(provider: Provider, device_id: Any, request: HttpRequest | None = None) -> ProviderDevice:
    """Make one of the provider's mirrored devices the primary one (idempotent).

    Raises ProviderDevice.DoesNotExist for an id that is not one of this provider's synced
    devices. Two concurrent choices queue on the row locks; the last one applied stays, and
    the database constraint (one primary per provider) is the backstop.
    """
    for _attempt in range(2):
        try:
            return _select_primary_once(provider, device_id, request)
        except IntegrityError:
            logger.info("Concurrent primary device change for provider %s; retrying", provider.pk)
    raise PrimaryDeviceBusy("Another change to your primary device is in progress. Try again.")


def _select_primary_once(provider: Provider, device_id: Any, request: HttpRequest | None) -> ProviderDevice:
    with transaction.atomic():
        devices = list(ProviderDevice.objects.select_for_update().filter(provider=provider).order_by("id"))
        target = next((d for d in devices if str(d.pk) == str(device_id)), None)
        if target is None:
            raise ProviderDevice.DoesNotExist("No such device among your ID.me devices.")
        if target.is_primary:
            return target
        previous = next((d for d in devices if d.is_primary), None)
        if previous is not None:
            ProviderDevice.objects.filter(pk=previous.pk).update(is_primary=False)
        ProviderDevice.objects.filter(pk=target.pk).update(is_primary=True)
        erx_cache.bump_section(erx_cache.DEVICES, provider.pk)
        target.is_primary = True
        audit.record(
            "mfa.primary_device_selected",
            request=request,
            target=target,
            details={
                "provider_id": provider.pk,
                "idme_device_id": target.idme_device_id,
                "name": target.label,
                "previous": previous.label if previous else None,
            },
        )
        return target
