from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from providers.models import Provider, User


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
