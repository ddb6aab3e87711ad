"""Django admin for the DEA registry simulator: operators add or change registry records here."""

from __future__ import annotations

from django.contrib import admin

from idme_sandbox.dea_registry.models import DeaRegistryRecord, DeaRegistrySubscriber


@admin.register(DeaRegistryRecord)
class DeaRegistryRecordAdmin(admin.ModelAdmin):
    list_display = (
        "dea_number",
        "registrant_last_name",
        "registrant_first_name",
        "state",
        "schedules",
        "expires_on",
        "status",
    )
    list_filter = ("status", "state", "business_activity")
    search_fields = ("dea_number", "registrant_last_name")


@admin.register(DeaRegistrySubscriber)
class DeaRegistrySubscriberAdmin(admin.ModelAdmin):
    list_display = ("name", "active", "created_at")
    # The key is stored as a digest only; new keys come from `seed_idme_sandbox` (IDME_SANDBOX_DEA_REGISTRY_API_KEY).
    readonly_fields = ("key_sha256", "created_at")
