"""REST API for the audit trail and the daily incident reports (read-only; docs/api.md).

Who may read: the access managers and auditors of the practice the call works in
(`providers.audit_access.may_read_audit`, the audit page's rule; the practice is
`api_practice`: the session's, the `X-Practice-Id` header's, or the only one). They see that
practice's chain only (`chain_id = practice.pk`): another practice's event or report id is 404
(ASVS-11). Everyone else gets 403; nothing here can change a record (the trail is
append-only, DEA-13). Lists are cursor-paginated, newest first. Token scope: audit:read.

It lives in providers, not audit: audit imports no app above it (docs/architecture.md), and
who may read is a providers question.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import permissions, serializers, viewsets
from rest_framework.request import Request

from audit.models import AuditEvent, IncidentReport, Outcome
from ehr.api import StrictCursorPagination
from ehr.api_permissions import TokenScopes
from providers.audit_access import REFUSAL_MESSAGES, AuditRefusal, may_read_audit
from providers.models import Practice
from providers.practices import PRACTICE_HEADER, api_practice

NO_PRACTICE = f"Choose a practice: send the {PRACTICE_HEADER} header with one of your practices' ids."


class MayReadAuditTrail(permissions.BasePermission):
    """An access manager or auditor of the practice the call works in (sets `view.practice`)."""

    message = REFUSAL_MESSAGES[AuditRefusal.NOT_AUDIT_READER]

    def has_permission(self, request: Request, view: Any) -> bool:
        practice = api_practice(request)
        if practice is None:
            self.message = NO_PRACTICE
            return False
        view.practice = practice
        return may_read_audit(request.user, practice)


class PracticeChainMixin:
    """Only the chain of the practice the call works in."""

    practice: Practice | None = None

    def chain_id(self) -> int | None:
        return self.practice.pk if self.practice is not None else None


class NewestFirst(StrictCursorPagination):
    ordering: str | tuple[str, ...] = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class ReportsNewestFirst(NewestFirst):
    ordering = ("-day", "-id")


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "occurred_at",
            "actor",
            "actor_label",
            "action",
            "target_type",
            "target_id",
            "outcome",
            "ip_address",
            "user_agent",
            "details",
            "chain_id",
            "position",
            "previous_hash",
            "hash",
        ]
        read_only_fields = fields


class AuditEventFilterSerializer(serializers.Serializer):
    occurred_after = serializers.DateTimeField(required=False, help_text="At or after (ISO 8601)")
    occurred_before = serializers.DateTimeField(required=False, help_text="Before (ISO 8601)")
    actor = serializers.IntegerField(required=False, min_value=1, help_text="The acting user's id")
    actor_label = serializers.CharField(required=False, max_length=150, help_text="The acting username")
    action = serializers.CharField(
        required=False, max_length=64, help_text="An action (e.g. eprescribe.signed), or a prefix ending in '.'"
    )
    outcome = serializers.ChoiceField(choices=Outcome.choices, required=False)
    target_type = serializers.CharField(required=False, max_length=64, help_text="e.g. eprescribe.prescription")
    target_id = serializers.CharField(required=False, max_length=64)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        after, before = attrs.get("occurred_after"), attrs.get("occurred_before")
        if after and before and after >= before:
            raise serializers.ValidationError({"occurred_before": ["Must be after occurred_after."]})
        return attrs


def filter_events(queryset: QuerySet[AuditEvent], params: Any) -> QuerySet[AuditEvent]:
    body = AuditEventFilterSerializer(data={key: params.get(key) for key in params})
    body.is_valid(raise_exception=True)
    values = body.validated_data
    if "occurred_after" in values:
        queryset = queryset.filter(occurred_at__gte=values["occurred_after"])
    if "occurred_before" in values:
        queryset = queryset.filter(occurred_at__lt=values["occurred_before"])
    if "actor" in values:
        queryset = queryset.filter(actor_id=values["actor"])
    if "actor_label" in values:
        queryset = queryset.filter(actor_label=values["actor_label"])
    if "action" in values:
        action = values["action"]
        exact = not action.endswith(".")
        queryset = queryset.filter(action=action) if exact else queryset.filter(action__startswith=action)
    for name in ("outcome", "target_type", "target_id"):
        if name in values:
            queryset = queryset.filter(**{name: values[name]})
    return queryset


FORBIDDEN = OpenApiResponse(
    description="Not an access manager or auditor of the practice (or no practice chosen, or not signed in)"
)


@extend_schema_view(
    list=extend_schema(
        summary="Audit events (access managers and auditors)",
        parameters=[AuditEventFilterSerializer],
        responses={
            200: AuditEventSerializer(many=True),
            400: OpenApiResponse(description="A bad filter value"),
            403: FORBIDDEN,
            404: OpenApiResponse(description="An invalid cursor"),
        },
    ),
    retrieve=extend_schema(
        summary="One audit event",
        responses={200: AuditEventSerializer, 403: FORBIDDEN, 404: OpenApiResponse(description="No such event")},
    ),
)
class AuditEventViewSet(PracticeChainMixin, viewsets.ReadOnlyModelViewSet):
    """The practice's audit trail, read-only."""

    serializer_class = AuditEventSerializer
    permission_classes = [permissions.IsAuthenticated, TokenScopes, MayReadAuditTrail]
    pagination_class = NewestFirst
    api_resource = "audit"  # token scope audit:read (ehr.api_permissions.TokenScopes)

    def get_queryset(self) -> QuerySet[AuditEvent]:
        queryset: QuerySet[AuditEvent] = AuditEvent.objects.filter(chain_id=self.chain_id())
        if getattr(self, "swagger_fake_view", False) or self.practice is None:
            return queryset.none()
        if self.action == "list":
            queryset = filter_events(queryset, self.request.query_params)
        return queryset


class IncidentReportSerializer(serializers.ModelSerializer):
    class Meta:
        model = IncidentReport
        fields = [
            "id",
            "chain_id",
            "day",
            "generated_at",
            "event_count",
            "security_event_count",
            "chain_intact",
            "findings",
            "checkpoint",
        ]
        read_only_fields = fields


@extend_schema_view(
    list=extend_schema(
        summary="Daily incident reports (access managers and auditors)",
        responses={
            200: IncidentReportSerializer(many=True),
            403: FORBIDDEN,
            404: OpenApiResponse(description="An invalid cursor"),
        },
    ),
    retrieve=extend_schema(
        summary="One incident report",
        responses={200: IncidentReportSerializer, 403: FORBIDDEN, 404: OpenApiResponse(description="No such report")},
    ),
)
class IncidentReportViewSet(PracticeChainMixin, viewsets.ReadOnlyModelViewSet):
    """The practice's daily analyses of its audit trail (DEA-14), read-only."""

    serializer_class = IncidentReportSerializer
    permission_classes = [permissions.IsAuthenticated, TokenScopes, MayReadAuditTrail]
    pagination_class = ReportsNewestFirst
    api_resource = "audit"  # token scope audit:read (ehr.api_permissions.TokenScopes)

    def get_queryset(self) -> QuerySet[IncidentReport]:
        if getattr(self, "swagger_fake_view", False) or self.practice is None:
            return IncidentReport.objects.none()
        return IncidentReport.objects.filter(chain_id=self.chain_id()).select_related("checkpoint")
