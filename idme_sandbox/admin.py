"""Django admin for the ID.me sandbox (each section belongs to the helper that owns the model)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from idme_sandbox.models import Client, Consent, PartnerDecision, PharmacyMessage, PharmacyNetworkMode, SigningKey


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


# --- OIDC clients, signing keys and consents (idme_sandbox/oidc/) -----------------------
class ClientAdminForm(forms.ModelForm):
    """The secret is typed once and stored hashed; leave it empty to keep the current one."""

    new_secret = forms.CharField(
        label="Client secret",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored hashed; it cannot be shown again. Leave empty to keep the current secret. "
        "Public clients have none.",
    )

    class Meta:
        model = Client
        fields = ("client_id", "name", "redirect_uris", "return_uris", "scope", "is_public")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        has_secret = bool(self.instance.pk and self.instance.client_secret_hash)
        if not cleaned.get("is_public") and not cleaned.get("new_secret") and not has_secret:
            self.add_error("new_secret", "A confidential client needs a secret.")
        return cleaned

    def save(self, commit: bool = True) -> Client:
        client: Client = super().save(commit=False)
        if client.is_public:
            client.client_secret_hash = ""
        elif self.cleaned_data.get("new_secret"):
            client.set_client_secret(self.cleaned_data["new_secret"])
        if commit:
            client.save()
        return client


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    form = ClientAdminForm
    list_display = ("name", "client_id", "is_public", "created_at")
    search_fields = ("name", "client_id")


@admin.register(SigningKey)
class SigningKeyAdmin(admin.ModelAdmin):
    """Keys are made on first use or by `manage.py idme_rotate_keys`; the private key never shows."""

    list_display = ("kid", "created_at", "active", "published")
    fields = ("kid", "created_at", "active", "published")
    readonly_fields = ("kid", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Consent)
class ConsentAdmin(admin.ModelAdmin):
    list_display = ("account", "client", "scope", "granted_at")
    list_filter = ("client",)
    search_fields = ("account__email", "account__uuid")
    list_select_related = ("account", "client")
    readonly_fields = ("granted_at",)


# The DEA registry simulator registers its own admin (idme_sandbox/dea_registry/admin.py).
import idme_sandbox.dea_registry.admin  # noqa: E402, F401
