"""REST API for EPCS access managers' credential verification (DEA-20; docs/api.md).

The same steps as the Credential verification page (providers.credentials.verification_views),
through the same service (providers.credentials.verification): the list of what waits, a DEA
registration checked against the DEA registry, a state license recorded as checked at the
board. Every call works inside one practice (`providers.practices.api_practice`: the
session's, the `X-Practice-Id` header's, or the only one; none: 403), as the page does: only
that practice's access managers (`providers.roles.is_access_manager(user, practice)`) get past
the first check (403 otherwise, audited as on the page), and only the credentials of that
practice's people (`verification.people_of`) are seen; any other credential id is 404
(ASVS-11). Verifying one's own credential is refused by the service (403). Like the page, a
verification needs a password entered in the last 15 minutes: a recent browser sign-in or
`password` in the body. Token scopes: credentials:read / credentials:write.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

import audit
from audit.models import Outcome
from ehr.api import ApiProblem, RejectUnknownFieldsMixin
from providers.credentials import verification
from providers.credentials.api import DeaRegistrationSerializer, StateLicenseSerializer
from providers.credentials.forms import LicenseVerificationForm
from providers.models import DeaRegistration, Practice, StateLicense, User
from providers.practices import PRACTICE_HEADER, api_practice
from providers.reauth_api import password_field, require_recent_password
from providers.roles import is_access_manager

NOT_MANAGER = "Only an EPCS access manager can verify prescriber credentials."
NO_PRACTICE = f"Choose a practice: send the {PRACTICE_HEADER} header with one of your practices' ids."

_STATUS = {
    verification.RefusalCode.NOT_ACCESS_MANAGER: status.HTTP_403_FORBIDDEN,
    verification.RefusalCode.OWN_CREDENTIAL: status.HTTP_403_FORBIDDEN,
    verification.RefusalCode.REGISTRY_UNAVAILABLE: status.HTTP_503_SERVICE_UNAVAILABLE,
    verification.RefusalCode.MISSING_SOURCE: status.HTTP_400_BAD_REQUEST,
}


def _problem(refusal: verification.VerificationRefused) -> ApiProblem:
    """The service's refusal as a problem; a registry mismatch lists the fields that differ."""
    members: dict[str, Any] = {"mismatches": [m.as_json() for m in refusal.mismatches]} if refusal.mismatches else {}
    return ApiProblem(
        _STATUS.get(refusal.code, status.HTTP_409_CONFLICT), str(refusal.code), refusal.message, **members
    )


class PasswordSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    password = password_field()


class LicenseCheckSerializer(PasswordSerializer):
    source = serializers.CharField(  # type: ignore[assignment]  # a field named "source", not Field.source
        max_length=200, help_text="The state board and how it was checked"
    )
    reference = serializers.CharField(max_length=100, help_text="The board's reference or lookup id")


class PendingDeaSerializer(DeaRegistrationSerializer):
    provider = serializers.IntegerField(source="provider_id")
    provider_name = serializers.CharField(source="provider.name_for_erx")

    class Meta(DeaRegistrationSerializer.Meta):
        fields = [*DeaRegistrationSerializer.Meta.fields, "provider", "provider_name"]
        read_only_fields = fields


class PendingLicenseSerializer(StateLicenseSerializer):
    provider = serializers.IntegerField(source="provider_id")
    provider_name = serializers.CharField(source="provider.name_for_erx")

    class Meta(StateLicenseSerializer.Meta):
        fields = [*StateLicenseSerializer.Meta.fields, "provider", "provider_name"]
        read_only_fields = fields


class PendingSerializer(serializers.Serializer):
    dea_registrations = PendingDeaSerializer(many=True)
    state_licenses = PendingLicenseSerializer(many=True)


def _practice(request: Request) -> Practice:
    practice = api_practice(request)
    if practice is None:
        raise exceptions.PermissionDenied(NO_PRACTICE)
    return practice


def _manager(request: Request, practice: Practice) -> User:
    """The caller, an access manager of `practice`; otherwise 403, audited in its chain."""
    user = request.user
    if not is_access_manager(user, practice):
        audit.record(
            "credentials.verification_page_refused",
            outcome=Outcome.DENIED,
            request=request,
            chain=practice,
            details={"reason": NOT_MANAGER, "via": "api"},
        )
        raise exceptions.PermissionDenied(NOT_MANAGER)
    assert isinstance(user, User)
    return user


REFUSALS = {
    400: OpenApiResponse(description="Invalid body"),
    403: OpenApiResponse(
        description="Not an access manager of the practice (or none chosen), your own credential, or "
        "reauthentication_required"
    ),
    404: OpenApiResponse(description="No such credential among the practice's people"),
    409: OpenApiResponse(description="The registry or the record disagrees (mismatch, revoked, expired, not found)"),
    429: OpenApiResponse(description="Too many failed password attempts"),
}


class VerificationView(APIView):
    api_resource = "credentials"  # credentials:read / :write (ehr.api_permissions.TokenScopes)


class UnverifiedCredentialsView(VerificationView):
    @extend_schema(
        summary="Credentials of the practice's people waiting for verification (access managers)",
        responses={200: PendingSerializer, 403: OpenApiResponse(description="Not an access manager of the practice")},
    )
    def get(self, request: Request) -> Response:
        practice = _practice(request)
        _manager(request, practice)
        pending = verification.unverified_credentials(practice)
        data = {"dea_registrations": pending.registrations, "state_licenses": pending.licenses}
        return Response(PendingSerializer(data).data)


class VerifyDeaRegistrationView(VerificationView):
    @extend_schema(
        summary="Verify a DEA registration against the DEA registry (access managers)",
        request=PasswordSerializer,
        responses={200: DeaRegistrationSerializer, **REFUSALS, 503: OpenApiResponse(description="Registry down")},
    )
    def post(self, request: Request, pk: int) -> Response:
        practice = _practice(request)
        actor = _manager(request, practice)
        body = PasswordSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        people = verification.people_of(practice)
        registration = DeaRegistration.objects.select_related("provider__user").filter(provider__in=people, pk=pk)
        found = registration.first()
        if found is None:
            raise exceptions.NotFound("No such DEA registration.")
        require_recent_password(request, body.validated_data.get("password"))
        try:
            found = verification.verify_dea_registration(
                actor=actor, registration=found, practice=practice, request=request
            )
        except verification.VerificationRefused as refusal:
            raise _problem(refusal) from refusal
        return Response(DeaRegistrationSerializer(found).data)


class VerifyStateLicenseView(VerificationView):
    @extend_schema(
        summary="Record a state license as checked at the state board (access managers)",
        request=LicenseCheckSerializer,
        responses={200: StateLicenseSerializer, **REFUSALS},
    )
    def post(self, request: Request, pk: int) -> Response:
        practice = _practice(request)
        actor = _manager(request, practice)
        body = LicenseCheckSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        people = verification.people_of(practice)
        license_ = StateLicense.objects.select_related("provider__user").filter(provider__in=people, pk=pk).first()
        if license_ is None:
            raise exceptions.NotFound("No such state license.")
        form = LicenseVerificationForm(
            {"source": body.validated_data["source"], "reference": body.validated_data["reference"]}
        )
        if not form.is_valid():
            raise exceptions.ValidationError({name: [str(m) for m in msgs] for name, msgs in form.errors.items()})
        require_recent_password(request, body.validated_data.get("password"))
        try:
            license_ = verification.verify_state_license(
                actor=actor,
                license_=license_,
                source=form.cleaned_data["source"],
                reference=form.cleaned_data["reference"],
                practice=practice,
                request=request,
            )
        except verification.VerificationRefused as refusal:
            raise _problem(refusal) from refusal
        return Response(StateLicenseSerializer(license_).data)
