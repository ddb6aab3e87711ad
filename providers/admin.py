from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.http import HttpRequest

import audit.admin  # noqa: F401  (registers the audit admins scoped below)
from audit.models import AuditCheckpoint, AuditEvent, IncidentReport
from providers.admin_scope import PracticeScopedAdmin, admit_practice_admins, scope_registered_admin
from providers.auth_views import LimitedAdminAuthenticationForm
from providers.credentials.rules import license_is_verified, registration_is_verified
from providers.models import (
    DeaRegistration,
    IdentityMismatch,
    Membership,
    Practice,
    Provider,
    StateLicense,
    User,
)

# The admin's sign-in shares the one password limiter and its wording (ASVS-12).
admin.site.login_form = LimitedAdminAuthenticationForm
# Practice admins enter without the staff flag and see only their practices (providers.admin_scope).
admit_practice_admins(admin.site)


def _identity_confirmed(user: Any) -> bool:
    provider = getattr(user, "provider", None)
    return provider is not None and provider.identity_verified_at is not None


@admin.register(User)
class UserAdmin(PracticeScopedAdmin, DjangoUserAdmin):
    practice_lookup = "memberships__practice"  # the people of the practices

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        """The legal name a confirmed ID.me identity was matched against (DEA-20) is not edited
        here: a change would silently outlive the check (a new legal name needs a new ID.me
        verification; docs/idme-oidc.md)."""
        fields = tuple(super().get_readonly_fields(request, obj))
        if obj is not None and _identity_confirmed(obj):
            fields += ("first_name", "last_name")
        return fields


@admin.register(Provider)
class ProviderAdmin(PracticeScopedAdmin, admin.ModelAdmin):
    practice_lookup = "user__memberships__practice"
    list_display = ("display_name", "user", "npi", "identity_ial", "identity_verified_at")
    search_fields = ("display_name", "user__username", "npi")
    list_filter = ("identity_ial",)
    # Identity is set only by the ID.me callback, never typed in by an admin.
    readonly_fields = ("idme_uuid", "identity_ial", "identity_aal", "identity_verified_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        """The date of birth a confirmed identity was matched against is fixed (DEA-20)."""
        fields = tuple(super().get_readonly_fields(request, obj))
        if obj is not None and obj.identity_verified_at is not None:
            fields += ("date_of_birth",)
        return fields


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
class DeaRegistrationAdmin(PracticeScopedAdmin, ReadOnlyAdmin):
    practice_lookup = "provider__user__memberships__practice"
    # Entered on eRx Info, where the DEA rule is applied and every change is audited.
    # Verification happens on the Credential Verification page (DEA-20); shown here read-only.
    list_display = (
        "number",
        "provider",
        "state",
        "expires_on",
        "revoked_at",
        "is_verified",
        "verified_by",
        "verified_at",
    )
    search_fields = ("number", "provider__display_name", "provider__user__username")
    list_filter = ("state",)
    readonly_fields = ("verified_at", "verified_by", "registry_answer", "verified_fingerprint")

    @admin.display(boolean=True, description="Verified")
    def is_verified(self, obj: DeaRegistration) -> bool:
        return registration_is_verified(obj)


@admin.register(StateLicense)
class StateLicenseAdmin(PracticeScopedAdmin, ReadOnlyAdmin):
    practice_lookup = "provider__user__memberships__practice"
    list_display = ("provider", "state", "number", "expires_on", "is_verified", "verified_by", "verified_at")
    search_fields = ("number", "provider__display_name")
    list_filter = ("state",)
    readonly_fields = (
        "verified_at",
        "verified_by",
        "verification_source",
        "verification_reference",
        "verified_fingerprint",
    )

    @admin.display(boolean=True, description="Verified")
    def is_verified(self, obj: StateLicense) -> bool:
        return license_is_verified(obj)


# --- identity mismatches (providers/identity/reviews.py) -------------------------------------
@admin.register(IdentityMismatch)
class IdentityMismatchAdmin(PracticeScopedAdmin, ReadOnlyAdmin):
    practice_lookup = "provider__user__memberships__practice"
    # Confirmed or rejected on the Identity reviews page, where the rules are applied and audited.
    list_display = ("created_at", "provider", "idme_fname", "idme_lname", "status", "decided_by", "decided_at")
    list_filter = ("status",)
    search_fields = ("provider__display_name", "provider__user__username", "idme_lname")


# --- practices (providers/practices.py) -------------------------------------------------------
# Practices are created and changed by a superuser (or seed_demo); a practice admin sees theirs.
# Memberships are managed by superusers and, inside the practices they administer, by practice
# admins (docs/architecture.md "Practices").
@admin.register(Practice)
class PracticeAdmin(PracticeScopedAdmin, admin.ModelAdmin):
    practice_lookup = "pk"
    list_display = ("name", "city", "state", "time_zone")
    search_fields = ("name", "city")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Membership)
class MembershipAdmin(PracticeScopedAdmin, admin.ModelAdmin):
    practice_admin_actions = frozenset({"view", "add", "change", "delete"})
    list_display = ("practice", "user", "role", "created_at")
    list_filter = ("practice", "role")
    search_fields = ("user__username", "practice__name")


# --- the audit trail (audit/admin.py): audit cannot import providers, so its read-only admins
# are scoped here, by chain (the chain id is the practice id).
for _model in (AuditEvent, AuditCheckpoint, IncidentReport):
    scope_registered_admin(admin.site, _model, "chain_id")
