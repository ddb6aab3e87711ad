"""Django admin scoped to practices (issue 10, ASVS-11; docs/architecture.md "Practices").

One mixin, `PracticeScopedAdmin`, is put in front of every ModelAdmin of a practice-owned model
(and of the people of practices): each admin class names the lookup from its model to the practice
id (`practice_lookup`: "practice", "chain_id" for the audit chains, "memberships__practice" for
people, ...).

- Entering the admin: staff as before, and any active practice admin (a PRACTICE_ADMIN
  membership) without the staff flag: `admit_practice_admins` replaces the site's
  `has_permission` and the admin sign-in form lets them in (nobody hands out `is_staff`, so
  losing the membership is losing the admin).
- A superuser sees every row. Anyone else (a practice admin, or staff with Django model
  permissions) sees only rows of the practices they administer: lists, search, filters,
  foreign-key choices (limited by the related model's own scoped admin) and object views; a row
  of another practice answers 404, like a row that does not exist. A row's practice is fixed
  once it exists (read-only in its change form).
- Practice admins may view every scoped model without Django model permissions, and
  add/change/delete only where the admin class says so (`practice_admin_actions`); the class's
  own rules (read-only admins) still hold for everyone else.
- Audited (audit.record): every list and change view a superuser opens (lists in the chain of
  no practice, naming the practices shown; an object in its practice's chain, once per
  practice for a person of several practices, the chain of no practice for a person of none),
  and every add/change/delete made through the admin by anyone, in the object's practices'
  chains.

Audit's own admin classes cannot import this module (audit sits below providers): providers'
admin module re-registers them with this mixin (`scope_registered_admin`).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from django.contrib import admin
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse

import audit
from providers.models import Membership, PracticeRole

_CACHE_ATTR = "_administered_practice_ids"


class AdminAuditAction(StrEnum):
    """Audit actions of the Django admin."""

    LIST_VIEWED = "admin.list_viewed"
    OBJECT_VIEWED = "admin.object_viewed"
    OBJECT_ADDED = "admin.object_added"
    OBJECT_CHANGED = "admin.object_changed"
    OBJECT_DELETED = "admin.object_deleted"


def administered_practice_ids(request: HttpRequest) -> frozenset[int]:
    """The practices the request's (active) user is a practice admin of; remembered per request."""
    cached = getattr(request, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    user = request.user
    ids: frozenset[int] = frozenset()
    if user.is_authenticated and user.is_active:
        ids = frozenset(
            Membership.objects.filter(user_id=user.pk, role=PracticeRole.PRACTICE_ADMIN).values_list(
                "practice_id", flat=True
            )
        )
    setattr(request, _CACHE_ATTR, ids)
    return ids


def sees_everything(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and user.is_superuser)


def may_enter_admin(request: HttpRequest) -> bool:
    """Staff (Django's rule) or an active practice admin of some practice."""
    user = request.user
    return bool(user.is_active and (user.is_staff or administered_practice_ids(request)))


def admit_practice_admins(site: admin.AdminSite) -> None:
    """Let active practice admins into `site` without the staff flag."""
    site.has_permission = may_enter_admin  # type: ignore[method-assign]


class PracticeScopedAdmin(admin.ModelAdmin):
    """Mixin: put it first in the bases (`class XAdmin(PracticeScopedAdmin, ReadOnlyAdmin)`)."""

    # The lookup from the model to the id of the practice (or practices) a row belongs to.
    practice_lookup: str = "practice"
    # What a practice admin may do with rows of their practices (view is always allowed).
    practice_admin_actions: frozenset[str] = frozenset({"view"})

    # --- scoping ---------------------------------------------------------------------------
    def scope_queryset(self, request: HttpRequest, queryset: models.QuerySet[Any]) -> models.QuerySet[Any]:
        if sees_everything(request):
            return queryset
        ids = administered_practice_ids(request)
        if not ids:
            return queryset.none()
        condition = {f"{self.practice_lookup}__in": ids}
        if "__" in self.practice_lookup:  # through memberships: one row per person, not per role
            model = queryset.model
            return queryset.filter(pk__in=model._default_manager.filter(**condition).values("pk"))
        return queryset.filter(**condition)

    def get_queryset(self, request: HttpRequest) -> models.QuerySet[Any]:
        return self.scope_queryset(request, super().get_queryset(request))

    def practice_ids_of(self, *objs: models.Model) -> list[int]:
        """The practices rows belong to (empty: none), by id, in one query."""
        if not objs:
            return []
        values = (
            self.model._default_manager.filter(pk__in=[obj.pk for obj in objs])
            .order_by()
            .values_list(self.practice_lookup, flat=True)
        )
        return sorted({int(value) for value in values if value is not None})

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        """A row outside the request's practices is 404, exactly like a missing one."""
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404(f"No {self.opts.verbose_name} with this id")
        return obj

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        """A row's practice is fixed once it exists (a patient, a membership... is never moved
        to another practice through the admin: remove and add instead)."""
        fields = tuple(super().get_readonly_fields(request, obj))
        names = {field.name for field in self.opts.fields}
        if obj is not None and "practice" in names and "practice" not in fields:
            fields += ("practice",)
        return fields

    def _related_scope(self, request: HttpRequest, field: Any, kwargs: dict[str, Any]) -> None:
        related = self.admin_site._registry.get(field.related_model)
        if isinstance(related, PracticeScopedAdmin):
            queryset = kwargs.get("queryset") or field.related_model._default_manager.all()
            kwargs["queryset"] = related.scope_queryset(request, queryset)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        self._related_scope(request, db_field, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        self._related_scope(request, db_field, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_list_filter(self, request: HttpRequest) -> Any:
        """A filter on a foreign key offers only values of visible rows (never other practices' names)."""
        filters: list[Any] = []
        for entry in super().get_list_filter(request):
            if isinstance(entry, str) and "__" not in entry:
                field = self.opts.get_field(entry)
                if field.is_relation:
                    entry = (entry, RelatedOnlyFieldListFilter)
            filters.append(entry)
        return filters

    # --- permissions -----------------------------------------------------------------------
    def _practice_admin_may(self, request: HttpRequest, action: str, obj: Any = None) -> bool:
        if action not in self.practice_admin_actions or sees_everything(request):
            return False
        ids = administered_practice_ids(request)
        if not ids:
            return False
        return obj is None or bool(set(self.practice_ids_of(obj)) & ids)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._practice_admin_may(request, "view") or super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._practice_admin_may(request, "view", obj) or super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self._practice_admin_may(request, "add") or super().has_add_permission(request, *args)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._practice_admin_may(request, "change", obj) or super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._practice_admin_may(request, "delete", obj) or super().has_delete_permission(request, obj)

    # --- auditing --------------------------------------------------------------------------
    def _record(self, request: HttpRequest, action: AdminAuditAction, obj: models.Model, **details: Any) -> None:
        chains: Iterable[int | None] = self.practice_ids_of(obj) or [None]
        audit.record_many(
            [
                (
                    action,
                    {
                        "request": request,
                        "target": obj,
                        "chain": chain,
                        "details": {"model": self.opts.label_lower, "object": str(obj)[:200], **details},
                    },
                )
                for chain in chains
            ]
        )

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        response = super().changelist_view(request, extra_context)
        if sees_everything(request) and getattr(response, "status_code", None) == 200:
            changelist = (getattr(response, "context_data", None) or {}).get("cl")
            shown = list(changelist.result_list) if changelist is not None else []
            practice_ids = self.practice_ids_of(*shown)
            audit.record(
                AdminAuditAction.LIST_VIEWED,
                request=request,
                chain=None,
                details={
                    "model": self.opts.label_lower,
                    "query": request.GET.urlencode()[:500],
                    "rows_shown": len(shown),
                    "practice_ids": practice_ids,
                },
            )
        return response

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        if sees_everything(request) and request.method == "GET" and response.status_code == 200:
            obj = (getattr(response, "context_data", None) or {}).get("original")
            if obj is not None:
                self._record(request, AdminAuditAction.OBJECT_VIEWED, obj)
        return response

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        self._record(request, AdminAuditAction.OBJECT_ADDED, obj, change=str(message)[:500])
        return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        self._record(request, AdminAuditAction.OBJECT_CHANGED, obj, change=str(message)[:500])
        return super().log_change(request, obj, message)

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        for obj in queryset:
            self._record(request, AdminAuditAction.OBJECT_DELETED, obj)
        return super().log_deletions(request, queryset)


def scope_registered_admin(
    site: admin.AdminSite, model: type[models.Model], practice_lookup: str, **attributes: Any
) -> None:
    """Re-register `model`'s admin (registered by an app that cannot import providers, e.g.
    audit) as the same class with `PracticeScopedAdmin` in front."""
    current = site._registry[model]
    scoped = type(
        current.__class__.__name__,
        (PracticeScopedAdmin, current.__class__),
        {"practice_lookup": practice_lookup, "__module__": __name__, **attributes},
    )
    site.unregister(model)
    site.register(model, scoped)
