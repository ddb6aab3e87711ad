"""Django admin of webhooks: endpoints (secret shown once, never listed) and the delivery log.

Scoped to practices (`providers.admin_scope.PracticeScopedAdmin`): a practice admin sees,
registers and changes the endpoints of the practices they administer, and reads their delivery
log; another practice's endpoint or delivery is 404; staff see everything.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from providers.admin_scope import PracticeScopedAdmin
from webhooks import services
from webhooks.events import EVENT_CHOICES
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(label="URL", max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(choices=EVENT_CHOICES, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = WebhookEndpoint
        fields = ["practice", "url", "description", "events", "active"]

    def clean_url(self) -> str:
        return services.clean_url(self.cleaned_data["url"])

    def clean_events(self) -> list[str]:
        return services.clean_events(self.cleaned_data["events"])


def _show_secrets(request: HttpRequest, created: list[services.NewSecret], title: str) -> HttpResponse:
    """The one page that shows a secret; rendered directly (no redirect, nothing in the session)."""
    return TemplateResponse(
        request,
        "webhooks/admin/secret_once.html",
        {**admin.site.each_context(request), "title": title, "created": created},
    )


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(PracticeScopedAdmin, admin.ModelAdmin):
    form = WebhookEndpointForm
    practice_admin_actions = frozenset({"view", "add", "change"})
    list_display = ("url", "practice", "active", "failure_count", "disabled_at", "created_at")
    list_filter = ("practice", "active")
    search_fields = ("url", "description")
    readonly_fields = ("failure_count", "disabled_at", "disabled_reason", "created_at", "created_by")
    actions = ["rotate_secret"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # The practice is chosen once; an endpoint never moves to another practice.
        return (*self.readonly_fields, "practice") if obj is not None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form: Any, change: bool) -> None:
        if change:
            services.save_changes(obj, actor=request.user)
        else:
            request._webhook_new_secret = services.register(obj, actor=request.user)  # type: ignore[attr-defined]

    def response_add(self, request: HttpRequest, obj: WebhookEndpoint, post_url_continue: str | None = None) -> Any:
        created = getattr(request, "_webhook_new_secret", None)
        if created is None:
            return super().response_add(request, obj, post_url_continue)
        return _show_secrets(request, [created], "Webhook endpoint added: copy its secret now")

    @admin.action(description="Make a new secret for the selected endpoints (shown once)")
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> HttpResponse | None:
        rotated = [services.rotate_secret(endpoint, actor=request.user) for endpoint in queryset]
        if not rotated:
            self.message_user(request, "No endpoint was selected.", messages.WARNING)
            return None
        return _show_secrets(request, rotated, "New webhook secrets: copy them now")


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ("number", "attempted_at", "duration_ms", "status_code", "succeeded", "response_excerpt", "error")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(PracticeScopedAdmin, admin.ModelAdmin):
    """The delivery log: read only."""

    practice_lookup = "endpoint__practice"

    list_display = ("created_at", "event_type", "endpoint", "status", "attempts", "last_status_code", "next_attempt_at")
    list_filter = ("endpoint__practice", "status", "event_type")
    search_fields = ("message_id", "endpoint__url")
    inlines = [WebhookAttemptInline]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
