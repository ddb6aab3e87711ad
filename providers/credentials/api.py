"""REST API for the caller's own prescriber credentials: DEA registrations and state licenses
(docs/api.md, "Credentials").

The prescriber lists and adds their own. Input is checked by the very forms eRx Info uses
(providers.credentials.forms: the DEA number rule, a future expiry, at least one schedule, the
license number format) and saved by providers.credentials.services, so the rules and the
audit trail are the page's. A credential added here is unverified until an EPCS access manager
other than the prescriber verifies it on the Credential verification page (DEA-20); that step
stays on the page (or the verification API, providers.credentials.verification_api). Another
provider's credential id is 404 (ASVS-06). A person's credentials are theirs in every practice
they work in, so these calls need no practice. Token scopes: credentials:read / credentials:write.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from ehr.api import RejectUnknownFieldsMixin
from providers import services as people
from providers.credentials import services as credentials
from providers.credentials.forms import DeaRegistrationForm, StateLicenseForm
from providers.credentials.rules import license_is_verified, registration_block_reason, registration_is_verified
from providers.models import DeaRegistration, StateLicense

SCHEDULES = credentials.SCHEDULE_FIELDS


class DeaRegistrationSerializer(serializers.ModelSerializer):
    verified = serializers.SerializerMethodField(help_text="Verified against the DEA registry and unchanged since")
    counts = serializers.SerializerMethodField(help_text="Current and verified: may be used to sign")
    status = serializers.SerializerMethodField(help_text="Why it does not count, if it does not")

    class Meta:
        model = DeaRegistration
        fields = ["id", "number", "state", "expires_on", *SCHEDULES, "revoked_at", "verified", "verified_at"]
        fields += ["counts", "status"]
        read_only_fields = fields

    def get_verified(self, obj: DeaRegistration) -> bool:
        return registration_is_verified(obj)

    def get_counts(self, obj: DeaRegistration) -> bool:
        return registration_block_reason(obj) is None

    def get_status(self, obj: DeaRegistration) -> str:
        return registration_block_reason(obj) or ""


class DeaRegistrationInputSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """The body of an added registration (checked again by eRx Info's form)."""

    number = serializers.CharField(max_length=20, help_text="e.g. AS1234563; the DEA check-digit rule applies")
    state = serializers.CharField(max_length=2)
    expires_on = serializers.DateField(help_text="A future date")
    schedule_2 = serializers.BooleanField(default=True)
    schedule_2n = serializers.BooleanField(default=True)
    schedule_3 = serializers.BooleanField(default=True)
    schedule_3n = serializers.BooleanField(default=True)
    schedule_4 = serializers.BooleanField(default=True)
    schedule_5 = serializers.BooleanField(default=True)


class StateLicenseSerializer(serializers.ModelSerializer):
    verified = serializers.SerializerMethodField(help_text="Verified at the state board and unchanged since")

    class Meta:
        model = StateLicense
        fields = ["id", "state", "number", "expires_on", "verified", "verified_at"]
        read_only_fields = fields

    def get_verified(self, obj: StateLicense) -> bool:
        return license_is_verified(obj)


class StateLicenseInputSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    state = serializers.CharField(max_length=2)
    number = serializers.CharField(max_length=40)
    expires_on = serializers.DateField()


def _form_errors(form: Any) -> exceptions.ValidationError:
    errors = {("non_field_errors" if name == "__all__" else name): list(msgs) for name, msgs in form.errors.items()}
    return exceptions.ValidationError(errors)


def _service_errors(exc: DjangoValidationError) -> exceptions.ValidationError:
    return exceptions.ValidationError({"non_field_errors": exc.messages})


def _add_through_form(
    request: Request,
    body_class: type[serializers.Serializer],
    make_form: Callable[[dict[str, Any], Any], Any],
    add: Callable[[Request, Any, dict[str, Any]], Any],
) -> Any:
    """Add a credential of the caller the way eRx Info does: the JSON body, then the page's form
    (its checks and messages), then the service; each refusal is a 400 with field errors."""
    body = body_class(data=request.data)
    body.is_valid(raise_exception=True)
    provider = people.current_provider(request)
    form = make_form({**body.validated_data, "expires_on": body.validated_data["expires_on"].isoformat()}, provider)
    if not form.is_valid():
        raise _form_errors(form)
    try:
        return add(request, provider, form.cleaned_data)
    except DjangoValidationError as exc:
        raise _service_errors(exc) from exc


ADD_ERRORS = {
    400: OpenApiResponse(description="Invalid: the field errors say what (same checks as eRx Info)"),
    403: OpenApiResponse(description="Not signed in"),
}


@extend_schema_view(
    list=extend_schema(summary="My DEA registrations", responses={200: DeaRegistrationSerializer(many=True)}),
    retrieve=extend_schema(
        summary="One of my DEA registrations",
        responses={200: DeaRegistrationSerializer, 404: OpenApiResponse(description="Not one of yours")},
    ),
)
class DeaRegistrationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """The caller's DEA registrations; an added one is unverified until an access manager verifies it."""

    serializer_class = DeaRegistrationSerializer
    pagination_class = None
    api_resource = "credentials"  # token scopes credentials:read / :write (ehr.api_permissions.TokenScopes)

    def get_queryset(self) -> QuerySet[DeaRegistration]:
        if getattr(self, "swagger_fake_view", False):
            return DeaRegistration.objects.none()
        return DeaRegistration.objects.filter(provider=people.current_provider(self.request)).order_by("id")

    @extend_schema(
        summary="Add a DEA registration",
        request=DeaRegistrationInputSerializer,
        responses={201: DeaRegistrationSerializer, **ADD_ERRORS},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        registration = _add_through_form(
            request,
            DeaRegistrationInputSerializer,
            lambda data, provider: DeaRegistrationForm(data, provider=provider),
            credentials.add_dea_registration,
        )
        return Response(DeaRegistrationSerializer(registration).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(summary="My state licenses", responses={200: StateLicenseSerializer(many=True)}),
    retrieve=extend_schema(
        summary="One of my state licenses",
        responses={200: StateLicenseSerializer, 404: OpenApiResponse(description="Not one of yours")},
    ),
)
class StateLicenseViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """The caller's state licenses; an added one is unverified until an access manager verifies it."""

    serializer_class = StateLicenseSerializer
    pagination_class = None
    api_resource = "credentials"  # token scopes credentials:read / :write (ehr.api_permissions.TokenScopes)

    def get_queryset(self) -> QuerySet[StateLicense]:
        if getattr(self, "swagger_fake_view", False):
            return StateLicense.objects.none()
        return StateLicense.objects.filter(provider=people.current_provider(self.request)).order_by("id")

    @extend_schema(
        summary="Add a state license",
        request=StateLicenseInputSerializer,
        responses={201: StateLicenseSerializer, **ADD_ERRORS},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        license_ = _add_through_form(
            request,
            StateLicenseInputSerializer,
            lambda data, provider: StateLicenseForm(data),
            credentials.add_state_license,
        )
        return Response(StateLicenseSerializer(license_).data, status=status.HTTP_201_CREATED)
