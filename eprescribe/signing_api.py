"""Signing sessions: the EPCS signing ceremony through the REST API (docs/api.md).

A signing session *is* a signing ceremony (models.SigningCeremony); this module only speaks
JSON. Every rule is the page's, called where it lives (eprescribe.ceremony and the
ceremony_* modules, mfa.challenges):

- POST /signing-sessions/ checks the selection (one patient's READY controlled prescriptions
  written by the caller, DEA-05, DEA-08), binds a new ceremony to the review it returns
  (ceremony_binding.open_ceremony, DEA-19) and starts the 2FA on the chosen device (the
  primary by default): a code challenge for a code generator, a push for a phone.
- POST .../code/ answers with a 6-digit code: checked by ID.me through
  mfa.challenges.submit_code, which counts wrong codes in the one limiter the page uses
  (NIST-02); success signs in the same transaction (ceremony_completion, DEA-11).
- GET .../?wait=N long-polls: it re-reads the session's state every WAIT_INTERVAL_SECONDS
  and answers as soon as it changes, or after N seconds (at most MAX_WAIT_SECONDS). Push
  answers are applied by the push poller (mfa.tasks), exactly as for the page.
- The first factor (DEA-01) is what the page asks: a browser session signed in within the
  session limits, or the caller's password in the body of the call that starts or answers
  the 2FA (a token alone is not the password).

Every call works inside one practice (`providers.practices.api_practice`: the session's, the
`X-Practice-Id` header's, or the caller's only one; none: 403 saying so), the ceremony's
practice, as on the page: the selection is of that practice's prescriptions, the review shows
its address, and its audit events go to its chain. Another user's session id, and one opened
in another practice, is 404 (ASVS-06, ASVS-11): every lookup starts from the caller's
provider and the practice.

Tokens (docs/api.md "Authentication"): `prescriptions:read` to read a session,
`prescriptions:write` to change one, plus `epcs:sign` on the calls that start or answer the
2FA (create, code, push); those calls also have the stricter rate limit of two-factor steps
(`SENSITIVE_API_THROTTLES`). Refusals are problem details (ehr.api).
"""

from __future__ import annotations

import time
import uuid
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.http import Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle

import audit
from audit.models import Outcome
from ehr.api import ApiProblem
from ehr.api_scopes import SIGN_SCOPE
from ehr.api_throttle import SENSITIVE_API_THROTTLES
from eprescribe import ceremony as page
from eprescribe import ceremony_binding as binding
from eprescribe import ceremony_selection as selection
from eprescribe.models import CeremonyEnd, CeremonyState, Prescription, SigningCeremony
from eprescribe.signing_serializers import (
    SigningCodeSerializer,
    SigningPushSerializer,
    SigningSessionCreateSerializer,
    SigningSessionSerializer,
)
from mfa import challenges
from mfa.models import ChallengeMethod, ChallengeStatus, DeviceKind, ProviderDevice, VerificationChallenge
from mfa.outcomes import StartRefusal, http_status
from mfa.services import MirrorReadiness, ensure_mirror, primary_device
from mfa.tasks import ensure_push_poller
from providers import services as people
from providers.models import Practice, Provider
from providers.practices import PRACTICE_HEADER, api_practice
from providers.reauth import authenticated_within
from providers.reauth_api import ReauthenticationRequired, confirm_password_if_given

MAX_WAIT_SECONDS = 25
WAIT_INTERVAL_SECONDS = 0.5


class SessionStatus(StrEnum):
    OPEN = "open"
    AWAITING_CODE = "awaiting_code"
    AWAITING_PUSH = "awaiting_push"
    SIGNED = "signed"
    ENDED = "ended"
    DENIED = "denied"
    EXPIRED = "expired"
    FAILED = "failed"
    CANCELLED = "cancelled"


WAITING = (SessionStatus.OPEN, SessionStatus.AWAITING_CODE, SessionStatus.AWAITING_PUSH)
CHECKING_DEVICES_MESSAGE = "ID.me cannot be reached right now to check your devices. Try again in a moment."
NO_PRACTICE = f"Choose a practice: send the {PRACTICE_HEADER} header with one of your practices' ids."
FIRST_FACTOR_MESSAGE = (
    "Signing needs your EHR password as well as your ID.me device: send it as 'password' "
    "(this is not a browser session signed in within the session limits)."
)


def _problem(detail: str, code: str, status_code: int, retry_after: int | None = None) -> ApiProblem:
    """A refusal with the status and the typed code the 2FA or the ceremony gave (a problem
    body; Retry-After when the 2FA is locked)."""
    return ApiProblem(status_code, code, detail, wait=retry_after or None)


def _refused(
    request: Request, practice: Practice, reason: str, code: str, status_code: int, target: Any = None
) -> ApiProblem:
    """Audit a refusal as the page does (in the practice's chain), and the error to raise."""
    audit.record(
        "eprescribe.signing_refused",
        request=request,
        outcome=Outcome.DENIED,
        target=("eprescribe.ceremony", target) if target else None,
        chain=practice,
        details={"reason": reason, "via": "api"},
    )
    return _problem(reason, code, status_code)


def _retry_after(until: Any) -> int | None:
    return max(1, int((until - timezone.now()).total_seconds())) if until is not None else None


def _start_refused(provider: Provider, exc: challenges.ChallengeError) -> ApiProblem:
    """A 2FA that could not start, with mfa's status for its code (and Retry-After when locked)."""
    until = challenges.provider_locked_until(provider) if exc.code == StartRefusal.LOCKED else None
    return _problem(str(exc), str(exc.code), http_status(exc.code), _retry_after(until))


def _require_first_factor(request: Request, password: str | None) -> None:
    """DEA-01 / NIST-07: the password factor, as the page requires it (a sign-in within the
    session limits), or the password sent with this call (through the one password limiter)."""
    confirm_password_if_given(request, password)
    if not authenticated_within(request, settings.SESSION_COOKIE_AGE):
        raise ReauthenticationRequired(FIRST_FACTOR_MESSAGE)


def _session_id(raw: str | None) -> uuid.UUID:
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise Http404("No such signing session.") from None


def _status(ceremony: SigningCeremony, challenge: VerificationChallenge | None) -> SessionStatus:
    if ceremony.state == CeremonyState.SIGNED or (
        challenge is not None and challenge.status == ChallengeStatus.APPROVED
    ):
        return SessionStatus.SIGNED
    if ceremony.state == CeremonyState.ENDED:
        return SessionStatus.ENDED
    if challenge is None:
        return SessionStatus.OPEN
    if challenge.status == ChallengeStatus.PENDING:
        return SessionStatus.AWAITING_PUSH if challenge.method == ChallengeMethod.PUSH else SessionStatus.AWAITING_CODE
    return SessionStatus(challenge.status)


def _device_data(challenge: VerificationChallenge | None) -> dict[str, Any] | None:
    device = challenge.device if challenge is not None else None
    if device is None:
        return None
    return {"id": device.pk, "display_name": device.label, "kind": device.kind}


def _ceremony(provider: Provider, practice: Practice, ceremony_id: uuid.UUID) -> SigningCeremony:
    """The provider's own session of this practice; 404 for anyone else's and for one opened
    in another practice (ASVS-06, ASVS-11)."""
    try:
        return binding.ceremony_of(provider, practice, ceremony_id)
    except SigningCeremony.DoesNotExist:
        raise Http404("No such signing session.") from None


def represent(request: Request, provider: Provider, practice: Practice, ceremony_id: uuid.UUID) -> dict[str, Any]:
    """The session as the API shows it; like the page, looking at it ends an open session
    whose prescriptions no longer match the review (a change made outside the services)."""
    ceremony = _ceremony(provider, practice, ceremony_id)
    prescriptions = page._current(request, ceremony)
    challenge = page._latest_challenge(provider, ceremony_id)
    state = _status(ceremony, challenge)
    if state == SessionStatus.AWAITING_PUSH:
        ensure_push_poller()
    message = ""
    if state == SessionStatus.ENDED:
        message = page.ended_message(ceremony, prescriptions)
    elif challenge is not None and state not in (*WAITING, SessionStatus.SIGNED):
        message = challenges.status_message(challenge)
    digests = binding.reviewed_digests(ceremony)
    show_review = bool(prescriptions) and state != SessionStatus.ENDED
    return {
        "id": ceremony.pk,
        "status": str(state),
        "message": message,
        "reviewed_at": ceremony.reviewed_at,
        "end_reason": ceremony.end_reason,
        "changed_prescriptions": ceremony.changed_prescription_ids,
        "review": selection.build_review(provider, ceremony.practice, prescriptions) if show_review else None,
        "statement": page.DEA_STATEMENT,
        "binding": {
            "binding_sha256": ceremony.binding_sha256,
            "signer_sha256": ceremony.signer_sha256,
            "statement_sha256": ceremony.statement_sha256,
            "prescriptions": [{"prescription": pk, "content_sha256": digest} for pk, digest in digests.items()],
        },
        "prescriptions": [{"id": rx.pk, "state": rx.state} for rx in prescriptions],
        "device": _device_data(challenge),
        "method": challenge.method if challenge is not None else None,
        "match_number": challenge.match_number if challenge is not None else "",
        "expires_at": challenge.expires_at if challenge is not None and challenge.is_pending else None,
        "seconds_left": challenges.seconds_left(challenge) if challenge is not None and challenge.is_pending else 0,
    }


def _state_key(provider: Provider, practice: Practice, ceremony_id: uuid.UUID) -> tuple[Any, ...]:
    """What a long-poll watches: the ceremony's state and its latest 2FA request's status."""
    mine = SigningCeremony.objects.filter(pk=ceremony_id, provider=provider, practice=practice)
    state = mine.values_list("state", flat=True).first()
    challenge = page._latest_challenge(provider, ceremony_id)
    return (state, challenge.pk if challenge else None, challenge.status if challenge else None)


def _device(provider: Provider, device_id: int | None, kind: str | None = None) -> ProviderDevice | None:
    queryset = ProviderDevice.objects.filter(provider=provider)
    if kind is not None:
        queryset = queryset.filter(kind=kind)
    if device_id is not None:
        return queryset.filter(pk=device_id).first()
    return None


def _start_two_factor(
    request: Request, provider: Provider, ceremony_id: uuid.UUID, prescriptions: list[Prescription], device: Any
) -> None:
    """Start the code challenge or send the push, as the page's buttons do."""
    subject = binding.subject_for(ceremony_id)
    context = page._challenge_context(prescriptions, ceremony_id)
    try:
        if device.kind == DeviceKind.PUSH:
            title, message = selection.push_summary(prescriptions)
            challenges.start_push_challenge(
                provider=provider,
                device=device,
                purpose=selection.PURPOSE,
                subject=subject,
                title=title,
                message=message,
                context=context,
                request=request,
            )
        else:
            challenges.start_code_challenge(
                provider=provider,
                device=device,
                purpose=selection.PURPOSE,
                subject=subject,
                context=context,
                request=request,
            )
    except challenges.ChallengeError as exc:
        raise _start_refused(provider, exc) from exc


def _ready(request: Request, provider: Provider, ceremony: SigningCeremony) -> list[Prescription]:
    """The session's prescriptions if the 2FA may start now; else the page's reason, as a 4xx."""
    prescriptions, reason = page.ready_to_sign(request, provider, ceremony)
    if reason:
        practice, ceremony_id = ceremony.practice, ceremony.pk
        if ceremony.state == CeremonyState.SIGNED:
            raise _refused(request, practice, reason, "already_signed", status.HTTP_409_CONFLICT, ceremony_id)
        if ceremony.state != CeremonyState.OPEN:
            raise _refused(request, practice, reason, "ended", status.HTTP_409_CONFLICT, ceremony_id)
        if reason == selection.unavailable_reason():
            raise _refused(
                request, practice, reason, "signing_unavailable", status.HTTP_503_SERVICE_UNAVAILABLE, ceremony_id
            )
        raise _refused(request, practice, reason, "not_signable", status.HTTP_400_BAD_REQUEST, ceremony_id)
    return prescriptions


ERRORS = {
    400: OpenApiResponse(description="invalid body, wrong or reused code, or the prescriptions cannot be signed now"),
    403: OpenApiResponse(
        description="reauthentication_required: send your password (the first factor, DEA-01); or no practice "
        "chosen (send X-Practice-Id), or the token lacks a scope"
    ),
    404: OpenApiResponse(description="No such signing session (another user's or another practice's is not found)"),
    409: OpenApiResponse(description="The session ended (a prescription changed after the review), or the 2FA ended"),
    429: OpenApiResponse(description="Too many wrong codes: 2FA is locked for a while (Retry-After); or throttled"),
    503: OpenApiResponse(description="ID.me, the signing key or the audit trail is unavailable; nothing was signed"),
}


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: ERRORS[code] for code in codes}


# The calls that start or answer the 2FA: `epcs:sign` for a token, the stricter rate limit.
TWO_FACTOR_ACTIONS = ("create", "code", "push")


class SigningSessionViewSet(viewsets.ViewSet):
    """Sign controlled-substance prescriptions: review, DEA statement and 2FA (docs/api.md)."""

    lookup_value_regex = "[^/]+"
    api_resource = "prescriptions"  # prescriptions:read / :write (ehr.api_permissions.TokenScopes)
    api_extra_scopes = {action_name: (SIGN_SCOPE,) for action_name in TWO_FACTOR_ACTIONS}
    practice: Practice
    _chain: Any = None  # the audit chain entered for this call (initial -> finalize_response)

    def get_throttles(self) -> list[BaseThrottle]:
        if getattr(self, "action", None) in TWO_FACTOR_ACTIONS:
            return [throttle() for throttle in SENSITIVE_API_THROTTLES]
        return super().get_throttles()

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """The practice the call works in (none: 403); the call's audit events go to its chain
        (a token call has no session practice, and the header may name another practice)."""
        super().initial(request, *args, **kwargs)
        practice = api_practice(request)
        if practice is None:
            raise exceptions.PermissionDenied(NO_PRACTICE)
        self.practice = practice
        self._chain = audit.in_chain(practice)
        self._chain.__enter__()

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        chain = getattr(self, "_chain", None)
        if chain is not None:
            self._chain = None
            chain.__exit__(None, None, None)
        return super().finalize_response(request, response, *args, **kwargs)

    def _provider(self) -> Provider:
        return people.current_provider(self.request)

    def _represent(self, provider: Provider, ceremony_id: uuid.UUID) -> dict[str, Any]:
        return SigningSessionSerializer(represent(self.request, provider, self.practice, ceremony_id)).data

    @extend_schema(
        summary="Open a signing session",
        description="Bind a new signing session to the review of one patient's ready controlled prescriptions "
        "of the practice and start the 2FA on the chosen device (your primary by default): for a code "
        "generator, then submit the code; for a phone, a push with a match number is sent. A token needs "
        "prescriptions:write and epcs:sign.",
        request=SigningSessionCreateSerializer,
        responses={201: SigningSessionSerializer, **_errors(400, 403, 404, 409, 429, 503)},
    )
    def create(self, request: Request) -> Response:
        body = SigningSessionCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        provider = self._provider()
        practice = self.practice
        _require_first_factor(request, body.validated_data.get("password"))
        try:
            ids = selection.parse_ids(str(pk) for pk in body.validated_data["prescriptions"])
            prescriptions = selection.load_selection(provider, practice, ids)
        except selection.SelectionError as exc:
            if exc.not_found:
                raise _refused(request, practice, str(exc), "not_found", status.HTTP_404_NOT_FOUND) from exc
            raise _refused(request, practice, str(exc), "not_signable", status.HTTP_400_BAD_REQUEST) from exc
        # As the page: a device mirror never synced is synced first, so nobody is told they have no device.
        mirror = ensure_mirror(provider, request)
        device_id = body.validated_data.get("device")
        device = _device(provider, device_id) if device_id is not None else primary_device(provider)
        if device is None:
            if mirror == MirrorReadiness.UNREACHABLE:
                raise _problem(CHECKING_DEVICES_MESSAGE, "idme_unavailable", status.HTTP_503_SERVICE_UNAVAILABLE)
            if device_id is not None:
                raise exceptions.ValidationError({"device": ["Not one of your ID.me devices."]})
            raise _problem(
                "You have no primary ID.me device. Add one on eRx Info, or name a device.",
                "no_device",
                status.HTTP_409_CONFLICT,
            )
        unavailable = selection.unavailable_reason()
        if unavailable:
            raise _refused(request, practice, unavailable, "signing_unavailable", status.HTTP_503_SERVICE_UNAVAILABLE)
        ceremony = binding.open_ceremony(provider, practice, prescriptions, request=request)
        _start_two_factor(request, provider, ceremony.pk, prescriptions, device)
        return Response(self._represent(provider, ceremony.pk), status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="A signing session's status (long-poll)",
        description=f"With ?wait=N (0 to {MAX_WAIT_SECONDS} seconds) the answer comes as soon as the session's "
        "state changes (a push approved or denied, the session signed or ended), or after N seconds.",
        parameters=[
            OpenApiParameter(
                "wait",
                OpenApiTypes.INT,
                OpenApiParameter.QUERY,
                description=f"Seconds to wait for a change, 0 to {MAX_WAIT_SECONDS} (default 0)",
            )
        ],
        responses={200: SigningSessionSerializer, **_errors(400, 404)},
    )
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        ceremony_id = _session_id(pk)
        raw_wait = request.query_params.get("wait", "0")
        if not raw_wait.isdigit() or int(raw_wait) > MAX_WAIT_SECONDS:
            raise exceptions.ValidationError({"wait": [f"A whole number of seconds from 0 to {MAX_WAIT_SECONDS}."]})
        provider = self._provider()
        data = self._represent(provider, ceremony_id)
        deadline = time.monotonic() + int(raw_wait)
        if data["status"] in WAITING and time.monotonic() < deadline:
            seen = _state_key(provider, self.practice, ceremony_id)
            while time.monotonic() < deadline:
                time.sleep(max(0.0, min(WAIT_INTERVAL_SECONDS, deadline - time.monotonic())))
                if _state_key(provider, self.practice, ceremony_id) != seen:
                    break
            data = self._represent(provider, ceremony_id)
        return Response(data)

    @extend_schema(
        summary="Submit the 6-digit code",
        description="Checked by ID.me; a right code signs every prescription of the session and queues it for "
        "transmission. Wrong codes count against the same limits as on the page. A token needs "
        "prescriptions:write and epcs:sign.",
        request=SigningCodeSerializer,
        responses={200: SigningSessionSerializer, **_errors(400, 403, 404, 409, 429, 503)},
    )
    @action(detail=True, methods=["post"])
    def code(self, request: Request, pk: str | None = None) -> Response:
        ceremony_id = _session_id(pk)
        provider = self._provider()
        ceremony = _ceremony(provider, self.practice, ceremony_id)  # another's: 404 before anything else
        body = SigningCodeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        _require_first_factor(request, body.validated_data.get("password"))
        device = self._code_device(provider, ceremony_id, body.validated_data.get("device"))
        prescriptions = _ready(request, provider, ceremony)
        try:
            challenge = challenges.start_code_challenge(
                provider=provider,
                device=device,
                purpose=selection.PURPOSE,
                subject=binding.subject_for(ceremony_id),
                context=page._challenge_context(prescriptions, ceremony_id),
                request=request,
            )
        except challenges.ChallengeError as exc:
            raise _start_refused(provider, exc) from exc
        outcome = challenges.submit_code(challenge, body.validated_data["code"], request=request)
        if outcome.approved:
            return Response(self._represent(provider, ceremony_id))
        if outcome.refusal_code in CeremonyEnd.values:
            ceremony = _ceremony(provider, self.practice, ceremony_id)
            current = binding.current_prescriptions(ceremony)
            raise _problem(page.ended_message(ceremony, current), "ended", status.HTTP_409_CONFLICT)
        retry_after = _retry_after(outcome.locked_until)
        raise _problem(outcome.message, str(outcome.result), http_status(outcome.result), retry_after)

    def _code_device(self, provider: Provider, ceremony_id: uuid.UUID, device_id: int | None) -> ProviderDevice:
        """The named code generator, else the session's, else the primary, else the first one."""
        if device_id is not None:
            device = _device(provider, device_id, DeviceKind.TOTP)
            if device is None:
                raise exceptions.ValidationError({"device": ["Choose one of your code generators."]})
            return device
        latest = page._latest_challenge(provider, ceremony_id)
        candidates = [latest.device if latest is not None else None, primary_device(provider)]
        for candidate in candidates:
            if candidate is not None and candidate.kind == DeviceKind.TOTP:
                return candidate
        generators = ProviderDevice.objects.filter(provider=provider, kind=DeviceKind.TOTP)
        first = generators.order_by("added_at", "id").first()
        if first is None:
            raise exceptions.ValidationError({"device": ["You have no code generator. Add one on eRx Info."]})
        return first

    @extend_schema(
        summary="Send (or resend) a push",
        description="Sends a push naming what is signed to the phone; approving it (with the match number) signs. "
        "A token needs prescriptions:write and epcs:sign.",
        request=SigningPushSerializer,
        responses={200: SigningSessionSerializer, **_errors(400, 403, 404, 409, 429, 503)},
    )
    @action(detail=True, methods=["post"])
    def push(self, request: Request, pk: str | None = None) -> Response:
        ceremony_id = _session_id(pk)
        provider = self._provider()
        ceremony = _ceremony(provider, self.practice, ceremony_id)
        body = SigningPushSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        _require_first_factor(request, body.validated_data.get("password"))
        device_id = body.validated_data.get("device")
        if device_id is not None:
            device = _device(provider, device_id, DeviceKind.PUSH)
            if device is None:
                raise exceptions.ValidationError({"device": ["Choose one of your push notification devices."]})
        else:
            latest = page._latest_challenge(provider, ceremony_id)
            options = [latest.device if latest is not None else None, primary_device(provider)]
            phones = ProviderDevice.objects.filter(provider=provider, kind=DeviceKind.PUSH).order_by("added_at", "id")
            device = next((d for d in options if d is not None and d.kind == DeviceKind.PUSH), None) or phones.first()
            if device is None:
                raise exceptions.ValidationError({"device": ["You have no push notification device."]})
        prescriptions = _ready(request, provider, ceremony)
        _start_two_factor(request, provider, ceremony_id, prescriptions, device)
        return Response(self._represent(provider, ceremony_id))

    @extend_schema(
        summary="Cancel the pending 2FA request",
        description="Cancels the pending code or push request (and the push at ID.me); nothing is signed. The "
        "session stays reviewable: a new code or push may be started, as on the page.",
        request=None,
        responses={200: SigningSessionSerializer, **_errors(404)},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        ceremony_id = _session_id(pk)
        provider = self._provider()
        _ceremony(provider, self.practice, ceremony_id)
        challenge = page._latest_challenge(provider, ceremony_id)
        if challenge is not None and challenge.is_pending:
            challenges.cancel_challenge(challenge, request=request)
        return Response(self._represent(provider, ceremony_id))
