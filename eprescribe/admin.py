"""Django admin: patients, pharmacies, medications; prescriptions (signed ones read-only).

Patients, prescriptions and ceremonies are practice-owned: scoped to the practices a practice
admin administers (providers.admin_scope). Pharmacies and medications are deployment-wide
reference tables (superusers and staff with model permissions)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from eprescribe.models import (
    DEA_REQUIRED_FIELDS,
    SIGNATURE_FIELDS,
    CeremonyPrescription,
    Medication,
    Patient,
    Pharmacy,
    Prescription,
    SigningCeremony,
)
from providers.admin_scope import PracticeScopedAdmin


@admin.register(Patient)
class PatientAdmin(PracticeScopedAdmin, admin.ModelAdmin):
    list_display = ("last_name", "first_name", "date_of_birth", "city", "state")
    search_fields = ("last_name", "first_name")


@admin.register(Pharmacy)
class PharmacyAdmin(admin.ModelAdmin):
    list_display = ("name", "ncpdp_id", "city", "state", "phone", "accepts_epcs")
    list_filter = ("accepts_epcs", "state")
    search_fields = ("name", "ncpdp_id")


@admin.register(Medication)
class MedicationAdmin(admin.ModelAdmin):
    list_display = ("name", "strength", "dosage_form", "dea_schedule")
    list_filter = ("dea_schedule",)
    search_fields = ("name",)


@admin.register(Prescription)
class PrescriptionAdmin(PracticeScopedAdmin, admin.ModelAdmin):
    """Prescriptions change only through eprescribe.services; the admin reads them.

    Admin writes would skip the ready-mark, refill and lock rules, so every field is
    read-only here and nothing is ever deleted (DEA-12, DEA-17).
    """

    list_display = ("id", "patient", "medication", "prescriber", "state", "written_date", "signed_at")
    list_filter = ("state", "medication__dea_schedule")
    search_fields = ("patient__last_name", "medication__name", "prescriber__display_name", "uuid")
    list_select_related = ("patient", "medication", "prescriber")
    readonly_fields = (
        "uuid",
        *DEA_REQUIRED_FIELDS,
        "created_by",
        "created_at",
        "updated_at",
        "state",
        "ready_at",
        "ready_by",
        *SIGNATURE_FIELDS,
        "transmission_attempts",
        "transmission_error",
        "transmitted_at",
        "pharmacy_message_id",
        "cancelled_at",
        "cancel_reason",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Prescription | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Prescription | None = None) -> bool:
        return False


class CeremonyPrescriptionInline(admin.TabularInline):
    model = CeremonyPrescription
    fields = ("position", "prescription", "content_sha256")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(SigningCeremony)
class SigningCeremonyAdmin(PracticeScopedAdmin, admin.ModelAdmin):
    """Signing ceremonies and their binding (DEA-19): read-only, like the prescriptions."""

    list_display = ("id", "provider", "reviewed_at", "state", "end_reason")
    list_filter = ("state", "end_reason")
    list_select_related = ("provider",)
    readonly_fields = (
        "id",
        "provider",
        "reviewed_at",
        "prescriber_name",
        "dea_numbers",
        "signer_sha256",
        "statement_sha256",
        "binding_sha256",
        "state",
        "ended_at",
        "end_reason",
        "changed_prescription_ids",
    )
    inlines = [CeremonyPrescriptionInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SigningCeremony | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: SigningCeremony | None = None) -> bool:
        return False
