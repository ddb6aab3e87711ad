"""REST API for prescriptions: the caller's own (as prescriber) and those they prepared.

Another provider's prescription answers 404 (ASVS-06). Signing is not offered here: it
needs the signing ceremony's two-factor step. Nothing is ever deleted (DEA-17).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from eprescribe import services
from eprescribe.api_filters import NewestFirstCursorPagination, PrescriptionFilterSerializer, filter_prescriptions
from eprescribe.models import Medication, Patient, Pharmacy, Prescription
from providers.models import DeaRegistration, Provider
from providers.services import signed_in_user


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The prescription is not in a state that allows this."
    default_code = "conflict"


class PrescriptionSerializer(serializers.ModelSerializer):
    patient = serializers.PrimaryKeyRelatedField(queryset=Patient.objects.all())
    medication = serializers.PrimaryKeyRelatedField(queryset=Medication.objects.all())
    pharmacy = serializers.PrimaryKeyRelatedField(queryset=Pharmacy.objects.all())
    dea_registration = serializers.PrimaryKeyRelatedField(
        queryset=DeaRegistration.objects.all(), required=False, allow_null=True
    )
    prescriber = serializers.PrimaryKeyRelatedField(queryset=Provider.objects.all(), required=False)
    earliest_fill_date = serializers.DateField(required=False, allow_null=True)
    refills = serializers.IntegerField(min_value=0, max_value=99, required=False, default=0)
    quantity = serializers.IntegerField(min_value=1, max_value=9999)
    state_display = serializers.CharField(source="get_state_display", read_only=True)
    medication_display = serializers.CharField(source="medication.__str__", read_only=True)
    patient_name = serializers.CharField(source="patient.full_name", read_only=True)

    class Meta:
        model = Prescription
        fields = [
            "id",
            "uuid",
            "state",
            "state_display",
            "prescriber",
            "patient",
            "patient_name",
            "medication",
            "medication_display",
            "dea_registration",
            "quantity",
            "quantity_unit",
            "directions",
            "refills",
            "earliest_fill_date",
            "pharmacy",
            "written_date",
            "created_at",
            "ready_at",
            "signed_at",
            "digest_sha256",
            "signing_key_id",
            "transmitted_at",
            "transmission_error",
            "cancelled_at",
            "cancel_reason",
        ]
        read_only_fields = [
            "id",
            "uuid",
            "state",
            "written_date",
            "created_at",
            "ready_at",
            "signed_at",
            "digest_sha256",
            "signing_key_id",
            "transmitted_at",
            "transmission_error",
            "cancelled_at",
            "cancel_reason",
        ]


class CancelSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


def _content(validated: dict[str, Any]) -> dict[str, Any]:
    """The prescription content fields the body carried (a PATCH carries only some)."""
    return {name: validated[name] for name in services.CONTENT_FIELDS if name in validated}


def _service_errors(exc: DjangoValidationError) -> ValidationError:
    if hasattr(exc, "error_dict"):
        return ValidationError(exc.message_dict)
    return ValidationError({"non_field_errors": exc.messages})


@extend_schema_view(
    list=extend_schema(
        summary="List prescriptions (filters, cursor pagination)",
        parameters=[PrescriptionFilterSerializer],
        responses={200: PrescriptionSerializer(many=True), 400: OpenApiResponse(description="A bad filter value")},
    )
)
class PrescriptionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Prescriptions: list, detail, create and update (drafts and ready ones), ready, cancel."""

    serializer_class = PrescriptionSerializer
    pagination_class = NewestFirstCursorPagination

    def get_queryset(self) -> QuerySet[Prescription]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no caller
            return Prescription.objects.none()
        queryset = services.prescriptions_for(signed_in_user(self.request)).order_by("-created_at", "-pk")
        if self.action == "list":
            queryset = filter_prescriptions(queryset, self.request.query_params)
        return queryset

    def perform_create(self, serializer: Any) -> None:
        user = signed_in_user(self.request)
        prescriber = serializer.validated_data.get("prescriber") or Provider.objects.filter(user=user).first()
        if prescriber is None:
            raise PermissionDenied("Only prescribers and their staff can prepare prescriptions.")
        if not services.may_prepare_for(user, prescriber):
            raise PermissionDenied("You may prepare prescriptions only for yourself.")
        fields = _content(serializer.validated_data)
        try:
            serializer.instance = services.create_prescription(
                actor=user, prescriber=prescriber, fields=fields, request=self.request
            )
        except DjangoValidationError as exc:
            raise _service_errors(exc) from exc
        except services.PrescriptionError as exc:
            raise PermissionDenied(str(exc)) from exc

    def perform_update(self, serializer: Any) -> None:
        rx: Prescription = serializer.instance
        if "prescriber" in serializer.validated_data and serializer.validated_data["prescriber"] != rx.prescriber:
            raise ValidationError({"prescriber": ["The prescriber of a prescription cannot be changed."]})
        changes = _content(serializer.validated_data)
        try:
            serializer.instance = services.update_prescription(
                rx, actor=signed_in_user(self.request), changes=changes, request=self.request
            )
        except DjangoValidationError as exc:
            raise _service_errors(exc) from exc
        except services.PrescriptionError as exc:
            raise Conflict(str(exc)) from exc

    @action(detail=True, methods=["post"])
    def ready(self, request: Request, pk: str | None = None) -> Response:
        rx = self.get_object()
        try:
            rx = services.mark_ready(rx, signed_in_user(request), request=request)
        except services.PrescriptionError as exc:
            raise Conflict(str(exc)) from exc
        return Response(PrescriptionSerializer(rx).data)

    @action(detail=True, methods=["post"], serializer_class=CancelSerializer)
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        rx = self.get_object()
        body = CancelSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            rx = services.cancel_prescription(
                rx, actor=signed_in_user(request), reason=body.validated_data["reason"], request=request
            )
        except services.PrescriptionError as exc:
            raise Conflict(str(exc)) from exc
        return Response(PrescriptionSerializer(rx).data)
