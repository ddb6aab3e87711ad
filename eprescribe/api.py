"""REST API for prescriptions: the caller's own (as prescriber) and those they prepared, in
the practice the call works in (`providers.practices.api_practice`: the session's practice,
the `X-Practice-Id` header, or the caller's only practice; none -> 403).

Another provider's or another practice's prescription answers 404 (ASVS-06, ASVS-11); a
patient, prescriber or DEA registration of another practice in a body is "does not exist".
Signing is not offered here: it needs the signing ceremony's two-factor step. Nothing is ever deleted (DEA-17).
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

from ehr.api import RejectUnknownFieldsMixin
from eprescribe import services
from eprescribe.api_filters import NewestFirstCursorPagination, PrescriptionFilterSerializer, filter_prescriptions
from eprescribe.models import Medication, Patient, Pharmacy, Prescription
from providers.models import DeaRegistration, Practice, Provider
from providers.practices import PRACTICE_HEADER, api_practice
from providers.roles import practice_providers
from providers.services import signed_in_user

NO_PRACTICE = f"Choose a practice: send the {PRACTICE_HEADER} header with one of your practices' ids."


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The prescription is not in a state that allows this."
    default_code = "conflict"


class PrescriptionSerializer(RejectUnknownFieldsMixin, serializers.ModelSerializer):
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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        practice: Practice | None = self.context.get("practice")
        if practice is not None:  # only this practice's patients, prescribers and registrations
            prescribers = practice_providers(practice)
            self.fields["patient"].queryset = services.patients_of(practice)  # type: ignore[attr-defined]
            self.fields["prescriber"].queryset = prescribers  # type: ignore[attr-defined]
            self.fields["dea_registration"].queryset = DeaRegistration.objects.filter(  # type: ignore[attr-defined]
                provider__in=prescribers
            )

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


class CancelSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
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
    api_resource = "prescriptions"  # token scopes prescriptions:read / :write (ehr.api_permissions)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self.practice = api_practice(request)
        if self.practice is None:
            raise PermissionDenied(NO_PRACTICE)

    def _practice(self) -> Practice:
        practice: Practice | None = getattr(self, "practice", None)
        if practice is None:
            raise PermissionDenied(NO_PRACTICE)
        return practice

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "practice": getattr(self, "practice", None)}

    pagination_class = NewestFirstCursorPagination

    def get_queryset(self) -> QuerySet[Prescription]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no caller
            return Prescription.objects.none()
        queryset = services.prescriptions_for(signed_in_user(self.request), self._practice()).order_by(
            "-created_at", "-pk"
        )
        if self.action == "list":
            queryset = filter_prescriptions(queryset, self.request.query_params)
        return queryset

    def perform_create(self, serializer: Any) -> None:
        user = signed_in_user(self.request)
        practice = self._practice()
        prescriber = serializer.validated_data.get("prescriber") or Provider.objects.filter(user=user).first()
        if prescriber is None:
            raise PermissionDenied("Only this practice's prescribers and agents can prepare prescriptions.")
        refusal = services.preparation_refusal(user, prescriber, practice)
        if refusal is not None:
            raise PermissionDenied(services.PREPARE_MESSAGES[refusal])
        fields = _content(serializer.validated_data)
        try:
            serializer.instance = services.create_prescription(
                actor=user, prescriber=prescriber, practice=practice, fields=fields, request=self.request
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
                rx, actor=signed_in_user(self.request), practice=self._practice(), changes=changes, request=self.request
            )
        except DjangoValidationError as exc:
            raise _service_errors(exc) from exc
        except services.PrescriptionError as exc:
            raise Conflict(str(exc)) from exc

    @extend_schema(request=None, responses=PrescriptionSerializer)
    @action(detail=True, methods=["post"])
    def ready(self, request: Request, pk: str | None = None) -> Response:
        rx = self.get_object()
        try:
            rx = services.mark_ready(rx, signed_in_user(request), practice=self._practice(), request=request)
        except services.PrescriptionError as exc:
            raise Conflict(str(exc)) from exc
        return Response(PrescriptionSerializer(rx).data)

    @extend_schema(request=CancelSerializer, responses=PrescriptionSerializer)
    @action(detail=True, methods=["post"], serializer_class=CancelSerializer)
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        rx = self.get_object()
        body = CancelSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            rx = services.cancel_prescription(
                rx,
                actor=signed_in_user(request),
                practice=self._practice(),
                reason=body.validated_data["reason"],
                request=request,
            )
        except services.PrescriptionError as exc:
            raise Conflict(str(exc)) from exc
        return Response(PrescriptionSerializer(rx).data)
