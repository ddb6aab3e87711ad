"""REST API of the EPCS Permissions Page (same rules as the page; JSON errors).

Every call works inside one practice (`providers.practices.api_practice`: the session's, the
`X-Practice-Id` header's, or the caller's only one; none: 403 saying so). Every object is looked
up through what the caller may see in that practice (ASVS-06, ASVS-11): a request the caller may
not see, or another practice's, is a 404; an action the caller may not take is a 403 with the
reason.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ehr.api import ApiProblem, RejectUnknownFieldsMixin
from ehr.api_scopes import SIGN_SCOPE
from ehr.api_throttle import SENSITIVE_API_THROTTLES
from epcs_access import approvals
from epcs_access import services as svc
from epcs_access.approvals import Decision
from epcs_access.services import RefusalCode
from mfa import challenges
from mfa.models import VerificationChallenge
from mfa.outcomes import http_status
from providers import services
from providers.credentials.rules import has_current_registration
from providers.epcs import epcs_block_reason, permission_for
from providers.models import DeaRegistration, EpcsPermissionRequest, EpcsRequestAction, Practice, Provider
from providers.practices import PRACTICE_HEADER, api_practice
from providers.reauth_api import ReauthenticationRequired, confirm_password_if_given, password_field
from providers.roles import is_access_manager, practice_providers, provider_of

NO_PRACTICE = f"Choose a practice: send the {PRACTICE_HEADER} header with one of your practices' ids."


def practice_of(request: Request) -> Practice:
    """The practice this call works in; none: 403 with what to send."""
    practice = api_practice(request)
    if practice is None:
        raise PermissionDenied(NO_PRACTICE)
    return practice


class PermissionStatusSerializer(serializers.Serializer[Provider]):
    """A prescriber's EPCS status in the practice of the call (`context["practice"]`)."""

    provider_id = serializers.IntegerField(source="pk")
    name = serializers.CharField(source="display_name")
    identity_confirmed = serializers.BooleanField()
    has_current_dea_registration = serializers.SerializerMethodField()
    state = serializers.SerializerMethodField()
    registration = serializers.SerializerMethodField(help_text="The DEA number used in this practice, if named")
    can_sign_epcs = serializers.SerializerMethodField()
    block_reason = serializers.SerializerMethodField()

    def get_has_current_dea_registration(self, provider: Provider) -> bool:
        return has_current_registration(provider)

    def get_state(self, provider: Provider) -> str:
        permission = permission_for(provider, self.context["practice"])
        return permission.state if permission else "none"

    def get_registration(self, provider: Provider) -> str | None:
        permission = permission_for(provider, self.context["practice"])
        return permission.registration.number if permission and permission.registration else None

    def get_can_sign_epcs(self, provider: Provider) -> bool:
        return epcs_block_reason(provider, self.context["practice"]) is None

    def get_block_reason(self, provider: Provider) -> str | None:
        return epcs_block_reason(provider, self.context["practice"])


class PermissionRequestSerializer(serializers.ModelSerializer[EpcsPermissionRequest]):
    provider_id = serializers.IntegerField(read_only=True)
    practice_id = serializers.IntegerField(read_only=True)
    registration = serializers.CharField(source="registration.number", read_only=True, default=None, allow_null=True)
    entered_by = serializers.CharField(source="entered_by.username", read_only=True)
    approved_by = serializers.CharField(source="approved_by.username", read_only=True, default=None, allow_null=True)

    class Meta:
        model = EpcsPermissionRequest
        fields = [
            "id",
            "provider_id",
            "practice_id",
            "action",
            "registration",
            "status",
            "note",
            "entered_by",
            "entered_at",
            "approved_by",
            "approval_challenge_id",
            "approval_device_label",
            "decided_at",
            "decision_reason",
        ]
        read_only_fields = fields


class EnterRequestSerializer(RejectUnknownFieldsMixin, serializers.Serializer[Any]):
    provider_id = serializers.IntegerField(min_value=1, help_text="A prescriber of the practice")
    action = serializers.ChoiceField(choices=EpcsRequestAction.choices)
    registration_id = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        default=None,
        help_text="Grants only: the prescriber's own DEA registration used in this practice (empty: any that counts)",
    )
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class StartApprovalSerializer(RejectUnknownFieldsMixin, serializers.Serializer[Any]):
    device_id = serializers.IntegerField(min_value=1, help_text="One of your own ID.me devices")
    password = password_field(
        "Your EHR password; needed unless this session entered it in the last 15 minutes",
    )


class RejectSerializer(StartApprovalSerializer):
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class CodeSerializer(RejectUnknownFieldsMixin, serializers.Serializer[Any]):
    code = serializers.RegexField(r"^[0-9]{6}$", error_messages={"invalid": "Enter the 6-digit code."})


class ChallengeBodySerializer(serializers.Serializer[Any]):
    """An approval's 2FA challenge as the API reports it."""

    challenge_id = serializers.UUIDField()
    method = serializers.ChoiceField(choices=["code", "push"])
    status = serializers.CharField()
    match_number = serializers.CharField(allow_null=True)
    expires_at = serializers.DateTimeField()
    seconds_left = serializers.IntegerField()
    message = serializers.CharField()
    result = serializers.CharField(required=False)
    attempts_left = serializers.IntegerField(required=False, allow_null=True)
    request = PermissionRequestSerializer(required=False)


def challenge_body(challenge: VerificationChallenge) -> dict[str, Any]:
    return {
        "challenge_id": str(challenge.pk),
        "method": challenge.method,
        "status": challenge.status,
        "match_number": challenge.match_number or None,
        "expires_at": challenge.expires_at,
        "seconds_left": challenges.seconds_left(challenge),
        "message": challenges.status_message(challenge),
    }


def _retry_after(until: dt.datetime | None) -> int:
    """Seconds until a 2FA lock ends (Retry-After); the whole lockout when the end is unknown."""
    if until is None:
        return int(challenges.PROVIDER_LOCKOUT.total_seconds())
    return max(1, math.ceil((until - timezone.now()).total_seconds()))


def _visible_request(request: Request, pk: int) -> EpcsPermissionRequest:
    found = svc.visible_requests(services.signed_in_user(request), practice_of(request)).filter(pk=pk).first()
    if found is None:
        raise Http404("No such request")
    return found


def _own_challenge(
    request: Request, permission_request: EpcsPermissionRequest, challenge_id: Any
) -> VerificationChallenge:
    challenge = approvals.approval_challenge(
        approver=services.signed_in_user(request), permission_request=permission_request, challenge_id=challenge_id
    )
    if challenge is None:
        raise Http404("No such approval")
    return challenge


class EpcsView(APIView):
    """A token needs epcs:read (GET) or epcs:write (otherwise); ehr.api_permissions.TokenScopes."""

    api_resource = "epcs"


class EpcsTwoFactorView(EpcsView):
    """Approving or rejecting EPCS access completes a two-factor step: a token needs `epcs:sign`
    as well as epcs:write (docs/api.md "Scopes"). The 2FA itself is still asked every time."""

    api_extra_scopes = {"post": (SIGN_SCOPE,)}


class PermissionListView(EpcsView):
    """EPCS status in the practice: its every prescriber for its access manager, otherwise only your own."""

    @extend_schema(responses=PermissionStatusSerializer(many=True))
    def get(self, request: Request) -> Response:
        user = services.signed_in_user(request)
        practice = practice_of(request)
        if is_access_manager(user, practice):
            providers = list(practice_providers(practice).select_related("user").order_by("display_name"))
        else:
            own = provider_of(user)
            providers = [own] if own else []
        context = {"practice": practice}
        return Response([PermissionStatusSerializer(provider, context=context).data for provider in providers])


class RequestListView(EpcsView):
    """The requests you may see; access managers enter new ones here."""

    @extend_schema(operation_id="epcs_requests_list", responses=PermissionRequestSerializer(many=True))
    def get(self, request: Request) -> Response:
        items = svc.visible_requests(services.signed_in_user(request), practice_of(request))[:200]
        return Response(PermissionRequestSerializer(items, many=True).data)

    @extend_schema(request=EnterRequestSerializer, responses={201: PermissionRequestSerializer})
    def post(self, request: Request) -> Response:
        user = services.signed_in_user(request)
        practice = practice_of(request)
        try:
            svc.require_access_manager_to_enter(user, practice, request)
        except svc.PermissionRefused as refusal:
            raise PermissionDenied(refusal.message) from refusal
        body = EnterRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        # Only this practice's prescribers: another practice's reads like one that does not exist.
        provider = practice_providers(practice).filter(pk=body.validated_data["provider_id"]).first()
        if provider is None:
            raise serializers.ValidationError({"provider_id": ["No such prescriber."]})
        registration = None
        if body.validated_data["registration_id"] is not None:
            registration = DeaRegistration.objects.filter(
                pk=body.validated_data["registration_id"], provider=provider
            ).first()
            if registration is None:
                raise serializers.ValidationError(
                    {"registration_id": ["Choose one of the prescriber's own DEA registrations."]}
                )
        try:
            created = svc.enter_request(
                actor=user,
                practice=practice,
                provider=provider,
                registration=registration,
                action=body.validated_data["action"],
                note=body.validated_data["note"],
                request=request,
            )
        except svc.PermissionRefused as refusal:
            raise ApiProblem(status.HTTP_409_CONFLICT, str(refusal.code), refusal.message) from refusal
        return Response(PermissionRequestSerializer(created).data, status=status.HTTP_201_CREATED)


class RequestDetailView(EpcsView):
    @extend_schema(responses=PermissionRequestSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(PermissionRequestSerializer(_visible_request(request, pk)).data)


class CancelRequestView(EpcsView):
    @extend_schema(request=None, responses=PermissionRequestSerializer)
    def post(self, request: Request, pk: int) -> Response:
        permission_request = _visible_request(request, pk)
        try:
            done = svc.cancel_request(
                actor=services.signed_in_user(request), permission_request=permission_request, request=request
            )
        except svc.PermissionRefused as refusal:
            raise PermissionDenied(refusal.message) from refusal
        return Response(PermissionRequestSerializer(done).data)


def _start_decision(request: Request, pk: int, decision: Decision, body_class: type[Any]) -> Response:
    """Approve or reject: a recent password (or `password` in the body) and your 2FA (DEA-03)."""
    permission_request = _visible_request(request, pk)
    body = body_class(data=request.data)
    body.is_valid(raise_exception=True)
    try:
        challenge = approvals.start_decision(
            approver=services.signed_in_user(request),
            permission_request=permission_request,
            device_id=body.validated_data["device_id"],
            request=request,
            decision=decision,
            reason=body.validated_data.get("reason", ""),
            check_password=lambda: confirm_password_if_given(request, body.validated_data.get("password")),
        )
    except svc.PermissionRefused as refusal:
        if refusal.code is RefusalCode.CHALLENGE_ERROR:
            raise ApiProblem(status.HTTP_409_CONFLICT, str(refusal.code), refusal.message) from refusal
        if refusal.code is RefusalCode.REAUTHENTICATION_REQUIRED:
            raise ReauthenticationRequired(refusal.message) from refusal
        raise PermissionDenied(refusal.message) from refusal
    return Response(challenge_body(challenge), status=status.HTTP_201_CREATED)


class RejectRequestView(EpcsTwoFactorView):
    """Reject a request: like approving, it needs a recent password and your 2FA; the code is
    sent to the approval's code endpoint."""

    throttle_classes = SENSITIVE_API_THROTTLES

    @extend_schema(request=RejectSerializer, responses={201: ChallengeBodySerializer})
    def post(self, request: Request, pk: int) -> Response:
        return _start_decision(request, pk, Decision.REJECT, RejectSerializer)


class StartApprovalView(EpcsTwoFactorView):
    """Start 2FA on one of your own devices to approve a request (code or push)."""

    throttle_classes = SENSITIVE_API_THROTTLES

    @extend_schema(request=StartApprovalSerializer, responses={201: ChallengeBodySerializer})
    def post(self, request: Request, pk: int) -> Response:
        return _start_decision(request, pk, Decision.APPROVE, StartApprovalSerializer)


class ApprovalStatusView(EpcsView):
    """Where your approval stands (the page's script asks this, never ID.me)."""

    @extend_schema(responses=ChallengeBodySerializer)
    def get(self, request: Request, pk: int, challenge_id: str) -> Response:
        permission_request = _visible_request(request, pk)
        challenge = challenges.expire_if_overdue(_own_challenge(request, permission_request, challenge_id))
        return Response(challenge_body(challenge))


class ApprovalCodeView(EpcsTwoFactorView):
    """Submit the 6-digit code of your approval challenge."""

    throttle_classes = SENSITIVE_API_THROTTLES

    @extend_schema(request=CodeSerializer, responses=ChallengeBodySerializer)
    def post(self, request: Request, pk: int, challenge_id: str) -> Response:
        permission_request = _visible_request(request, pk)
        challenge = _own_challenge(request, permission_request, challenge_id)
        body = CodeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        outcome = challenges.submit_code(challenge, body.validated_data["code"], request=request)
        payload = {
            **challenge_body(outcome.challenge),
            "result": outcome.result,
            "message": outcome.message,
            "attempts_left": outcome.attempts_left,
        }
        if outcome.approved:
            permission_request.refresh_from_db()
            payload["request"] = PermissionRequestSerializer(permission_request).data
            return Response(payload)
        # Refused: a problem (docs/api.md) whose code is the outcome and whose detail is the
        # message, with the challenge's members (its status as `challenge_status`).
        payload.pop("message")
        payload["challenge_status"] = payload.pop("status")
        raise ApiProblem(
            http_status(outcome.result),
            str(outcome.result),
            outcome.message,
            wait=_retry_after(outcome.locked_until) if http_status(outcome.result) == 429 else None,
            **payload,
        )
