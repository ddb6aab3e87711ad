from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.http import HttpRequest

from providers.auth_views import LimitedAdminAuthenticationForm
from providers.models import (
    DeaRegistration,
    EpcsAccessNotice,
    EpcsPermission,
    EpcsPermissionRequest,
    Provider,
    StateLicense,
    User,
)

# The admin's sign-in shares the one password limiter and its wording (ASVS-12).
admin.site.login_form = LimitedAdminAuthenticationForm


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    pass


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = ("display_name", "user", "npi", "identity_ial", "identity_verified_at")
    search_fields = ("display_name", "user__username", "npi")
    list_filter = ("identity_ial",)
    # Identity is set only by the ID.me callback, never typed in by an admin.
    readonly_fields = ("idme_uuid", "identity_ial", "identity_aal", "identity_verified_at")


# --- prescriber credentials and EPCS permissions (permissions helper) -------------------------
# Changes to EPCS permissions go through the two-person flow on the EPCS Permissions page, so
# the admin shows permissions and requests read-only; credentials are edited (and audited) on
# eRx Info, so they are read-only here too.
class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DeaRegistration)
class DeaRegistrationAdmin(ReadOnlyAdmin):
    # Entered on eRx Info, where the DEA rule is applied and every change is audited.
    list_display = ("number", "provider", "state", "expires_on", "revoked_at")
    search_fields = ("number", "provider__display_name", "provider__user__username")
    list_filter = ("state",)


@admin.register(StateLicense)
class StateLicenseAdmin(ReadOnlyAdmin):
    list_display = ("provider", "state", "number", "expires_on")
    search_fields = ("number", "provider__display_name")
    list_filter = ("state",)


@admin.register(EpcsPermission)
class EpcsPermissionAdmin(ReadOnlyAdmin):
    list_display = ("provider", "state", "entered_by", "approved_by", "granted_at", "revoked_at")
    list_filter = ("state",)
    search_fields = ("provider__display_name", "provider__user__username")


@admin.register(EpcsPermissionRequest)
class EpcsPermissionRequestAdmin(ReadOnlyAdmin):
    list_display = ("provider", "action", "status", "entered_by", "approved_by", "entered_at", "decided_at")
    list_filter = ("action", "status")
    search_fields = ("provider__display_name", "entered_by__username", "approved_by__username")


@admin.register(EpcsAccessNotice)
class EpcsAccessNoticeAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "provider", "message", "dismissed_by", "dismissed_at")
