"""Django admin for the ID.me sandbox (each section belongs to the helper that owns the model)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from idme_sandbox.models import PartnerDecision, PharmacyMessage, PharmacyNetworkMode


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


# --- pharmacy-network simulator (idme_sandbox/pharmacy/) ------------------------------
@admin.register(PharmacyNetworkMode)
class PharmacyNetworkModeAdmin(admin.ModelAdmin):
    """The admin-settable failure switch of the simulator."""

    list_display = ("__str__", "failing", "failure_status", "failures_left", "updated_at")
    fields = ("failing", "failure_status", "failures_left")


@admin.register(PharmacyMessage)
class PharmacyMessageAdmin(admin.ModelAdmin):
    list_display = (
        "received_at",
        "ack_id",
        "pharmacy_ncpdp_id",
        "patient_name",
        "drug_description",
        "digitally_signed",
    )
    search_fields = ("message_id", "ack_id", "patient_name", "pharmacy_ncpdp_id")
    readonly_fields = (
        "ack_id",
        "message_id",
        "pharmacy_ncpdp_id",
        "patient_name",
        "prescriber_dea_number",
        "drug_description",
        "dea_schedule_code",
        "digitally_signed",
        "body",
        "received_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: PharmacyMessage | None = None) -> bool:
        return False
