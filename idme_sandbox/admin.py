"""Django admin for the ID.me sandbox (each section belongs to the helper that owns the model)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from idme_sandbox.models import PartnerDecision


# --- partner API decisions (read-only: a record of what the partner API decided) -------
@admin.register(PartnerDecision)
class PartnerDecisionAdmin(admin.ModelAdmin):
    list_display = ("created_at", "client", "account", "kind", "decision", "reason", "device", "txid")
    list_filter = ("kind", "decision", "client")
    search_fields = ("account__email", "account__uuid", "txid", "reason")
    date_hierarchy = "created_at"
    list_select_related = ("client", "account", "device")
    readonly_fields = ("created_at", "client", "account", "device", "kind", "decision", "reason", "txid")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: PartnerDecision | None = None) -> bool:
        return False
