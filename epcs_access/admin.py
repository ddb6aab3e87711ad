"""Django admin of EPCS access: read only. Permissions change only through the EPCS
Permissions Page, where the two-person rule is applied and audited (DEA-03). Rows are scoped to
the practices a practice admin administers (providers.admin_scope)."""

from django.contrib import admin

from providers.admin import ReadOnlyAdmin
from providers.admin_scope import PracticeScopedAdmin
from providers.models import EpcsAccessNotice, EpcsPermission, EpcsPermissionRequest


@admin.register(EpcsPermission)
class EpcsPermissionAdmin(PracticeScopedAdmin, ReadOnlyAdmin):
    list_display = ("provider", "state", "entered_by", "approved_by", "granted_at", "revoked_at")
    list_filter = ("state",)
    search_fields = ("provider__display_name", "provider__user__username")


@admin.register(EpcsPermissionRequest)
class EpcsPermissionRequestAdmin(PracticeScopedAdmin, ReadOnlyAdmin):
    list_display = ("provider", "action", "status", "entered_by", "approved_by", "entered_at", "decided_at")
    list_filter = ("action", "status")
    search_fields = ("provider__display_name", "entered_by__username", "approved_by__username")


@admin.register(EpcsAccessNotice)
class EpcsAccessNoticeAdmin(PracticeScopedAdmin, ReadOnlyAdmin):
    list_display = ("created_at", "provider", "message", "dismissed_by", "dismissed_at")
