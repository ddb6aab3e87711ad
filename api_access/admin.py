"""Admin: practice admins register their practice's OAuth apps; tokens are listed, never shown.

An application gets its practice through an inline (ApplicationPractice, required). A
superuser sees every application; any other staff user only the applications of the
practices where they are a practice admin, and may attach new ones only to those. (The
shared practice-scoped admin mixin, when it lands, replaces `_administered_practices`.)
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from oauth2_provider.admin import ApplicationAdmin as DotApplicationAdmin
from oauth2_provider.models import get_application_model

from api_access import services
from api_access.models import ApplicationPractice, PersonalAccessToken
from providers.models import Membership, Practice, PracticeRole

Application = get_application_model()


def _administered_practices(request: HttpRequest) -> QuerySet[Practice]:
    if request.user.is_superuser:
        return Practice.objects.all()
    practice_ids = Membership.objects.filter(user_id=request.user.pk or 0, role=PracticeRole.PRACTICE_ADMIN).values(
        "practice_id"
    )
    return Practice.objects.filter(pk__in=practice_ids)


class ApplicationPracticeInline(admin.StackedInline):
    model = ApplicationPractice
    min_num = 1
    max_num = 1
    can_delete = False
    verbose_name = "practice"

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "practice":
            kwargs["queryset"] = _administered_practices(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


if admin.site.is_registered(Application):
    admin.site.unregister(Application)


@admin.register(Application)
class PracticeApplicationAdmin(DotApplicationAdmin):
    """DOT's application admin with the practice; consent is never skipped (no
    skip_authorization), and only confidential or public authorization-code clients are offered."""

    inlines = [ApplicationPracticeInline]
    exclude = ("skip_authorization",)
    list_display = ("name", "practice", "client_type", "authorization_grant_type", "user")
    list_filter = ("client_type", "practice_link__practice")

    def formfield_for_choice_field(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "authorization_grant_type":  # the only grant our API accepts
            kwargs["choices"] = [
                (value, label) for value, label in db_field.choices if value == Application.GRANT_AUTHORIZATION_CODE
            ]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request).select_related("practice_link__practice")
        if request.user.is_superuser:
            return queryset
        return queryset.filter(practice_link__practice__in=_administered_practices(request))

    @admin.display(description="Practice", ordering="practice_link__practice__name")
    def practice(self, obj: Any) -> str:
        link = getattr(obj, "practice_link", None)
        return str(link.practice) if link else "—"

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change and obj.user_id is None:
            obj.user = request.user
        super().save_model(request, obj, form, change)


@admin.register(PersonalAccessToken)
class PersonalAccessTokenAdmin(admin.ModelAdmin):
    """Listed for support; created and shown only by their owner on the Security tab."""

    list_display = ("name", "user", "hint", "scope", "created_at", "expires_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_reason",)
    search_fields = ("name", "user__username")
    exclude = ("digest",)
    readonly_fields = (
        "user",
        "name",
        "hint",
        "scope",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "revoked_reason",
    )
    actions = ("revoke_selected",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Revoke selected tokens")
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[PersonalAccessToken]) -> None:
        for token in queryset.filter(revoked_at__isnull=True):
            services.revoke_token(token.user, token.pk, reason=services.RevokeReason.BY_ADMIN, request=request)
