"""Django admin for the device mirror: read-only (ID.me is the source), with a sync action."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from idme_client import IdmeError
from mfa import services
from mfa.models import DeviceSyncState, ProviderDevice
from providers.admin_scope import PracticeScopedAdmin
from providers.models import Provider


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by mfa.services; admins look, and resync from ID.me."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _sync_providers(modeladmin: admin.ModelAdmin, request: HttpRequest, providers: list[Provider]) -> None:
    for provider in providers:
        try:
            result = services.sync_devices(provider, request=request)
        except IdmeError as exc:
            modeladmin.message_user(request, f"{provider}: {services.failure_sentence(exc)}", messages.WARNING)
        else:
            modeladmin.message_user(request, f"{provider}: {result.summary()}", messages.INFO)


@admin.register(ProviderDevice)
class ProviderDeviceAdmin(PracticeScopedAdmin, ReadOnlyAdmin):
    practice_lookup = "provider__user__memberships__practice"  # devices are the person's
    list_display = ("label", "provider", "kind", "is_primary", "added_at", "last_used_at", "last_synced_at")
    list_filter = ("kind", "is_primary")
    search_fields = ("name", "idme_device_id", "provider__display_name", "provider__user__username")
    list_select_related = ("provider",)
    actions = ["resync_from_idme"]

    @admin.action(description="Sync these providers' devices from ID.me now")
    def resync_from_idme(self, request: HttpRequest, queryset: QuerySet[ProviderDevice]) -> None:
        providers = list(Provider.objects.filter(pk__in=queryset.values("provider_id")))
        _sync_providers(self, request, providers)


@admin.register(DeviceSyncState)
class DeviceSyncStateAdmin(PracticeScopedAdmin, ReadOnlyAdmin):
    practice_lookup = "provider__user__memberships__practice"
    list_display = ("provider", "last_synced_at", "last_attempt_at", "last_error")
    search_fields = ("provider__display_name", "provider__user__username")
    list_select_related = ("provider",)
    actions = ["resync_from_idme"]

    @admin.action(description="Sync these providers' devices from ID.me now")
    def resync_from_idme(self, request: HttpRequest, queryset: QuerySet[DeviceSyncState]) -> None:
        _sync_providers(self, request, [state.provider for state in queryset])
