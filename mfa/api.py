"""REST API for the caller's own ID.me devices: list, refresh from ID.me, select the primary.

Object-level access control (ASVS-06): every query starts from the caller's provider, so
another provider's device id is simply not found (404). Errors are JSON (ehr.api).
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from ehr.api import RejectUnknownFieldsMixin
from idme_client import IdmeError, IdmeNotFound
from mfa import services
from mfa.models import ProviderDevice
from providers import services as provider_services
from providers.models import Provider
from providers.reauth_api import password_field, require_recent_password


class DeviceSerializer(serializers.ModelSerializer):
    option = serializers.CharField(source="get_kind_display", read_only=True, help_text="As eRx Info shows it")
    display_name = serializers.CharField(
        source="label", read_only=True, help_text="The name, or a description of an unnamed device"
    )

    class Meta:
        model = ProviderDevice
        fields = [
            "id",
            "idme_device_id",
            "name",
            "display_name",
            "kind",
            "option",
            "is_primary",
            "added_at",
            "last_used_at",
            "last_synced_at",
        ]
        read_only_fields = fields


class SelectPrimarySerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    password = password_field()


class SyncResultSerializer(serializers.Serializer):
    linked = serializers.BooleanField()
    summary = serializers.CharField()
    added = serializers.ListField(child=serializers.CharField())
    removed = serializers.ListField(child=serializers.CharField())
    renamed = serializers.ListField(child=serializers.ListField(child=serializers.CharField()))
    primary_removed = serializers.BooleanField()
    synced_at = serializers.DateTimeField(allow_null=True)
    devices = DeviceSerializer(many=True)


class SyncStatusSerializer(serializers.Serializer):
    linked = serializers.BooleanField()
    last_synced_at = serializers.DateTimeField(allow_null=True, help_text="Last successful sync with ID.me")
    last_attempt_at = serializers.DateTimeField(allow_null=True, help_text="Last attempt, successful or not")
    last_error = serializers.CharField(allow_blank=True, help_text="Why the last attempt failed, if it did")
    stale = serializers.BooleanField(help_text="Older than a few minutes: eRx Info queues a background sync")


class IdmeUnreachable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "idme_unavailable"
    default_detail = "ID.me could not be reached; the devices listed are as of the last sync."


class NotLinked(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "not_linked"
    default_detail = "Your EHR account is not linked to ID.me yet, so there are no devices to sync."


class PrimaryBusy(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "Another change to your primary device is in progress. Try again."


@extend_schema_view(
    list=extend_schema(summary="List my ID.me devices", description="The mirror of the caller's ID.me devices."),
    retrieve=extend_schema(summary="One of my ID.me devices", responses={200: DeviceSerializer, 404: None}),
)
class DeviceViewSet(viewsets.ReadOnlyModelViewSet):
    """The caller's ID.me devices as the EHR mirrors them."""

    serializer_class = DeviceSerializer
    pagination_class = None
    api_resource = "mfa"  # token scopes mfa:read / mfa:write (ehr.api_permissions.TokenScopes)

    def provider(self) -> Provider:
        return provider_services.current_provider(self.request)

    def get_queryset(self) -> QuerySet[ProviderDevice]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no caller
            return ProviderDevice.objects.none()
        return ProviderDevice.objects.filter(provider=self.provider()).order_by("added_at", "id")

    @extend_schema(
        summary="Select as the primary device",
        request=SelectPrimarySerializer,
        responses={
            200: DeviceSerializer,
            403: OpenApiResponse(description="reauthentication_required: send your password"),
            404: OpenApiResponse(description="Not one of your devices"),
            409: OpenApiResponse(description="A concurrent change collided; try again"),
            429: OpenApiResponse(description="Too many failed password attempts"),
        },
    )
    @action(detail=True, methods=["post"])
    def primary(self, request: Request, pk: str | None = None) -> Response:
        body = SelectPrimarySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        provider = self.provider()
        try:
            device = services.device_of(provider, int(pk or ""))
        except (ValueError, ProviderDevice.DoesNotExist) as exc:
            raise Http404("No such device among your ID.me devices.") from exc
        require_recent_password(request, body.validated_data.get("password"))
        try:
            device = services.select_primary_device(provider, device.pk, request=request)
        except ProviderDevice.DoesNotExist as exc:  # removed by a sync meanwhile
            raise Http404("No such device among your ID.me devices.") from exc
        except services.PrimaryDeviceBusy as exc:
            raise PrimaryBusy() from exc
        return Response(DeviceSerializer(device).data)

    @extend_schema(summary="When my devices were last synced with ID.me", responses={200: SyncStatusSerializer})
    @action(detail=False, methods=["get"], url_path="sync-status", url_name="sync-status")
    def sync_status(self, request: Request) -> Response:
        provider = self.provider()
        state = services.sync_state(provider)
        data = {
            "linked": bool(provider.idme_uuid),
            "last_synced_at": state.last_synced_at if state else None,
            "last_attempt_at": state.last_attempt_at if state else None,
            "last_error": state.last_error if state else "",
            "stale": bool(provider.idme_uuid) and services.is_stale(state),
        }
        return Response(SyncStatusSerializer(data).data)

    @extend_schema(
        summary="Refresh devices from ID.me",
        request=None,
        responses={
            200: SyncResultSerializer,
            409: OpenApiResponse(description="not_linked: no ID.me account linked (or ID.me no longer lists the link)"),
            503: OpenApiResponse(description="idme_unavailable: ID.me could not be reached"),
        },
    )
    @action(detail=False, methods=["post"])
    def refresh(self, request: Request) -> Response:
        provider = self.provider()
        try:
            result = services.sync_devices(provider, request=request)
        except IdmeNotFound as exc:
            raise NotLinked(services.failure_sentence(exc)) from exc
        except IdmeError as exc:
            raise IdmeUnreachable(
                f"{services.failure_sentence(exc)} The devices listed are as of the last sync."
            ) from exc
        if not result.linked:
            raise NotLinked()
        data = {
            "linked": result.linked,
            "summary": result.summary(),
            "added": list(result.added),
            "removed": list(result.removed),
            "renamed": [list(pair) for pair in result.renamed],
            "primary_removed": result.primary_removed,
            "synced_at": result.synced_at,
            "devices": list(services.devices_for(provider)),  # serialized once, by SyncResultSerializer
        }
        return Response(SyncResultSerializer(data).data)
