"""Read-only admins of the audit trail. Scoped to practices (a practice admin sees the chains of
the practices they administer) by providers' admin module, which re-registers these classes with
its PracticeScopedAdmin: audit imports no providers code (docs/architecture.md "Practices")."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditCheckpoint, AuditEvent, IncidentReport


class ReadOnlyAdmin(admin.ModelAdmin):
    """Audit records are append-only: admins may read and search, never change."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = (
        "occurred_at",
        "action",
        "outcome",
        "actor_label",
        "target_type",
        "target_id",
        "ip_address",
        "chain_id",
        "position",
    )
    list_filter = ("outcome", "action")
    search_fields = ("action", "actor_label", "target_id")
    date_hierarchy = "occurred_at"


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdmin):
    list_display = ("signed_at", "chain_id", "position", "head_hash", "key_id", "reason")


@admin.register(IncidentReport)
class IncidentReportAdmin(ReadOnlyAdmin):
    list_display = ("day", "chain_id", "event_count", "security_event_count", "chain_intact", "generated_at")
